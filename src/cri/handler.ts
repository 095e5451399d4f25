// The shape every CRI verb handler has. Verb files (src/cri/runtime/*.ts,
// src/cri/image/*.ts) export plain async functions of this shape; src/cri/server.ts
// adapts them to grpc-js and maps thrown WorkdErrors to gRPC status in one place.
//
// Messages are the plain objects @grpc/proto-loader produces with
// CRI_LOADER_OPTIONS: snake_case field names as in the .proto, int64 as decimal
// strings (nanosecond timestamps do not fit in a double), enums as their names.

export const CRI_LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
} as const;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type UnaryHandler<Req = any, Res = any> = (request: Req) => Promise<Res>;

/** rpc name (as in the .proto, e.g. `PullImage`) → handler. Methods absent here answer UNIMPLEMENTED. */
export type ServiceHandlers = Readonly<Record<string, UnaryHandler>>;

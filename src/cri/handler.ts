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

/**
 * A server-streaming rpc (e.g. GetContainerEvents): `send` writes one message
 * (false when the client is slow to read); the promise settles when the stream
 * should end (OK) or fail; `signal` aborts when the client goes away.
 */
export interface StreamHandler<Req = any, Res = any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  readonly stream: (request: Req, send: (message: Res) => boolean, signal: AbortSignal) => Promise<void>;
}

/** rpc name (as in the .proto, e.g. `PullImage`) → handler. Methods absent here answer UNIMPLEMENTED. */
export type ServiceHandlers = Readonly<Record<string, UnaryHandler>>;

/** rpc name → handler of a server-streaming rpc. */
export type StreamHandlers = Readonly<Record<string, StreamHandler>>;

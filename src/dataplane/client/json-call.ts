// A unary call with a JSON request and JSON answers, the descriptors coming
// from the server's reflection: what `workd call` and `exec call` both do.
import { fromBinary, fromJson, toBinary, toJson, type JsonValue } from '@bufbuild/protobuf';
import { Code, WorkdError } from '../../errors.js';
import { findMethod, parseMethodName, registryFor } from './reflection.js';
import type { ClientCallOptions, ClientCallResult, GrpcTransport } from './transport.js';

export interface JsonCallResult {
  readonly status: number;
  readonly message: string;
  /** Each response message as JSON. */
  readonly answers: readonly JsonValue[];
  readonly headers: ClientCallResult['headers'];
  readonly trailers: ClientCallResult['trailers'];
}

/** Calls `package.Service/Method` with `jsonText`; bad JSON or a request that does not fit is INVALID_ARGUMENT. */
export async function callJson(transport: GrpcTransport, methodText: string, jsonText: string, opts: ClientCallOptions = {}): Promise<JsonCallResult> {
  const { service, method } = parseMethodName(methodText);
  const registry = await registryFor(transport, service, opts);
  const desc = findMethod(registry, service, method).method;
  if (desc.methodKind !== 'unary') throw new WorkdError(Code.UNIMPLEMENTED, `${service}/${method} is a ${desc.methodKind} method; only unary calls are made this way`);
  let json: JsonValue;
  try {
    json = JSON.parse(jsonText) as JsonValue;
  } catch (err) {
    throw new WorkdError(Code.INVALID_ARGUMENT, `request data is not JSON: ${(err as Error).message}`);
  }
  let request: Uint8Array;
  try {
    request = toBinary(desc.input, fromJson(desc.input, json, { registry }));
  } catch (err) {
    throw new WorkdError(Code.INVALID_ARGUMENT, `request data does not fit ${desc.input.typeName}: ${(err as Error).message}`);
  }
  const r = await transport.call(`/${service}/${method}`, [request], opts);
  return { status: r.status, message: r.message, headers: r.headers, trailers: r.trailers, answers: r.status === 0 ? r.messages.map((m) => toJson(desc.output, fromBinary(desc.output, m), { registry })) : [] };
}

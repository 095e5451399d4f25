// gRPC's mapping of HTTP statuses for a response that carries no grpc-status
// (PROTOCOL-HTTP2 "HTTP to gRPC Status Code Mapping"), for every client transport.
import { Code } from '../../errors.js';

const HTTP_TO_GRPC: Readonly<Record<number, number>> = {
  400: Code.INTERNAL,
  401: Code.UNAUTHENTICATED,
  403: Code.PERMISSION_DENIED,
  404: Code.UNIMPLEMENTED,
  429: Code.UNAVAILABLE,
  502: Code.UNAVAILABLE,
  503: Code.UNAVAILABLE,
  504: Code.UNAVAILABLE,
};

export function httpStatusToCode(status: number): number {
  return HTTP_TO_GRPC[status] ?? Code.UNKNOWN;
}

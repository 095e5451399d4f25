// Methods the node answers itself (health, reflection), in any streaming
// shape. They see decoded, decompressed request messages and send protobuf
// bytes; the gRPC layer frames them and carries the status.
import type { MetadataEntry } from '../../wasm/api.js';

export interface BuiltinCallContext {
  /** The `:authority` host of the request, lowercased, port stripped. */
  readonly domain: string;
  readonly metadata: readonly MetadataEntry[];
  /** Aborted when the client goes away or the deadline passes. */
  readonly signal: AbortSignal;
  /** True once the call has ended (status sent or stream gone). */
  readonly done: boolean;
  send(message: Uint8Array): void;
  finish(code: number, message: string): void;
}

export interface BuiltinStream {
  message(request: Uint8Array): void;
  /** The client finished sending. */
  halfClose(): void;
}

export interface BuiltinMethod {
  start(call: BuiltinCallContext): BuiltinStream;
}

/** Full path (`/grpc.health.v1.Health/Check`) → method. */
export type BuiltinMethods = ReadonlyMap<string, BuiltinMethod>;

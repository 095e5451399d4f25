// A small gRPC client for `workd call` and tests, transport-swappable: the
// HTTP/2 transport is here, HTTP/3 plugs in with the same interface.
import type { MetadataEntry } from '../../wasm/api.js';

export interface ClientCallOptions {
  /** Request metadata (`-bin` keys take bytes). */
  readonly metadata?: readonly MetadataEntry[];
  /** Sent as grpc-timeout; the client also gives up after it. */
  readonly timeoutMs?: number;
  /** Aborting it resets the call's stream (RST_STREAM CANCEL), so the server stops the call too. */
  readonly signal?: AbortSignal;
}

export interface ClientCallResult {
  /** gRPC status code (from trailers, trailers-only headers, or mapped from HTTP status). */
  readonly status: number;
  readonly message: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly trailers: Readonly<Record<string, string | string[] | undefined>>;
  /** Response messages, unframed and decompressed. */
  readonly messages: readonly Uint8Array[];
}

export interface GrpcTransport {
  /** Sends the request messages, half-closes, and collects the whole response. */
  call(path: string, requests: readonly Uint8Array[], opts?: ClientCallOptions): Promise<ClientCallResult>;
  close(): Promise<void>;
}

export interface TransportTarget {
  /** `host:port` or `[v6]:port` to connect to. */
  readonly address: string;
  /** `:authority` to send (defaults to the address). */
  readonly authority?: string;
  /** Cleartext h2c (no TLS). */
  readonly plaintext?: boolean;
  /** TLS without verifying the server's certificate. */
  readonly insecure?: boolean;
  /** Name sent by SNI and checked against the certificate (default: the authority's host). */
  readonly servername?: string;
  /** Extra trusted CA certificate (PEM), e.g. the node's self-signed one. */
  readonly ca?: Buffer;
}

// The transport-free call: what an HTTP/2 or HTTP/3 adapter hands to the one
// gRPC layer (src/dataplane/grpc/), and what that layer answers through.
//
// Push style with callbacks rather than async iterators and promises, because
// the unary hot path should allocate almost nothing per call beyond the
// buffers themselves. The adapter owns the wire (flow control, frames, header
// compression); the handler owns gRPC semantics.
//
// Lifecycle of one request stream, as seen by the handler:
//
//   handler.open(req, res) ──► body.data(chunk)* ──► body.end()
//                         └──────────── body.abort(reason) at any point
//
// and of its response, driven by the handler through `res`:
//
//   sendHeaders ──► sendData* ──► sendTrailers        (normal response)
//   sendTrailersOnly                                   (one HEADERS frame, END_STREAM)
//   reset                                              (at any point; abrupt)
//
// After sendTrailers / sendTrailersOnly / reset, or after body.abort, the
// stream is finished and further calls on `res` are ignored by the adapter.

/**
 * Request headers with lowercase names. Pseudo-headers may be present (node:http2
 * includes them) and are ignored: their values are the fields of
 * UniversalRequest. Shaped like node:http2's
 * IncomingHttpHeaders so the HTTP/2 adapter can pass its object through
 * without copying; repeated fields may arrive as an array or joined with ", ".
 */
export type UniversalHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/** Outgoing header or trailer fields, lowercase names, no pseudo-headers. */
export type OutgoingFields = Record<string, string | readonly string[]>;

export interface UniversalRequest {
  /** HTTP method (`:method`), e.g. `POST`. */
  readonly method: string;
  /** `:authority` exactly as received (may carry a port), or the Host header. */
  readonly authority: string;
  /** `:path`, e.g. `/foo.Bar/AddFloats`. */
  readonly path: string;
  readonly headers: UniversalHeaders;
  /**
   * The same header section as received: flat [name, value, …] in wire order,
   * pseudo-headers included. Custom metadata is read from it (walking a list
   * is cheaper than walking the headers object, a dictionary).
   */
  readonly fields: readonly string[];
  /** `h2`, `h2c` or `h3` (for logs and metrics). */
  readonly protocol: string;
  /** The connection's TLS facts (absent with h2c). */
  readonly tls?: TlsPeer;
}

/** What a call's connection negotiated in its TLS handshake, for per-domain client certificates (certs/store.ts). */
export interface TlsPeer {
  /** The server name (SNI) the client asked for, lower-case; undefined when it sent none. */
  readonly serverName: string | undefined;
  /** The client presented a certificate that the CA of the context chosen for serverName verified. */
  readonly clientVerified: boolean;
  /** Why not, in words, when clientVerified is false. */
  readonly clientError: string | undefined;
}

/** Why a request stream ended early. */
export const AbortReason = {
  /** The peer reset the stream (RST_STREAM / RESET_STREAM, STOP_SENDING). */
  PeerReset: 0,
  /** The connection closed or failed. */
  ConnectionClosed: 1,
  /** The server is shutting down and gave up on the stream. */
  Shutdown: 2,
} as const;
export type AbortReason = (typeof AbortReason)[keyof typeof AbortReason];

/** Body events, pushed by the adapter into the handler. */
export interface UniversalRequestBody {
  /** A chunk of the request body, in order. The chunk may be retained. */
  data(chunk: Uint8Array): void;
  /** The request body is complete (END_STREAM / FIN). */
  end(): void;
  /** The stream is gone: stop work, send nothing more. Called at most once. */
  abort(reason: AbortReason): void;
}

/** What the handler answers through. One per request stream. */
export interface UniversalResponse {
  /** Response headers (HTTP status 200 for gRPC); more data and trailers follow. */
  sendHeaders(status: number, headers: OutgoingFields): void;
  /**
   * A chunk of the response body. Returns false when the adapter's buffer for
   * this stream is above its high-water mark: the handler should wait for
   * onDrain before sending more (streaming responses only; unary ignores it).
   */
  sendData(chunk: Uint8Array): boolean;
  /** Set by the handler to learn when sendData may continue after it returned false. */
  onDrain: (() => void) | null;
  /**
   * Trailers, then END_STREAM. Ends the response. An empty object ends the
   * stream without a trailers frame (plain HTTP error bodies, status not 200).
   */
  sendTrailers(trailers: OutgoingFields): void;
  /** One HEADERS frame with END_STREAM (gRPC "Trailers-Only", or a plain HTTP error). */
  sendTrailersOnly(status: number, headers: OutgoingFields): void;
  /** Abruptly end the stream (RST_STREAM / RESET_STREAM), saying why. */
  reset(reason: ResetReason): void;
}

/** The one gRPC handler both adapters attach to. */
export interface UniversalHandler {
  /**
   * A new request stream. Returns the object the adapter pushes body events
   * into. Must not throw; bad requests are answered through `res`.
   */
  open(req: UniversalRequest, res: UniversalResponse): UniversalRequestBody;
  /** Calls started and not yet answered (for graceful shutdown and load figures). */
  readonly active: number;
}

/**
 * Why the server resets a stream, in no transport's terms: each adapter maps
 * it to its own code (HTTP/2 RST_STREAM codes in http2/adapter.ts, HTTP/3
 * codes in http3/request-stream.ts).
 */
export const ResetReason = {
  /** The answer is complete and the rest of the request is not wanted. */
  Done: 0,
  /** The server gave up on the call (deadline, shutdown). */
  Cancel: 1,
  /** Refused before any processing: the client may retry elsewhere. */
  Refused: 2,
  /** The peer sends more than the server will take. */
  ExcessiveLoad: 3,
  /** The request broke the protocol. */
  Protocol: 4,
  /** The server failed. */
  Internal: 5,
} as const;
export type ResetReason = (typeof ResetReason)[keyof typeof ResetReason];

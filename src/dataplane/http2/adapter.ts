// node:http2 streams → the universal call. The only place that knows how a
// gRPC response maps onto node's stream API (respond / write / end /
// wantTrailers / sendTrailers / close).
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream, ServerStreamResponseOptions } from 'node:http2';
import { AbortReason, type OutgoingFields, type UniversalHandler, type UniversalRequestBody, type UniversalResponse } from '../universal.js';

// ':status' is left out for 200: node fills it in (and copies the object, so shared frozen fields are safe).
// `sendDate` is honoured by node (no Date header: gRPC has no use for it) but missing from its types.
const RESPOND_STREAMING = { waitForTrailers: true, sendDate: false } as ServerStreamResponseOptions;
const RESPOND_PLAIN = { sendDate: false } as ServerStreamResponseOptions;
const RESPOND_END = { endStream: true, sendDate: false } as ServerStreamResponseOptions;

class H2Response implements UniversalResponse {
  onDrain: (() => void) | null = null;
  body: UniversalRequestBody | null = null;
  private trailers: OutgoingFields | null = null;
  private ended = false;

  constructor(private readonly stream: ServerHttp2Stream) {}

  sendHeaders(status: number, headers: OutgoingFields): void {
    if (this.ended || this.stream.headersSent || this.stream.destroyed) return;
    const h = (status === 200 ? headers : { ...headers, ':status': status }) as OutgoingHttpHeaders;
    // gRPC answers (200) carry trailers; plain HTTP errors end with their body.
    this.stream.respond(h, status === 200 ? RESPOND_STREAMING : RESPOND_PLAIN);
    if (status === 200) this.stream.once('wantTrailers', () => this.flushTrailers());
  }

  sendData(chunk: Uint8Array): boolean {
    if (this.ended || this.stream.destroyed) return false;
    return this.stream.write(chunk);
  }

  sendTrailers(trailers: OutgoingFields): void {
    if (this.ended) return;
    this.ended = true;
    this.trailers = trailers;
    if (!this.stream.destroyed) this.stream.end();
  }

  sendTrailersOnly(status: number, headers: OutgoingFields): void {
    if (this.ended) return;
    this.ended = true;
    const s = this.stream;
    if (s.destroyed || s.headersSent) return;
    s.respond((status === 200 ? headers : { ...headers, ':status': status }) as OutgoingHttpHeaders, RESPOND_END);
  }

  reset(code: number): void {
    this.ended = true;
    if (!this.stream.destroyed) this.stream.close(code);
  }

  private flushTrailers(): void {
    const t = this.trailers;
    this.trailers = null;
    if (this.stream.destroyed) return;
    if (t !== null && Object.keys(t).length > 0) this.stream.sendTrailers(t as OutgoingHttpHeaders);
    else this.stream.close();
  }

  onData = (chunk: Buffer): void => {
    this.body!.data(chunk);
  };
  onEnd = (): void => {
    this.body!.end();
  };
  onClose = (): void => {
    // Fires after every stream; a call already answered ignores it.
    const reason = this.stream.rstCode === 0 || this.stream.rstCode === undefined ? AbortReason.ConnectionClosed : AbortReason.PeerReset;
    this.body!.abort(reason);
  };
  onWritableDrain = (): void => {
    this.onDrain?.();
  };
}

function ignore(): void {}

/** Attaches the handler to one incoming stream. */
export function serveStream(handler: UniversalHandler, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, protocol: string): void {
  const res = new H2Response(stream);
  // A stream error (peer reset mid-write, session torn down) must not reach the process.
  stream.on('error', ignore);
  const body = handler.open(
    {
      method: headers[':method'] ?? '',
      authority: headers[':authority'] ?? headers.host ?? '',
      path: headers[':path'] ?? '',
      headers,
      protocol,
    },
    res,
  );
  res.body = body;
  stream.on('data', res.onData);
  stream.on('end', res.onEnd);
  stream.on('close', res.onClose);
  stream.on('drain', res.onWritableDrain);
}

// node:http2 streams → the universal call. The only place that knows how a
// gRPC response maps onto node's stream API (respond / write / end /
// wantTrailers / sendTrailers / close).
//
// Per stream this allocates one H2Response and registers shared listener
// functions (no closures): the stream finds its response through a symbol.
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream, ServerStreamResponseOptions } from 'node:http2';
import { AbortReason, type OutgoingFields, type UniversalHandler, type UniversalRequestBody, type UniversalResponse } from '../universal.js';

// ':status' is left out for 200: node fills it in (and copies the object, so shared frozen fields are safe).
// `sendDate` is honoured by node (no Date header: gRPC has no use for it) but missing from its types.
const RESPOND_STREAMING = { waitForTrailers: true, sendDate: false } as ServerStreamResponseOptions;
const RESPOND_PLAIN = { sendDate: false } as ServerStreamResponseOptions;
const RESPOND_END = { endStream: true, sendDate: false } as ServerStreamResponseOptions;

const kRes = Symbol('workd.h2response');
type Stream = ServerHttp2Stream & { [kRes]: H2Response };

class H2Response implements UniversalResponse {
  onDrain: (() => void) | null = null;
  body: UniversalRequestBody | null = null;
  trailers: OutgoingFields | null = null;
  private ended = false;
  private drainHooked = false;

  constructor(private readonly stream: ServerHttp2Stream) {}

  sendHeaders(status: number, headers: OutgoingFields): void {
    const s = this.stream;
    if (this.ended || s.headersSent || s.destroyed) return;
    if (status === 200) {
      // gRPC answers carry trailers.
      s.respond(headers as OutgoingHttpHeaders, RESPOND_STREAMING);
      // 'on', not 'once': it fires at most once per stream, and 'once' allocates a wrapper.
      s.on('wantTrailers', onWantTrailers);
    } else {
      // Plain HTTP errors end with their body.
      s.respond({ ...headers, ':status': status } as OutgoingHttpHeaders, RESPOND_PLAIN);
    }
  }

  sendData(chunk: Uint8Array): boolean {
    const s = this.stream;
    if (this.ended || s.destroyed) return false;
    const ok = s.write(chunk);
    if (!ok && !this.drainHooked) {
      this.drainHooked = true;
      s.on('drain', onDrain);
    }
    return ok;
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
}

function onWantTrailers(this: Stream): void {
  const res = this[kRes];
  const t = res.trailers;
  res.trailers = null;
  if (this.destroyed) return;
  if (t !== null && Object.keys(t).length > 0) this.sendTrailers(t as OutgoingHttpHeaders);
  else this.close();
}

function onData(this: Stream, chunk: Buffer): void {
  this[kRes].body!.data(chunk);
}

function onEnd(this: Stream): void {
  this[kRes].body!.end();
}

function onClose(this: Stream): void {
  // Fires after every stream; a call already answered ignores it.
  const code = this.rstCode;
  this[kRes].body!.abort(code === 0 || code === undefined ? AbortReason.ConnectionClosed : AbortReason.PeerReset);
}

function onDrain(this: Stream): void {
  this[kRes].onDrain?.();
}

// A stream error (peer reset mid-write, session torn down) must not reach the process.
function onError(): void {}

/** Attaches the handler to one incoming stream. */
export function serveStream(handler: UniversalHandler, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, protocol: string): void {
  const res = new H2Response(stream);
  (stream as Stream)[kRes] = res;
  stream.on('error', onError);
  res.body = handler.open(
    {
      method: headers[':method'] ?? '',
      authority: headers[':authority'] ?? headers.host ?? '',
      path: headers[':path'] ?? '',
      headers,
      protocol,
    },
    res,
  );
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.on('close', onClose);
}

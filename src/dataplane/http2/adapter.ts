// node:http2 streams → the universal call. The only place that knows how a
// gRPC response maps onto node's stream API (respond / write / end /
// wantTrailers / sendTrailers / close).
//
// Per stream this allocates one H2Response and registers shared listener
// functions (no closures): the stream finds its response through a symbol.
//
// A stream can be gone before the gRPC layer answers it: the peer reset it
// (RST_STREAM with NO_ERROR ends its readable side first, so the layer answers
// a truncated message on a stream node has already closed) or dropped the
// connection. node throws ERR_HTTP2_INVALID_STREAM from respond() and
// sendTrailers() on a closed stream, so every write checks `closed` as well as
// `destroyed`. Whatever still throws inside a stream's callbacks (a bug of
// ours) is caught here and ends that stream's connection only: nothing one
// peer does may reach the process.
import { constants as http2constants, type IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream, ServerStreamResponseOptions } from 'node:http2';
import type { Logger } from '../../observability/log.js';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { AbortReason, ResetReason, type OutgoingFields, type TlsPeer, type UniversalHandler, type UniversalRequestBody, type UniversalResponse } from '../universal.js';

// ':status' is left out for 200: node fills it in (and copies the object, so shared frozen fields are safe).
// `sendDate` is honoured by node (no Date header: gRPC has no use for it) but missing from its types.
const RESPOND_STREAMING = { waitForTrailers: true, sendDate: false } as ServerStreamResponseOptions;
const RESPOND_PLAIN = { sendDate: false } as ServerStreamResponseOptions;
const RESPOND_END = { endStream: true, sendDate: false } as ServerStreamResponseOptions;

/** The gRPC layer's reset reasons as HTTP/2 RST_STREAM codes (RFC 9113 §7). */
const H2_RESET_CODES: Readonly<Record<ResetReason, number>> = {
  [ResetReason.Done]: http2constants.NGHTTP2_NO_ERROR,
  [ResetReason.Cancel]: http2constants.NGHTTP2_CANCEL,
  [ResetReason.Refused]: http2constants.NGHTTP2_REFUSED_STREAM,
  [ResetReason.ExcessiveLoad]: http2constants.NGHTTP2_ENHANCE_YOUR_CALM,
  [ResetReason.Protocol]: http2constants.NGHTTP2_PROTOCOL_ERROR,
  [ResetReason.Internal]: http2constants.NGHTTP2_INTERNAL_ERROR,
};

const kRes = Symbol('workd.h2response');
type Stream = ServerHttp2Stream & { [kRes]: H2Response };
/** Calls of a session not yet answered or aborted (a number on the session: no allocation per stream). */
const kOpen = Symbol('workd.h2open');
/** Streams a session has started, ever (what tells an idle session from one that came and went between two looks). */
const kStarted = Symbol('workd.h2started');
const kTls = Symbol('workd.h2tls');
type CountedSession = { [kOpen]?: number; [kStarted]?: number; [kTls]?: TlsPeer | null };

/** Calls on `session` that are neither answered nor aborted yet. */
export function openStreams(session: object): number {
  return (session as CountedSession)[kOpen] ?? 0;
}

/** Streams `session` has started so far. */
export function startedStreams(session: object): number {
  return (session as CountedSession)[kStarted] ?? 0;
}

/** What the streams of one listener share. */
export interface StreamContext {
  readonly handler: UniversalHandler;
  /** `h2` or `h2c`. */
  readonly protocol: string;
  readonly log: Logger;
}

/** True while node still lets us respond on or write to the stream. */
function open(s: ServerHttp2Stream): boolean {
  return !s.destroyed && !s.closed;
}

/** Something threw while serving `stream`: log it and end its connection, and only that one. */
function contain(ctx: StreamContext, stream: ServerHttp2Stream, err: unknown): void {
  ctx.log.error({ err, stream: stream.id }, 'http2: a stream callback threw; closing its connection');
  try {
    stream.session?.destroy();
  } catch {
    stream.destroy();
  }
}

class H2Response implements UniversalResponse {
  onDrain: (() => void) | null = null;
  body: UniversalRequestBody | null = null;
  trailers: OutgoingFields | null = null;
  /** The stream's session while the call counts as open there. */
  session: CountedSession | undefined = undefined;
  private ended = false;
  private drainHooked = false;

  constructor(
    readonly ctx: StreamContext,
    private readonly stream: ServerHttp2Stream,
  ) {}

  /** The call is answered or gone: it leaves its session's count of open calls (once). */
  release(): void {
    const session = this.session;
    if (session === undefined) return;
    this.session = undefined;
    session[kOpen] = (session[kOpen] ?? 1) - 1;
  }

  // The gRPC layer calls these from its own callbacks (timers, guest answers,
  // decompression): each one contains what the stream throws.

  sendHeaders(status: number, headers: OutgoingFields): void {
    const s = this.stream;
    if (this.ended || s.headersSent || !open(s)) return;
    try {
      if (status === 200) {
        // gRPC answers carry trailers.
        s.respond(headers as OutgoingHttpHeaders, RESPOND_STREAMING);
        // 'on', not 'once': it fires at most once per stream, and 'once' allocates a wrapper.
        s.on('wantTrailers', onWantTrailers);
      } else {
        // Plain HTTP errors end with their body.
        s.respond({ ...headers, ':status': status } as OutgoingHttpHeaders, RESPOND_PLAIN);
      }
    } catch (err) {
      this.ended = true;
      contain(this.ctx, s, err);
    }
  }

  sendData(chunk: Uint8Array): boolean {
    const s = this.stream;
    if (this.ended || !open(s)) return false;
    try {
      const ok = s.write(chunk);
      if (!ok && !this.drainHooked) {
        this.drainHooked = true;
        s.on('drain', onDrain);
      }
      return ok;
    } catch (err) {
      this.ended = true;
      contain(this.ctx, s, err);
      return false;
    }
  }

  sendTrailers(trailers: OutgoingFields): void {
    if (this.ended) return;
    this.ended = true;
    this.release();
    this.trailers = trailers;
    const s = this.stream;
    if (!open(s)) return;
    try {
      s.end();
    } catch (err) {
      contain(this.ctx, s, err);
    }
  }

  sendTrailersOnly(status: number, headers: OutgoingFields): void {
    if (this.ended) return;
    this.ended = true;
    this.release();
    const s = this.stream;
    if (!open(s) || s.headersSent) return;
    try {
      s.respond((status === 200 ? headers : { ...headers, ':status': status }) as OutgoingHttpHeaders, RESPOND_END);
    } catch (err) {
      contain(this.ctx, s, err);
    }
  }

  reset(reason: ResetReason): void {
    this.ended = true;
    this.release();
    const s = this.stream;
    if (!open(s)) return;
    try {
      s.close(H2_RESET_CODES[reason] ?? http2constants.NGHTTP2_INTERNAL_ERROR);
    } catch (err) {
      contain(this.ctx, s, err);
    }
  }
}

// Node's stream events. Each catches what the gRPC layer throws for its stream.

function onWantTrailers(this: Stream): void {
  const res = this[kRes];
  const t = res.trailers;
  res.trailers = null;
  if (!open(this)) return;
  try {
    if (t !== null && hasFields(t)) this.sendTrailers(t as OutgoingHttpHeaders);
    else this.close();
  } catch (err) {
    contain(res.ctx, this, err);
  }
}

function onData(this: Stream, chunk: Buffer): void {
  const res = this[kRes];
  try {
    res.body!.data(chunk);
  } catch (err) {
    contain(res.ctx, this, err);
  }
}

function onEnd(this: Stream): void {
  const res = this[kRes];
  try {
    res.body!.end();
  } catch (err) {
    contain(res.ctx, this, err);
  }
}

function hasFields(f: OutgoingFields): boolean {
  for (const _ in f) return true;
  return false;
}

// node emits 'aborted' when a stream closes (peer reset, connection gone, our own reset) before its writable side
// ended, that is before the call was answered: unlike 'close', answered calls never see it.
function onAborted(this: Stream): void {
  const res = this[kRes];
  res.release();
  const code = this.rstCode;
  try {
    res.body!.abort(code === 0 || code === undefined ? AbortReason.ConnectionClosed : AbortReason.PeerReset);
  } catch (err) {
    contain(res.ctx, this, err);
  }
}

function onDrain(this: Stream): void {
  const res = this[kRes];
  try {
    res.onDrain?.();
  } catch (err) {
    contain(res.ctx, this, err);
  }
}

// A stream error (peer reset mid-write, session torn down) must not reach the process.
function onError(): void {}

const IGNORE_BODY: UniversalRequestBody = { data() {}, end() {}, abort() {} };

type StreamListener = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

/** A server's 'stream' listener serving `ctx`. node passes the flat raw headers fourth (documented; its types stop at flags). */
export function streamListener(ctx: StreamContext): StreamListener {
  return ((stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: readonly string[]) => serveStream(ctx, stream, headers, rawHeaders)) as StreamListener;
}

/** Attaches the handler to one incoming stream (`rawHeaders`: the same headers as node's flat [name, value, …] list). */
function serveStream(ctx: StreamContext, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: readonly string[]): void {
  const res = new H2Response(ctx, stream);
  (stream as Stream)[kRes] = res;
  const session = stream.session as CountedSession | undefined;
  res.session = session;
  if (session !== undefined) {
    session[kOpen] = (session[kOpen] ?? 0) + 1;
    session[kStarted] = (session[kStarted] ?? 0) + 1;
  }
  stream.on('error', onError);
  stream.on('aborted', onAborted);
  try {
    res.body = ctx.handler.open(
      {
        method: headers[':method'] ?? '',
        authority: headers[':authority'] ?? headers.host ?? '',
        path: headers[':path'] ?? '',
        headers,
        fields: rawHeaders,
        protocol: ctx.protocol,
        tls: session === undefined ? undefined : tlsOf(session, stream),
      },
      res,
    );
  } catch (err) {
    res.body = IGNORE_BODY;
    contain(ctx, stream, err);
    return;
  }
  stream.on('data', onData);
  stream.on('end', onEnd);
}

function tlsOf(session: CountedSession, stream: ServerHttp2Stream): TlsPeer | undefined {
  let t = session[kTls];
  if (t === undefined) t = session[kTls] = tlsPeerOf(stream.session!.socket);
  return t ?? undefined;
}

/** A session's TLS facts, read once per session; null for h2c. */
function tlsPeerOf(socket: Socket | TLSSocket): TlsPeer | null {
  const t = socket as TLSSocket;
  if (t.encrypted !== true) return null;
  const serverName = typeof t.servername === 'string' && t.servername !== '' ? t.servername.toLowerCase() : undefined;
  if (t.authorized) return { serverName, clientVerified: true, clientError: undefined };
  const cert = t.getPeerCertificate();
  const none = cert === null || cert === undefined || Object.keys(cert).length === 0;
  return { serverName, clientVerified: false, clientError: none ? 'the client presented no certificate' : `its certificate was refused (${String(t.authorizationError)})` };
}

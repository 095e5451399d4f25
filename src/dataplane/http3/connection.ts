// The server side of HTTP/3 on one QUIC connection (RFC 9114): our control
// stream, the peer's control and QPACK streams (control.ts), and one
// RequestStream per client-initiated bidirectional stream, each handed to the
// shared gRPC layer through the transport-free interface (../universal.ts).
//
// Request stream states (RFC 9114 §4.1):
//
//   Head ──HEADERS──► Body ──DATA*──► Body ──HEADERS (trailers)──► Trailers
//     │                 │                                             │
//     └──── FIN ────────┴────────────── FIN: body.end() ──────────────┘
//   FIN in Head: H3_REQUEST_INCOMPLETE.  Any frame out of this order:
//   H3_FRAME_UNEXPECTED (connection).  Peer reset: body.abort(PeerReset).
//
// Errors: H3Error with scope 'stream' resets the one stream; scope
// 'connection' closes the connection with the code (RFC 9114 §8).
import type { Logger } from '../../observability/log.js';
import { AbortReason, ResetCode, type OutgoingFields, type UniversalHandler, type UniversalRequestBody, type UniversalResponse } from '../universal.js';
import { openLocalStreams, PeerStreams, sendGoaway } from './control.js';
import { connectionError, H3Code, H3Error, h3CodeName, streamError } from './errors.js';
import { encodeFrame, FrameReader, frameHeader, FrameType, Setting, type FrameSink } from './frames.js';
import { checkTrailers, requestHead } from './message.js';
import { decodeFieldSectionShared, FieldSectionTooLargeError } from './qpack/decoder.js';
import { writeFieldLine, writeSectionPrefix } from './qpack/encoder.js';
import { QpackWriter } from './qpack/primitives.js';
import type { QuicConnection, QuicStream } from './quic/transport.js';
import { varintLength, writeVarint } from './varint.js';
import { IdMap } from '../../util/id-map.js';
import { DEFAULT_LIMITS, type Limits } from '../../limits.js';

/** The limits one HTTP/3 connection enforces (src/limits.ts). */
export type Http3Limits = Pick<Limits, 'http3MaxFieldSectionSize' | 'http3MaxConcurrentRequests' | 'http3MaxControlFrameBytes' | 'http3ResponseBufferBytes'>;

export interface Http3ConnectionOptions {
  readonly handler: UniversalHandler;
  readonly limits?: Http3Limits;
  readonly log?: Logger;
}

/** HTTP/2 reset codes (what the gRPC layer speaks) → HTTP/3 codes. */
function h3ResetCode(h2: number): number {
  switch (h2) {
    case ResetCode.NO_ERROR:
      return H3Code.H3_NO_ERROR;
    case ResetCode.CANCEL:
      return H3Code.H3_REQUEST_CANCELLED;
    case ResetCode.ENHANCE_YOUR_CALM:
      return H3Code.H3_EXCESSIVE_LOAD;
    case 0x7: // REFUSED_STREAM
      return H3Code.H3_REQUEST_REJECTED;
    case ResetCode.PROTOCOL_ERROR:
      return H3Code.H3_GENERAL_PROTOCOL_ERROR;
    default:
      return H3Code.H3_INTERNAL_ERROR;
  }
}

const NOOP_BODY: UniversalRequestBody = { data() {}, end() {}, abort() {} };
// Below this, a response's frames are joined into one write so a unary answer leaves in one packet.
const COALESCE_BYTES = 16 * 1024;

const enum RequestState {
  Head,
  Body,
  Trailers,
  /** Answered early (431), reset, or failed: further input is dropped. */
  Dead,
}

class RequestStream implements FrameSink, UniversalResponse {
  onDrain: (() => void) | null = null;
  private state = RequestState.Head;
  private body: UniversalRequestBody = NOOP_BODY;
  private opened = false;
  private readonly reader: FrameReader;
  /** Response side: headers sent, finished (FIN or reset). */
  private headersSent = false;
  private ended = false;
  /** Queued answer bytes; a number stands for a DATA frame header of that payload length. */
  private out: (Uint8Array | number)[] = [];
  private outBytes = 0;
  private outFin = false;
  private flushQueued = false;
  private contentLength = -1;
  private received = 0;

  constructor(
    private readonly conn: Http3ServerConnection,
    readonly stream: QuicStream,
  ) {
    this.reader = new FrameReader(this);
    stream.onData = (chunk, fin) => this.onData(chunk, fin);
    stream.onReset = (code) => this.onPeerReset(code);
  }

  // ── request side ──

  private onData(chunk: Uint8Array, fin: boolean): void {
    if (this.state === RequestState.Dead) return;
    try {
      if (chunk.length > 0) this.reader.push(chunk);
      if (fin && (this.state as RequestState) !== RequestState.Dead) this.onFin();
    } catch (e) {
      this.conn.streamFailed(this, e);
    }
  }

  private onFin(): void {
    if (!this.reader.atBoundary) throw connectionError(H3Code.H3_FRAME_ERROR, 'request stream ended inside a frame');
    if (this.state === RequestState.Head) throw streamError(H3Code.H3_REQUEST_INCOMPLETE, 'request stream ended before its HEADERS frame');
    if (this.contentLength >= 0 && this.received !== this.contentLength) {
      throw streamError(H3Code.H3_MESSAGE_ERROR, `malformed request: content-length ${this.contentLength} but ${this.received} body bytes`);
    }
    this.state = RequestState.Dead;
    this.conn.requestDone(this, false);
    this.body.end();
  }

  frameStart(type: number, length: number): boolean {
    // Answered early (431) or failed: the frames behind it in the same chunk are not wanted either.
    if (this.state === RequestState.Dead) return false;
    switch (type) {
      case FrameType.HEADERS:
        if (this.state === RequestState.Trailers) throw connectionError(H3Code.H3_FRAME_UNEXPECTED, 'a HEADERS frame after the trailers');
        if (length > this.conn.maxFieldSectionSize) {
          // Too large to be worth buffering: refuse it (RFC 9114 §4.2.2) without reading it.
          this.refuseTooLarge();
          return false;
        }
        return true;
      case FrameType.DATA:
        if (this.state !== RequestState.Body) {
          throw connectionError(H3Code.H3_FRAME_UNEXPECTED, this.state === RequestState.Head ? 'a DATA frame before the HEADERS frame' : 'a DATA frame after the trailers');
        }
        return true;
      default:
        throw connectionError(H3Code.H3_FRAME_UNEXPECTED, `frame type 0x${type.toString(16)} is not allowed on a request stream`);
    }
  }

  data(chunk: Uint8Array): void {
    this.received += chunk.length;
    if (this.contentLength >= 0 && this.received > this.contentLength) {
      throw streamError(H3Code.H3_MESSAGE_ERROR, `malformed request: more body than content-length ${this.contentLength}`);
    }
    this.body.data(chunk);
  }

  frame(type: number, payload: Uint8Array): void {
    if (type !== FrameType.HEADERS || this.state === RequestState.Dead) return;
    let fields: readonly string[];
    try {
      fields = decodeFieldSectionShared(payload, this.conn.maxFieldSectionSize);
    } catch (e) {
      if (e instanceof FieldSectionTooLargeError) return this.refuseTooLarge();
      throw e;
    }
    if (this.state === RequestState.Body) {
      checkTrailers(fields);
      this.state = RequestState.Trailers;
      return;
    }
    const head = requestHead(fields);
    this.contentLength = head.contentLength;
    this.state = RequestState.Body;
    this.opened = true;
    this.body = this.conn.handler.open(
      { method: head.method, authority: head.authority, path: head.path, headers: head.headers, protocol: 'h3' },
      this,
    );
  }

  private refuseTooLarge(): void {
    const live = this.callLive;
    this.state = RequestState.Dead;
    if (!this.headersSent && !this.ended) {
      this.queue(headersFrame(431, null, ['content-type', 'text/plain; charset=utf-8']), false);
      const text = Buffer.from(`request field section larger than ${this.conn.maxFieldSectionSize} bytes\n`);
      this.queue(frameHeader(FrameType.DATA, text.length), false);
      this.queue(text, true);
      this.ended = true;
    }
    // We have answered; the rest of the request is not wanted (RFC 9114 §4.1.2).
    this.stream.stopSending(H3Code.H3_NO_ERROR);
    if (live) this.body.abort(AbortReason.PeerReset);
    this.conn.requestDone(this, true);
  }

  /** The handler still expects body events or has not answered: it must hear of an abort. */
  private get callLive(): boolean {
    return this.opened && (this.state !== RequestState.Dead || !this.ended);
  }

  private onPeerReset(code: number): void {
    const live = this.callLive;
    this.state = RequestState.Dead;
    if (!this.ended) {
      this.ended = true;
      this.out = [];
      this.stream.reset(H3Code.H3_REQUEST_CANCELLED);
    }
    this.conn.requestDone(this, true);
    if (live) this.body.abort(AbortReason.PeerReset);
    this.conn.log?.debug({ stream: this.stream.id, code: h3CodeName(code) }, 'http3 request stream reset by peer');
  }

  /** Stream error: reset both directions with `code`, stop the call. */
  failStream(code: number): void {
    const open = this.callLive;
    this.state = RequestState.Dead;
    if (!this.ended) {
      this.ended = true;
      this.out = [];
      this.stream.reset(code);
    }
    this.stream.stopSending(code);
    this.conn.requestDone(this, true);
    if (open) this.body.abort(AbortReason.PeerReset);
  }

  /** The connection is going away under this request. */
  abortForConnection(reason: AbortReason): void {
    const open = this.callLive;
    this.state = RequestState.Dead;
    this.ended = true;
    this.out = [];
    if (open) this.body.abort(reason);
  }

  // ── response side (UniversalResponse) ──

  sendHeaders(status: number, headers: OutgoingFields): void {
    if (this.ended || this.headersSent) return;
    this.headersSent = true;
    this.queue(sharedHeadersFrame(status, headers), false);
  }

  sendData(chunk: Uint8Array): boolean {
    if (this.ended) return false;
    // The DATA frame header is written by flush(), straight into the joined answer.
    this.out.push(chunk.length);
    this.outBytes += 1 + varintLength(chunk.length);
    this.queue(chunk, false);
    if (this.stream.bufferedBytes < this.conn.responseBufferBytes) return true;
    // Only a backlog inside QUIC waits for the peer; its onWritable fires when it is all taken.
    // It runs inside the QUIC loop: a throwing writer fails this stream, not the connection.
    this.stream.onWritable ??= () => {
      try {
        this.onDrain?.();
      } catch (e) {
        this.conn.streamFailed(this, e);
      }
    };
    return false;
  }

  sendTrailers(trailers: OutgoingFields): void {
    if (this.ended) return;
    this.ended = true;
    let any = false;
    for (const _ in trailers) {
      any = true;
      break;
    }
    this.queue(any ? sharedHeadersFrame(0, trailers) : EMPTY, true);
    this.conn.responseDone(this);
  }

  sendTrailersOnly(status: number, headers: OutgoingFields): void {
    if (this.ended || this.headersSent) return;
    this.ended = true;
    this.headersSent = true;
    this.queue(headersFrame(status, headers), true);
    this.conn.responseDone(this);
  }

  reset(code: number): void {
    if (this.ended) return;
    this.ended = true;
    this.out = [];
    const h3 = h3ResetCode(code);
    this.stream.reset(h3);
    if (this.state !== RequestState.Dead) {
      this.state = RequestState.Dead;
      this.stream.stopSending(h3);
    }
    this.conn.responseDone(this);
  }

  get finished(): boolean {
    return this.ended && this.state === RequestState.Dead;
  }

  /** Output is gathered for one microtask, so headers, message and trailers of a unary answer go out in one write. */
  private queue(bytes: Uint8Array, fin: boolean): void {
    this.out.push(bytes);
    this.outBytes += bytes.length;
    if (fin) this.outFin = true;
    if (this.outBytes >= COALESCE_BYTES) return this.flushBound();
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushBound);
    }
  }

  // Runs as a microtask or inside the gRPC layer's callbacks (timers, guest answers), outside
  // the QUIC loop's guard: what it throws ends this connection only.
  private readonly flushBound = (): void => {
    try {
      this.flush();
    } catch (e) {
      this.conn.contain(e);
    }
  };

  private flush(): void {
    this.flushQueued = false;
    const out = this.out;
    if (out.length === 0) return;
    const fin = this.outFin;
    this.outFin = false;
    const total = this.outBytes;
    this.outBytes = 0;
    if (total < COALESCE_BYTES && out.length > 1) {
      const joined = Buffer.allocUnsafe(total);
      let pos = 0;
      for (let i = 0; i < out.length; i++) {
        const part = out[i]!;
        if (typeof part === 'number') {
          joined[pos++] = FrameType.DATA;
          pos = writeVarint(joined, pos, part);
        } else {
          joined.set(part, pos);
          pos += part.length;
        }
      }
      out.length = 0;
      return this.stream.write(joined, fin);
    }
    // One part, or too much to copy: each goes as it is (the transport keeps what it cannot send yet).
    const parts = out.map((p) => (typeof p === 'number' ? frameHeader(FrameType.DATA, p) : p));
    out.length = 0;
    for (let i = 0; i < parts.length; i++) this.stream.write(parts[i]!, fin && i === parts.length - 1);
  }
}

const EMPTY = new Uint8Array(0);

/** Encoded HEADERS frames of frozen field sets, by status. */
const frozenFrames = new WeakMap<OutgoingFields, { status: number; frame: Uint8Array }>();

/**
 * The gRPC layer answers almost every call with the same frozen field sets
 * (response headers per encoding, `grpc-status: 0` trailers); with no QPACK
 * dynamic table their encoding never changes, so it is done once. Frames are
 * never mutated after they are written, so one buffer serves every stream.
 */
function sharedHeadersFrame(status: number, fields: OutgoingFields): Uint8Array {
  if (!Object.isFrozen(fields)) return headersFrame(status, fields);
  const hit = frozenFrames.get(fields);
  if (hit !== undefined && hit.status === status) return hit.frame;
  const frame = headersFrame(status, fields);
  frozenFrames.set(fields, { status, frame });
  return frame;
}

/**
 * A whole HEADERS frame in one buffer: the field section is written after 3
 * reserved bytes, then the frame header is filled in before it (no copy for
 * sections under 16 KiB).
 */
function headersFrame(status: number, fields: OutgoingFields | null, flat?: readonly string[]): Uint8Array {
  const w = new QpackWriter(256);
  w.pos = 3;
  writeSectionPrefix(w);
  if (status > 0) writeFieldLine(w, ':status', statusText(status));
  if (fields) {
    for (const name in fields) {
      const v = fields[name]!;
      if (typeof v === 'string') writeFieldLine(w, name, v);
      else for (const one of v) writeFieldLine(w, name, one);
    }
  }
  if (flat) for (let i = 0; i < flat.length; i += 2) writeFieldLine(w, flat[i]!, flat[i + 1]!);
  const len = w.pos - 3;
  const buf = w.buf;
  if (len < 0x40) {
    buf[1] = FrameType.HEADERS;
    buf[2] = len;
    return buf.subarray(1, w.pos);
  }
  if (len < 0x4000) {
    buf[0] = FrameType.HEADERS;
    buf[1] = 0x40 | (len >> 8);
    buf[2] = len & 0xff;
    return buf.subarray(0, w.pos);
  }
  return encodeFrame(FrameType.HEADERS, buf.subarray(3, w.pos));
}

const statusTexts = new Map<number, string>();
function statusText(status: number): string {
  let t = statusTexts.get(status);
  if (t === undefined) statusTexts.set(status, (t = String(status)));
  return t;
}

export class Http3ServerConnection {
  readonly handler: UniversalHandler;
  readonly log: Logger | undefined;
  readonly maxFieldSectionSize: number;
  /** A response backlog (bytes QUIC has not taken yet) past which sendData() asks the writer to wait for onDrain. */
  readonly responseBufferBytes: number;
  private readonly maxRequests: number;
  /** By stream ID (an IdMap, not a Set: see util/id-map.ts). */
  private readonly requests = new IdMap<RequestStream>();
  private readonly control: QuicStream;
  private readonly peer: PeerStreams;
  /** Client bidi streams with IDs at or above this are refused (after our GOAWAY). */
  private goawayId = Infinity;
  private nextStreamId = 0;
  private closedFlag = false;
  private drained: (() => void) | null = null;
  private peerClosed: (() => void) | null = null;
  /** The peer's SETTINGS, once received. */
  peerSettings: Map<number, number> | null = null;
  /** Called once when the connection is gone, whatever the cause. */
  onClosed: (() => void) | null = null;

  constructor(
    readonly quic: QuicConnection,
    opts: Http3ConnectionOptions,
  ) {
    this.handler = opts.handler;
    this.log = opts.log;
    const limits = opts.limits ?? DEFAULT_LIMITS;
    this.maxFieldSectionSize = limits.http3MaxFieldSectionSize;
    this.maxRequests = limits.http3MaxConcurrentRequests;
    this.responseBufferBytes = limits.http3ResponseBufferBytes;
    this.peer = new PeerStreams('server', {
      settings: (s) => {
        this.peerSettings = s;
      },
      goaway: () => {
        // A client's GOAWAY limits pushes; we never push.
      },
      error: (e) => this.fail(e),
    }, limits.http3MaxControlFrameBytes);
    quic.onStream = (s) => this.onStream(s);
    quic.onClose = (code, reason) => this.onQuicClose(code, reason);
    this.control = openLocalStreams(quic, this.maxFieldSectionSize);
  }

  get activeRequests(): number {
    return this.requests.size;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** The largest field section the peer takes, if it said (we keep our responses small regardless). */
  get peerMaxFieldSectionSize(): number {
    return this.peerSettings?.get(Setting.MAX_FIELD_SECTION_SIZE) ?? Infinity;
  }

  private onStream(stream: QuicStream): void {
    if (this.closedFlag) return;
    if (!stream.bidirectional) {
      this.peer.accept(stream);
      return;
    }
    if (!stream.peerInitiated || stream.id % 4 !== 0) {
      // Servers never receive server-initiated bidi streams; HTTP/3 has no use for them either way.
      this.fail(connectionError(H3Code.H3_STREAM_CREATION_ERROR, `unexpected bidirectional stream ${stream.id}`));
      return;
    }
    if (stream.id >= this.nextStreamId) this.nextStreamId = stream.id + 4;
    if (stream.id >= this.goawayId || this.requests.size >= this.maxRequests) {
      // Not processed at all, so the client may retry it elsewhere (RFC 9114 §4.1.1).
      stream.onData = null;
      stream.onReset = null;
      stream.reset(H3Code.H3_REQUEST_REJECTED);
      stream.stopSending(H3Code.H3_REQUEST_REJECTED);
      return;
    }
    this.requests.set(stream.id, new RequestStream(this, stream));
  }

  /** The request side finished (FIN) or was abandoned; `gone` when nothing more will be sent either. */
  requestDone(r: RequestStream, gone: boolean): void {
    if (gone || r.finished) this.forget(r);
  }

  /** The answer is complete: the request side no longer matters for accounting or shutdown. */
  responseDone(r: RequestStream): void {
    this.forget(r);
  }

  private forget(r: RequestStream): void {
    const id = r.stream.id;
    if (this.requests.get(id) !== r) return;
    this.requests.delete(id);
    if (this.requests.size === 0 && this.drained) this.drained();
  }

  /** An error while handling one request stream. */
  streamFailed(r: RequestStream, e: unknown): void {
    if (e instanceof H3Error && e.scope === 'stream') {
      this.log?.debug({ stream: r.stream.id, code: h3CodeName(e.code), err: e.message }, 'http3 stream error');
      r.failStream(e.code);
      return;
    }
    if (e instanceof H3Error) return this.fail(e);
    // A bug of ours, not the peer's fault: lose only this stream.
    this.log?.error({ stream: r.stream.id, err: e }, 'http3 request stream failed');
    r.failStream(H3Code.H3_INTERNAL_ERROR);
  }

  /**
   * Something threw outside the QUIC loop's own guard (a response flushed from
   * a microtask): a bug of ours, not the peer's fault, but it ends this
   * connection only.
   */
  contain(e: unknown): void {
    this.log?.error({ remote: this.quic.remoteAddress, err: e }, 'http3: a request stream callback threw; closing its connection');
    this.close(H3Code.H3_INTERNAL_ERROR, 'internal error');
  }

  /** Connection error: close with the code, stop every call. */
  fail(e: H3Error): void {
    if (this.closedFlag) return;
    this.log?.debug({ remote: this.quic.remoteAddress, code: h3CodeName(e.code), err: e.message }, 'http3 connection error');
    this.close(e.code, e.message);
  }

  /** Closes now with `code`; calls in flight are aborted. */
  close(code: number, reason: string): void {
    if (this.closedFlag) return;
    this.teardown(AbortReason.ConnectionClosed);
    this.quic.close(code, reason.slice(0, 200));
  }

  /**
   * Graceful shutdown: GOAWAY (no new requests), let the calls in flight
   * finish for up to graceMs, then close with H3_NO_ERROR. Answers the
   * transport still holds (flow control) would be lost by an immediate
   * CONNECTION_CLOSE, so after the last answer we wait for the client to
   * close (RFC 9114 §5.2: it may once its requests are done) until the grace
   * period ends.
   */
  async shutdown(graceMs: number): Promise<void> {
    if (this.closedFlag) return;
    const deadline = Date.now() + graceMs;
    if (this.goawayId === Infinity) {
      this.goawayId = this.nextStreamId;
      sendGoaway(this.control, this.goawayId);
    }
    if (this.requests.size > 0) await this.until((wake) => (this.drained = wake), deadline);
    this.drained = null;
    if (this.closedFlag) return;
    await this.until((wake) => (this.peerClosed = wake), deadline);
    this.peerClosed = null;
    if (this.closedFlag) return;
    this.teardown(AbortReason.Shutdown);
    this.quic.close(H3Code.H3_NO_ERROR, 'server shutting down');
  }

  /** Resolves when `arm`'s callback is called or at `deadline`. */
  private until(arm: (wake: () => void) => void, deadline: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      arm(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private onQuicClose(code: number, reason: string): void {
    this.log?.debug({ remote: this.quic.remoteAddress, code: h3CodeName(code), reason }, 'http3 connection closed');
    this.teardown(AbortReason.ConnectionClosed);
  }

  private teardown(reason: AbortReason): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    const open = this.requests.values();
    this.requests.clear();
    for (const r of open) r.abortForConnection(reason);
    this.drained?.();
    this.peerClosed?.();
    this.onClosed?.();
  }
}

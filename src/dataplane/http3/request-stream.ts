// One HTTP/3 request stream on the server (RFC 9114 §4.1): reads the
// request's frames in order and hands them to the gRPC layer as a
// transport-free call (../universal.ts); answers through the same object.
//
// Request stream states:
//
//   Head ──HEADERS──► Body ──DATA*──► Body ──HEADERS (trailers)──► Trailers
//     │                 │                                             │
//     └──── FIN ────────┴────────────── FIN: body.end() ──────────────┘
//   FIN in Head: H3_REQUEST_INCOMPLETE.  Any frame out of this order:
//   H3_FRAME_UNEXPECTED (connection).  Peer reset: body.abort(PeerReset).
//   Dead: answered early (431), reset or failed; further input is dropped.
import { AbortReason, ResetReason, type OutgoingFields, type UniversalRequestBody, type UniversalResponse } from '../universal.js';
import { connectionError, H3Code, h3CodeName, streamError } from './error-codes.js';
import { FrameReader, frameHeader, FrameType, type FrameSink } from './frames.js';
import { headersFrame, sharedHeadersFrame } from './headers-frame.js';
import { checkTrailers, requestHead } from './message.js';
import { decodeFieldSectionShared, FieldSectionTooLargeError } from './qpack/decoder.js';
import type { QuicStream } from '../quic/transport.js';
import { varintLength, writeVarint } from './varint.js';
import type { Http3ServerConnection } from './server-connection.js';
import { HDR_CONTENT_TYPE, TEXT_PLAIN } from '../grpc/constants.js';

/** The gRPC layer's reset reasons as HTTP/3 codes (RFC 9114 §8.1). */
const H3_RESET_CODES: Readonly<Record<ResetReason, number>> = {
  [ResetReason.Done]: H3Code.H3_NO_ERROR,
  [ResetReason.Cancel]: H3Code.H3_REQUEST_CANCELLED,
  [ResetReason.Refused]: H3Code.H3_REQUEST_REJECTED,
  [ResetReason.ExcessiveLoad]: H3Code.H3_EXCESSIVE_LOAD,
  [ResetReason.Protocol]: H3Code.H3_GENERAL_PROTOCOL_ERROR,
  [ResetReason.Internal]: H3Code.H3_INTERNAL_ERROR,
};

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

export class RequestStream implements FrameSink, UniversalResponse {
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
      { method: head.method, authority: head.authority, path: head.path, headers: head.headers, fields, protocol: 'h3', tls: this.conn.tls },
      this,
    );
  }

  private refuseTooLarge(): void {
    const live = this.callLive;
    this.state = RequestState.Dead;
    if (!this.headersSent && !this.ended) {
      this.queue(headersFrame(431, null, [HDR_CONTENT_TYPE, TEXT_PLAIN]), false);
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

  reset(reason: ResetReason): void {
    if (this.ended) return;
    this.ended = true;
    this.out = [];
    const h3 = H3_RESET_CODES[reason] ?? H3Code.H3_INTERNAL_ERROR;
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

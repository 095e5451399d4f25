// HTTP/3 frames (RFC 9114 §7): type and length as varints, then the payload.
//
// FrameReader is an incremental parser for one stream: it takes chunks as the
// transport delivers them (a frame may be split anywhere, even inside its
// varints) and hands the sink DATA payload as it arrives (never buffered, the
// gRPC layer reframes it anyway), every other known frame whole, and skips
// unknown and reserved ("grease") types without buffering them.
import { connectionError, H3Code } from './error-codes.js';
import { readVarint, varintLength, varintSize, writeVarint } from './varint.js';

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  CANCEL_PUSH: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  GOAWAY: 0x7,
  MAX_PUSH_ID: 0xd,
} as const;

/** Frame types HTTP/2 defines that HTTP/3 forbids (§7.2.8): PRIORITY, PING, WINDOW_UPDATE, CONTINUATION. */
const HTTP2_ONLY_TYPES = new Set([0x2, 0x6, 0x8, 0x9]);

export const Setting = {
  QPACK_MAX_TABLE_CAPACITY: 0x01,
  MAX_FIELD_SECTION_SIZE: 0x06,
  QPACK_BLOCKED_STREAMS: 0x07,
  ENABLE_CONNECT_PROTOCOL: 0x08,
  H3_DATAGRAM: 0x33,
} as const;

/** HTTP/2 settings with no HTTP/3 meaning; receiving one is H3_SETTINGS_ERROR (§7.2.4.1). */
const HTTP2_ONLY_SETTINGS = new Set([0x2, 0x3, 0x4, 0x5]);

/** Reserved frame, stream and setting types are 0x1f * N + 0x21 (§7.2.8, §6.2.3, §7.2.4.1). */
export function isReservedType(t: number): boolean {
  return t >= 0x21 && (t - 0x21) % 0x1f === 0;
}

function isKnownFrameType(t: number): boolean {
  return t === 0x0 || t === 0x1 || t === 0x3 || t === 0x4 || t === 0x5 || t === 0x7 || t === 0xd;
}

/** What a FrameReader feeds. Methods may throw H3Error; the reader lets it propagate. */
export interface FrameSink {
  /**
   * A known frame starts. Return true to receive it (DATA as `data` chunks,
   * others whole through `frame`), false to have its payload skipped unread
   * (used to refuse an over-long HEADERS frame without buffering it).
   */
  frameStart(type: number, length: number): boolean;
  /** A piece of the current DATA frame's payload, in order. */
  data(chunk: Uint8Array): void;
  /** A whole non-DATA frame. The payload is only valid during the call unless copied. */
  frame(type: number, payload: Uint8Array): void;
}

const enum State {
  Header,
  Data,
  Buffer,
  Skip,
}

export class FrameReader {
  private state = State.Header;
  /** A frame header split across chunks is gathered here (made when first needed: most never are). */
  private head: Uint8Array | null = null;
  private headLen = 0;
  private type = 0;
  private remaining = 0;
  private buf: Uint8Array | null = null;
  private filled = 0;

  constructor(private readonly sink: FrameSink) {}

  /** True between frames: a FIN here is clean, anywhere else the last frame was truncated. */
  get atBoundary(): boolean {
    return this.state === State.Header && this.headLen === 0;
  }

  push(chunk: Uint8Array): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      switch (this.state) {
        case State.Header: {
          // Fast path: the whole header is in this chunk and nothing is pending.
          if (this.headLen === 0) {
            const tl = varintSize(chunk[pos]!);
            if (pos + tl < end) {
              const ll = varintSize(chunk[pos + tl]!);
              if (pos + tl + ll <= end) {
                const type = readVarint(chunk, pos);
                const length = readVarint(chunk, pos + tl);
                pos += tl + ll;
                this.begin(type, length);
                continue;
              }
            }
          }
          const head = (this.head ??= new Uint8Array(16));
          head[this.headLen++] = chunk[pos++]!;
          const tl = varintSize(head[0]!);
          if (this.headLen <= tl) continue;
          const ll = varintSize(head[tl]!);
          if (this.headLen < tl + ll) continue;
          this.headLen = 0;
          this.begin(readVarint(head, 0), readVarint(head, tl));
          break;
        }
        case State.Data: {
          const n = Math.min(this.remaining, end - pos);
          this.remaining -= n;
          const piece = pos === 0 && n === end ? chunk : chunk.subarray(pos, pos + n);
          pos += n;
          if (this.remaining === 0) this.state = State.Header;
          this.sink.data(piece);
          break;
        }
        case State.Buffer: {
          const buf = this.buf!;
          const n = Math.min(buf.length - this.filled, end - pos);
          buf.set(chunk.subarray(pos, pos + n), this.filled);
          this.filled += n;
          pos += n;
          if (this.filled === buf.length) this.finishBuffered(buf);
          break;
        }
        case State.Skip: {
          const n = Math.min(this.remaining, end - pos);
          this.remaining -= n;
          pos += n;
          if (this.remaining === 0) this.state = State.Header;
          break;
        }
      }
    }
  }

  private begin(type: number, length: number): void {
    if (!isKnownFrameType(type)) {
      if (HTTP2_ONLY_TYPES.has(type)) {
        throw connectionError(H3Code.H3_FRAME_UNEXPECTED, `frame type 0x${type.toString(16)} is HTTP/2-only and not allowed in HTTP/3`);
      }
      this.skip(length);
      return;
    }
    if (!this.sink.frameStart(type, length)) {
      this.skip(length);
      return;
    }
    this.type = type;
    if (type === FrameType.DATA) {
      if (length > 0) {
        this.remaining = length;
        this.state = State.Data;
      }
      return;
    }
    if (length === 0) {
      this.sink.frame(type, EMPTY);
      return;
    }
    this.buf = new Uint8Array(length);
    this.filled = 0;
    this.state = State.Buffer;
  }

  private skip(length: number): void {
    if (length > 0) {
      this.remaining = length;
      this.state = State.Skip;
    }
  }

  private finishBuffered(buf: Uint8Array): void {
    this.buf = null;
    this.state = State.Header;
    this.sink.frame(this.type, buf);
  }
}

const EMPTY = new Uint8Array(0);

/** Frame header (type, length) for a payload of `length` bytes. */
export function frameHeader(type: number, length: number): Uint8Array {
  const out = new Uint8Array(varintLength(type) + varintLength(length));
  writeVarint(out, writeVarint(out, 0, type), length);
  return out;
}

/** A whole frame in one buffer. */
export function encodeFrame(type: number, payload: Uint8Array): Uint8Array {
  const hl = varintLength(type) + varintLength(payload.length);
  const out = new Uint8Array(hl + payload.length);
  writeVarint(out, writeVarint(out, 0, type), payload.length);
  out.set(payload, hl);
  return out;
}

/** SETTINGS frame (whole) with the given identifier → value pairs, in order. */
export function encodeSettings(settings: ReadonlyArray<readonly [number, number]>): Uint8Array {
  let len = 0;
  for (const [id, v] of settings) len += varintLength(id) + varintLength(v);
  const payload = new Uint8Array(len);
  let p = 0;
  for (const [id, v] of settings) p = writeVarint(payload, writeVarint(payload, p, id), v);
  return encodeFrame(FrameType.SETTINGS, payload);
}

/** Parses a SETTINGS payload (§7.2.4). Duplicates and HTTP/2-only identifiers are H3_SETTINGS_ERROR. */
export function parseSettings(payload: Uint8Array): Map<number, number> {
  const out = new Map<number, number>();
  let p = 0;
  while (p < payload.length) {
    const il = varintSize(payload[p]!);
    if (p + il >= payload.length) throw connectionError(H3Code.H3_FRAME_ERROR, 'SETTINGS frame ends inside a setting');
    const id = readVarint(payload, p);
    const vl = varintSize(payload[p + il]!);
    if (p + il + vl > payload.length) throw connectionError(H3Code.H3_FRAME_ERROR, 'SETTINGS frame ends inside a setting value');
    const v = readVarint(payload, p + il);
    p += il + vl;
    if (HTTP2_ONLY_SETTINGS.has(id)) {
      throw connectionError(H3Code.H3_SETTINGS_ERROR, `setting 0x${id.toString(16)} is HTTP/2-only and not allowed in HTTP/3`);
    }
    if (out.has(id)) throw connectionError(H3Code.H3_SETTINGS_ERROR, `setting 0x${id.toString(16)} appears twice`);
    out.set(id, v);
  }
  return out;
}

/** GOAWAY frame (whole) carrying a stream or push ID. */
export function encodeGoaway(id: number): Uint8Array {
  const payload = new Uint8Array(varintLength(id));
  writeVarint(payload, 0, id);
  return encodeFrame(FrameType.GOAWAY, payload);
}

/** The single varint of a GOAWAY, CANCEL_PUSH or MAX_PUSH_ID payload (§7.2.3, §7.2.6, §7.2.7). */
export function parseSingleVarint(type: number, payload: Uint8Array): number {
  if (payload.length === 0 || varintSize(payload[0]!) !== payload.length) {
    throw connectionError(H3Code.H3_FRAME_ERROR, `frame type 0x${type.toString(16)} must hold exactly one varint`);
  }
  return readVarint(payload, 0);
}

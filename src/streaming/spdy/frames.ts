// SPDY/3.1 framing (draft-mbelshe-httpbis-spdy-00 section 2.2, plus 3.1's
// connection-level WINDOW_UPDATE): the frame layouts, a push parser, and the
// header blocks with their per-connection zlib contexts. Only what the
// Kubernetes streaming protocols use is modelled; other control frames are
// parsed far enough to be skipped.
import { constants, createInflate, deflateRawSync, deflateSync, type Inflate } from 'node:zlib';
import { SPDY3_DICTIONARY } from './dictionary.js';

export const SPDY_VERSION = 3;

export const FrameType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

/** RST_STREAM status codes (section 2.4.2). */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
} as const;

/** DATA payload we put in one frame. */
const DATA_CHUNK = 32 * 1024;

export type Frame =
  | { type: 'data'; streamId: number; fin: boolean; data: Buffer }
  | { type: 'syn_stream'; streamId: number; associatedId: number; priority: number; fin: boolean; unidirectional: boolean; block: Buffer }
  | { type: 'syn_reply'; streamId: number; fin: boolean; block: Buffer }
  | { type: 'headers'; streamId: number; fin: boolean; block: Buffer }
  | { type: 'rst_stream'; streamId: number; status: number }
  | { type: 'settings' }
  | { type: 'ping'; id: number }
  | { type: 'goaway'; lastGoodStreamId: number; status: number }
  | { type: 'window_update'; streamId: number; delta: number }
  | { type: 'other'; controlType: number };

export class SpdyProtocolError extends Error {}

/** Splits a byte stream into frames. Header blocks stay compressed (see HeaderDecompressor). */
export class FrameParser {
  private buf: Buffer = Buffer.alloc(0);

  /** `maxPayload`: the largest frame the peer may send (limits.streamingSpdyMaxFrameBytes). */
  constructor(private readonly maxPayload = 1 << 20) {}

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: Frame[] = [];
    while (this.buf.length >= 8) {
      const length = this.buf.readUIntBE(5, 3);
      if (length > this.maxPayload) throw new SpdyProtocolError(`frame of ${length} bytes exceeds ${this.maxPayload}`);
      if (this.buf.length < 8 + length) break;
      const head = this.buf.subarray(0, 8);
      const body = this.buf.subarray(8, 8 + length);
      this.buf = this.buf.subarray(8 + length);
      frames.push(parseFrame(head, body));
    }
    return frames;
  }
}

function need(body: Buffer, n: number, what: string): void {
  if (body.length < n) throw new SpdyProtocolError(`${what} frame of ${body.length} bytes is too short`);
}

function parseFrame(head: Buffer, body: Buffer): Frame {
  const flags = head[4]!;
  if ((head[0]! & 0x80) === 0) {
    return { type: 'data', streamId: head.readUInt32BE(0) & 0x7fffffff, fin: (flags & FLAG_FIN) !== 0, data: Buffer.from(body) };
  }
  const version = head.readUInt16BE(0) & 0x7fff;
  if (version !== SPDY_VERSION) throw new SpdyProtocolError(`SPDY version ${version} is not supported (only 3)`);
  const type = head.readUInt16BE(2);
  const fin = (flags & FLAG_FIN) !== 0;
  switch (type) {
    case FrameType.SYN_STREAM:
      need(body, 10, 'SYN_STREAM');
      return {
        type: 'syn_stream',
        streamId: body.readUInt32BE(0) & 0x7fffffff,
        associatedId: body.readUInt32BE(4) & 0x7fffffff,
        priority: body[8]! >> 5,
        fin,
        unidirectional: (flags & FLAG_UNIDIRECTIONAL) !== 0,
        block: Buffer.from(body.subarray(10)),
      };
    case FrameType.SYN_REPLY:
      need(body, 4, 'SYN_REPLY');
      return { type: 'syn_reply', streamId: body.readUInt32BE(0) & 0x7fffffff, fin, block: Buffer.from(body.subarray(4)) };
    case FrameType.HEADERS:
      need(body, 4, 'HEADERS');
      return { type: 'headers', streamId: body.readUInt32BE(0) & 0x7fffffff, fin, block: Buffer.from(body.subarray(4)) };
    case FrameType.RST_STREAM:
      need(body, 8, 'RST_STREAM');
      return { type: 'rst_stream', streamId: body.readUInt32BE(0) & 0x7fffffff, status: body.readUInt32BE(4) };
    case FrameType.SETTINGS:
      return { type: 'settings' };
    case FrameType.PING:
      need(body, 4, 'PING');
      return { type: 'ping', id: body.readUInt32BE(0) };
    case FrameType.GOAWAY:
      need(body, 8, 'GOAWAY');
      return { type: 'goaway', lastGoodStreamId: body.readUInt32BE(0) & 0x7fffffff, status: body.readUInt32BE(4) };
    case FrameType.WINDOW_UPDATE:
      need(body, 8, 'WINDOW_UPDATE');
      return { type: 'window_update', streamId: body.readUInt32BE(0) & 0x7fffffff, delta: body.readUInt32BE(4) & 0x7fffffff };
    default:
      return { type: 'other', controlType: type };
  }
}

function control(type: number, flags: number, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt32BE(body.length, 4);
  head[4] = flags;
  return Buffer.concat([head, body]);
}

function u32s(...values: number[]): Buffer {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, 4 * i));
  return b;
}

/** DATA frames for `data` (split into chunks; an empty buffer with fin is the half-close). */
export function encodeData(streamId: number, data: Uint8Array, fin: boolean): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  do {
    const piece = data.subarray(off, off + DATA_CHUNK);
    off += piece.length;
    const head = Buffer.alloc(8);
    head.writeUInt32BE(streamId & 0x7fffffff, 0);
    head.writeUInt32BE(piece.length, 4);
    head[4] = fin && off >= data.length ? FLAG_FIN : 0;
    out.push(head, Buffer.from(piece.buffer, piece.byteOffset, piece.length));
  } while (off < data.length);
  return out;
}

export function encodeSynStream(streamId: number, block: Buffer, fin = false): Buffer {
  return control(FrameType.SYN_STREAM, fin ? FLAG_FIN : 0, Buffer.concat([u32s(streamId, 0), Buffer.from([0, 0]), block]));
}

export function encodeSynReply(streamId: number, block: Buffer, fin = false): Buffer {
  return control(FrameType.SYN_REPLY, fin ? FLAG_FIN : 0, Buffer.concat([u32s(streamId), block]));
}

export function encodeRstStream(streamId: number, status: number): Buffer {
  return control(FrameType.RST_STREAM, 0, u32s(streamId, status));
}

export function encodePing(id: number): Buffer {
  return control(FrameType.PING, 0, u32s(id));
}

export function encodeGoaway(lastGoodStreamId: number, status = 0): Buffer {
  return control(FrameType.GOAWAY, 0, u32s(lastGoodStreamId, status));
}

export function encodeWindowUpdate(streamId: number, delta: number): Buffer {
  return control(FrameType.WINDOW_UPDATE, 0, u32s(streamId, delta));
}

/** Header names and their values, names lowercase (SPDY/3 requires it; Go's framer refuses others). */
export type HeaderList = ReadonlyMap<string, readonly string[]>;

/** The uncompressed name/value block (section 2.6.10): counts and lengths are 32-bit; several values are NUL-joined. */
export function encodeHeaderBlock(headers: HeaderList): Buffer {
  const parts: Buffer[] = [u32s(headers.size)];
  for (const [name, values] of headers) {
    const n = Buffer.from(name.toLowerCase(), 'utf8');
    const v = Buffer.from(values.join('\0'), 'utf8');
    parts.push(u32s(n.length), n, u32s(v.length), v);
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(block: Buffer): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const fail = (): never => {
    throw new SpdyProtocolError('header block is truncated');
  };
  let off = 0;
  const u32 = () => (off + 4 <= block.length ? block.readUInt32BE((off += 4) - 4) : fail());
  const str = (len: number) => (off + len <= block.length ? block.toString('utf8', off, (off += len)) : fail());
  const count = u32();
  for (let i = 0; i < count; i++) {
    const name = str(u32());
    const value = str(u32());
    if (name === '') throw new SpdyProtocolError('header block has an empty name');
    out.set(name.toLowerCase(), [...(out.get(name.toLowerCase()) ?? []), ...value.split('\0')]);
  }
  return out;
}

/**
 * Compresses our header blocks. The first block is a zlib stream with the
 * SPDY dictionary (its header names the dictionary); each block ends on a
 * sync flush, so the peer's one inflate context reads it whole. Later blocks
 * are fresh raw deflate segments that refer to nothing before them: a valid
 * continuation of that same stream, produced synchronously so frames are
 * written in order without a queue.
 */
export class HeaderCompressor {
  private started = false;

  compress(block: Buffer): Buffer {
    const opts = { finishFlush: constants.Z_SYNC_FLUSH };
    if (!this.started) {
      this.started = true;
      return deflateSync(block, { ...opts, dictionary: SPDY3_DICTIONARY });
    }
    return deflateRawSync(block, opts);
  }
}

/** Inflates the peer's header blocks with the connection's one zlib context, in order. */
export class HeaderDecompressor {
  private readonly z: Inflate = createInflate({ dictionary: SPDY3_DICTIONARY });
  private out: Buffer[] = [];
  private failed?: Error;

  constructor() {
    this.z.on('data', (c: Buffer) => this.out.push(c));
    this.z.on('error', (err) => (this.failed = err));
  }

  decompress(block: Buffer): Promise<Buffer> {
    return new Promise((ok, fail) => {
      if (this.failed) return fail(new SpdyProtocolError(`header block does not inflate: ${this.failed.message}`));
      this.z.write(block);
      this.z.flush(constants.Z_SYNC_FLUSH, () => {
        // 'data' may be emitted on a later tick than the flush's callback.
        setImmediate(() => {
          if (this.failed) return fail(new SpdyProtocolError(`header block does not inflate: ${this.failed.message}`));
          const all = Buffer.concat(this.out);
          this.out = [];
          ok(all);
        });
      });
    });
  }

  close(): void {
    this.z.close();
  }
}

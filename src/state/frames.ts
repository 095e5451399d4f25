// The on-disk frame of every state file (journal and snapshot):
//
//   u32 LE  payload length
//   u32 LE  CRC-32 of the payload (zlib's, the IEEE polynomial)
//   bytes   payload: one JSON value, UTF-8
//
// A frame is valid when all its bytes are there, the CRC matches and the JSON parses.
// Reading stops at the first frame that is not: everything from there on is the torn
// tail of a write that was never acknowledged (see docs/state.md, "Recovery rules").
import { crc32 } from 'node:zlib';

export const FRAME_HEADER_BYTES = 8;
/** The format's bound on a payload: a longer length field can only be damage. Writers bound commits lower (limits.ts). */
export const FRAME_FORMAT_MAX_BYTES = 1024 * 1024 * 1024;

/** JSON with bigints: a bigint is written as {"$big":"<decimal>"} (the CRI's nanosecond timestamps are int64). */
function replacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? { $big: value.toString() } : value;
}

const BIG_MARK = Buffer.from('"$big"');

function reviver(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const big = (value as { $big?: unknown }).$big;
    if (typeof big === 'string' && Object.keys(value).length === 1) return BigInt(big);
  }
  return value;
}

export function encodeFrame(value: unknown, maxBytes = FRAME_FORMAT_MAX_BYTES): Buffer {
  const json = JSON.stringify(value, replacer);
  const payloadBytes = Buffer.byteLength(json);
  if (payloadBytes > maxBytes) throw new RangeError(`a commit of ${payloadBytes} bytes is over the ${maxBytes}-byte limit ([state] max_commit_bytes)`);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadBytes);
  frame.write(json, FRAME_HEADER_BYTES, 'utf8');
  frame.writeUInt32LE(payloadBytes, 0);
  frame.writeUInt32LE(crc32(frame.subarray(FRAME_HEADER_BYTES)), 4);
  return frame;
}

export interface ScanResult {
  readonly values: unknown[];
  /** Bytes of valid frames from the start; the file's good length. */
  readonly goodBytes: number;
  /** Why reading stopped before the end of the data, if it did. */
  readonly damage?: string;
}

/** Every valid frame from the start of `data`, up to the first one that is not. */
export function scanFrames(data: Uint8Array): ScanResult {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const values: unknown[] = [];
  let at = 0;
  while (at < buf.length) {
    if (buf.length - at < FRAME_HEADER_BYTES) return { values, goodBytes: at, damage: `${buf.length - at} bytes of a frame header at offset ${at}` };
    const length = buf.readUInt32LE(at);
    const sum = buf.readUInt32LE(at + 4);
    const end = at + FRAME_HEADER_BYTES + length;
    if (length > FRAME_FORMAT_MAX_BYTES) return { values, goodBytes: at, damage: `frame length ${length} at offset ${at} is over the limit` };
    if (end > buf.length) return { values, goodBytes: at, damage: `frame at offset ${at} needs ${length} payload bytes, ${buf.length - at - FRAME_HEADER_BYTES} are there` };
    const payload = buf.subarray(at + FRAME_HEADER_BYTES, end);
    if (crc32(payload) !== sum) return { values, goodBytes: at, damage: `CRC mismatch in the frame at offset ${at}` };
    try {
      // The reviver costs a call per value: only frames that hold a bigint pay it.
      const text = payload.toString('utf8');
      values.push(payload.indexOf(BIG_MARK) >= 0 ? JSON.parse(text, reviver) : JSON.parse(text));
    } catch {
      return { values, goodBytes: at, damage: `frame at offset ${at} is not JSON` };
    }
    at = end;
  }
  return { values, goodBytes: at };
}

// HEADERS frames of responses (RFC 9114 §4.2, §7.2.2), QPACK-encoded with
// the static table and literals only (we advertise no dynamic table).
import type { OutgoingFields } from '../universal.js';
import { encodeFrame, FrameType } from './frames.js';
import { writeFieldLine, writeSectionPrefix } from './qpack/encoder.js';
import { QpackWriter } from './qpack/primitives.js';

/** Encoded HEADERS frames of frozen field sets, by status. */
const frozenFrames = new WeakMap<OutgoingFields, { status: number; frame: Uint8Array }>();

/**
 * The gRPC layer answers almost every call with the same frozen field sets
 * (response headers per encoding, `grpc-status: 0` trailers); with no QPACK
 * dynamic table their encoding never changes, so it is done once. Frames are
 * never mutated after they are written, so one buffer serves every stream.
 */
export function sharedHeadersFrame(status: number, fields: OutgoingFields): Uint8Array {
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
export function headersFrame(status: number, fields: OutgoingFields | null, flat?: readonly string[]): Uint8Array {
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


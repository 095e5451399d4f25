// QPACK field section encoding (RFC 9204 §4.5) without a dynamic table:
// exact static matches become one-byte indexed lines, known names a static
// name reference plus the value, everything else a literal name and value,
// with Huffman coding wherever it is shorter. The prefix is always 0x0000
// (Required Insert Count 0, Base 0), so the peer never blocks on us.
//
// gRPC answers repeat the same few fields on every call (`:status 200`,
// `content-type: application/grpc`, `grpc-status: 0`), so the encoding of
// short fields is cached.
import { QpackWriter } from './primitives.js';
import { staticIndexOf, staticNameIndexOf } from './static-table.js';
import { hashString, RepeatCache } from '../../../util/repeat-cache.js';

const CACHEABLE_LENGTH = 64;
const lines = new RepeatCache<string, Uint8Array>(512, (a, b) => a === b);

function encodeLine(w: QpackWriter, name: string, value: string): void {
  const exact = staticIndexOf(name, value);
  if (exact >= 0) {
    w.int(6, 0xc0, exact); // 1 T=1 index
    return;
  }
  const nameIndex = staticNameIndexOf(name);
  if (nameIndex >= 0) {
    w.int(4, 0x50, nameIndex); // 01 N=0 T=1 index
  } else {
    w.string(3, 0x20, name); // 001 N=0 H len
  }
  w.string(7, 0x00, value);
}

/** Appends one field line, from the cache when the field is short. */
export function writeFieldLine(w: QpackWriter, name: string, value: string): void {
  if (name.length + value.length > CACHEABLE_LENGTH) {
    encodeLine(w, name, value);
    return;
  }
  const key = `${name}\0${value}`;
  const h = hashString(key);
  let bytes = lines.get(key, h);
  if (bytes === undefined) {
    const one = new QpackWriter(32);
    encodeLine(one, name, value);
    bytes = one.result();
    // Kept only once it repeats (util/repeat-cache.ts): per-call values (a grpc-timeout) are not.
    if (lines.admits(h)) lines.set(key, h, bytes.slice());
  }
  w.bytes(bytes);
}

/** The encoded field section prefix with no dynamic table: Required Insert Count 0, Base 0. */
export function writeSectionPrefix(w: QpackWriter): void {
  w.byte(0);
  w.byte(0);
}

/** Encodes a flat [name, value, …] list (lowercase names, latin1 strings). */
export function encodeFieldSection(fields: readonly string[]): Uint8Array {
  const w = new QpackWriter(128);
  writeSectionPrefix(w);
  for (let i = 0; i < fields.length; i += 2) writeFieldLine(w, fields[i]!, fields[i + 1]!);
  return w.result();
}

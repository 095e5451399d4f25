// The HPACK Huffman code (RFC 7541 Appendix B), which QPACK reuses (RFC 9204
// §4.1.2): [code, bit length] for symbols 0..255 and EOS (256).
//
// Decoding walks a 4-bits-at-a-time state machine built from this table at
// load: one table lookup per nibble instead of one branch per bit. A nibble
// can complete at most one symbol, since the shortest code is 5 bits.
import { H3Code, H3Error } from '../error-codes.js';

// prettier-ignore
export const HUFFMAN_CODES: ReadonlyArray<readonly [code: number, bits: number]> = [
  [0x1ff8, 13], [0x7fffd8, 23], [0xfffffe2, 28], [0xfffffe3, 28],
  [0xfffffe4, 28], [0xfffffe5, 28], [0xfffffe6, 28], [0xfffffe7, 28],
  [0xfffffe8, 28], [0xffffea, 24], [0x3ffffffc, 30], [0xfffffe9, 28],
  [0xfffffea, 28], [0x3ffffffd, 30], [0xfffffeb, 28], [0xfffffec, 28],
  [0xfffffed, 28], [0xfffffee, 28], [0xfffffef, 28], [0xffffff0, 28],
  [0xffffff1, 28], [0xffffff2, 28], [0x3ffffffe, 30], [0xffffff3, 28],
  [0xffffff4, 28], [0xffffff5, 28], [0xffffff6, 28], [0xffffff7, 28],
  [0xffffff8, 28], [0xffffff9, 28], [0xffffffa, 28], [0xffffffb, 28],
  [0x14, 6], [0x3f8, 10], [0x3f9, 10], [0xffa, 12],
  [0x1ff9, 13], [0x15, 6], [0xf8, 8], [0x7fa, 11],
  [0x3fa, 10], [0x3fb, 10], [0xf9, 8], [0x7fb, 11],
  [0xfa, 8], [0x16, 6], [0x17, 6], [0x18, 6],
  [0x0, 5], [0x1, 5], [0x2, 5], [0x19, 6],
  [0x1a, 6], [0x1b, 6], [0x1c, 6], [0x1d, 6],
  [0x1e, 6], [0x1f, 6], [0x5c, 7], [0xfb, 8],
  [0x7ffc, 15], [0x20, 6], [0xffb, 12], [0x3fc, 10],
  [0x1ffa, 13], [0x21, 6], [0x5d, 7], [0x5e, 7],
  [0x5f, 7], [0x60, 7], [0x61, 7], [0x62, 7],
  [0x63, 7], [0x64, 7], [0x65, 7], [0x66, 7],
  [0x67, 7], [0x68, 7], [0x69, 7], [0x6a, 7],
  [0x6b, 7], [0x6c, 7], [0x6d, 7], [0x6e, 7],
  [0x6f, 7], [0x70, 7], [0x71, 7], [0x72, 7],
  [0xfc, 8], [0x73, 7], [0xfd, 8], [0x1ffb, 13],
  [0x7fff0, 19], [0x1ffc, 13], [0x3ffc, 14], [0x22, 6],
  [0x7ffd, 15], [0x3, 5], [0x23, 6], [0x4, 5],
  [0x24, 6], [0x5, 5], [0x25, 6], [0x26, 6],
  [0x27, 6], [0x6, 5], [0x74, 7], [0x75, 7],
  [0x28, 6], [0x29, 6], [0x2a, 6], [0x7, 5],
  [0x2b, 6], [0x76, 7], [0x2c, 6], [0x8, 5],
  [0x9, 5], [0x2d, 6], [0x77, 7], [0x78, 7],
  [0x79, 7], [0x7a, 7], [0x7b, 7], [0x7ffe, 15],
  [0x7fc, 11], [0x3ffd, 14], [0x1ffd, 13], [0xffffffc, 28],
  [0xfffe6, 20], [0x3fffd2, 22], [0xfffe7, 20], [0xfffe8, 20],
  [0x3fffd3, 22], [0x3fffd4, 22], [0x3fffd5, 22], [0x7fffd9, 23],
  [0x3fffd6, 22], [0x7fffda, 23], [0x7fffdb, 23], [0x7fffdc, 23],
  [0x7fffdd, 23], [0x7fffde, 23], [0xffffeb, 24], [0x7fffdf, 23],
  [0xffffec, 24], [0xffffed, 24], [0x3fffd7, 22], [0x7fffe0, 23],
  [0xffffee, 24], [0x7fffe1, 23], [0x7fffe2, 23], [0x7fffe3, 23],
  [0x7fffe4, 23], [0x1fffdc, 21], [0x3fffd8, 22], [0x7fffe5, 23],
  [0x3fffd9, 22], [0x7fffe6, 23], [0x7fffe7, 23], [0xffffef, 24],
  [0x3fffda, 22], [0x1fffdd, 21], [0xfffe9, 20], [0x3fffdb, 22],
  [0x3fffdc, 22], [0x7fffe8, 23], [0x7fffe9, 23], [0x1fffde, 21],
  [0x7fffea, 23], [0x3fffdd, 22], [0x3fffde, 22], [0xfffff0, 24],
  [0x1fffdf, 21], [0x3fffdf, 22], [0x7fffeb, 23], [0x7fffec, 23],
  [0x1fffe0, 21], [0x1fffe1, 21], [0x3fffe0, 22], [0x1fffe2, 21],
  [0x7fffed, 23], [0x3fffe1, 22], [0x7fffee, 23], [0x7fffef, 23],
  [0xfffea, 20], [0x3fffe2, 22], [0x3fffe3, 22], [0x3fffe4, 22],
  [0x7ffff0, 23], [0x3fffe5, 22], [0x3fffe6, 22], [0x7ffff1, 23],
  [0x3ffffe0, 26], [0x3ffffe1, 26], [0xfffeb, 20], [0x7fff1, 19],
  [0x3fffe7, 22], [0x7ffff2, 23], [0x3fffe8, 22], [0x1ffffec, 25],
  [0x3ffffe2, 26], [0x3ffffe3, 26], [0x3ffffe4, 26], [0x7ffffde, 27],
  [0x7ffffdf, 27], [0x3ffffe5, 26], [0xfffff1, 24], [0x1ffffed, 25],
  [0x7fff2, 19], [0x1fffe3, 21], [0x3ffffe6, 26], [0x7ffffe0, 27],
  [0x7ffffe1, 27], [0x3ffffe7, 26], [0x7ffffe2, 27], [0xfffff2, 24],
  [0x1fffe4, 21], [0x1fffe5, 21], [0x3ffffe8, 26], [0x3ffffe9, 26],
  [0xffffffd, 28], [0x7ffffe3, 27], [0x7ffffe4, 27], [0x7ffffe5, 27],
  [0xfffec, 20], [0xfffff3, 24], [0xfffed, 20], [0x1fffe6, 21],
  [0x3fffe9, 22], [0x1fffe7, 21], [0x1fffe8, 21], [0x7ffff3, 23],
  [0x3fffea, 22], [0x3fffeb, 22], [0x1ffffee, 25], [0x1ffffef, 25],
  [0xfffff4, 24], [0xfffff5, 24], [0x3ffffea, 26], [0x7ffff4, 23],
  [0x3ffffeb, 26], [0x7ffffe6, 27], [0x3ffffec, 26], [0x3ffffed, 26],
  [0x7ffffe7, 27], [0x7ffffe8, 27], [0x7ffffe9, 27], [0x7ffffea, 27],
  [0x7ffffeb, 27], [0xffffffe, 28], [0x7ffffec, 27], [0x7ffffed, 27],
  [0x7ffffee, 27], [0x7ffffef, 27], [0x7fffff0, 27], [0x3ffffee, 26],
  [0x3fffffff, 30],];

const EOS = 256;

// Transition table entry layout (Uint32): next state in bits 0-8, symbol in
// bits 9-16, then flags. States are the internal nodes of the code tree.
const EMIT = 1 << 17;
const ACCEPT = 1 << 18;
const FAIL = 1 << 19;

function buildDecoder(): Uint32Array {
  // Tree of internal nodes; children < 0 are leaves holding ~symbol.
  const left: number[] = [0];
  const right: number[] = [0];
  const depth: number[] = [0];
  const allOnes: boolean[] = [true];
  for (let sym = 0; sym <= EOS; sym++) {
    const [code, bits] = HUFFMAN_CODES[sym]!;
    let node = 0;
    for (let i = bits - 1; i >= 0; i--) {
      const bit = (code >>> i) & 1;
      const kids = bit ? right : left;
      if (i === 0) {
        kids[node] = ~sym;
        break;
      }
      if (!kids[node]) {
        kids[node] = left.length;
        left.push(0);
        right.push(0);
        depth.push(depth[node]! + 1);
        allOnes.push(allOnes[node]! && bit === 1);
      }
      node = kids[node]!;
    }
  }
  const table = new Uint32Array(left.length * 16);
  for (let state = 0; state < left.length; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let entry = 0;
      for (let i = 3; i >= 0; i--) {
        const next = ((nibble >> i) & 1 ? right : left)[node]!;
        if (next < 0) {
          const sym = ~next;
          if (sym === EOS) {
            entry = FAIL;
            break;
          }
          entry |= EMIT | (sym << 9);
          node = 0;
        } else {
          node = next;
        }
      }
      if (!(entry & FAIL)) {
        entry |= node;
        // Ending here is valid only on the all-ones path, at most 7 bits deep (RFC 7541 §5.2).
        if (allOnes[node] && depth[node]! <= 7) entry |= ACCEPT;
      }
      table[state * 16 + nibble] = entry;
    }
  }
  return table;
}

const DECODE = buildDecoder();
let scratch = new Uint8Array(256);

/** Decodes buf[start, end) as Huffman-coded octets into a latin1 string. Throws QPACK_DECOMPRESSION_FAILED. */
export function huffmanDecode(buf: Uint8Array, start: number, end: number): string {
  // Each output byte needs at least 5 input bits.
  const max = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < max) scratch = new Uint8Array(Math.max(max, scratch.length * 2));
  const out = scratch;
  let n = 0;
  let state = 0;
  let accept = true;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    let e = DECODE[state * 16 + (b >> 4)]!;
    if (e & FAIL) throw huffmanError('contains the EOS symbol');
    if (e & EMIT) out[n++] = (e >> 9) & 0xff;
    state = e & 0x1ff;
    e = DECODE[state * 16 + (b & 0xf)]!;
    if (e & FAIL) throw huffmanError('contains the EOS symbol');
    if (e & EMIT) out[n++] = (e >> 9) & 0xff;
    state = e & 0x1ff;
    accept = (e & ACCEPT) !== 0;
  }
  if (!accept) throw huffmanError('ends with padding longer than 7 bits or not all ones');
  return Buffer.from(out.buffer, out.byteOffset, n).toString('latin1');
}

function huffmanError(what: string): H3Error {
  return new H3Error(H3Code.QPACK_DECOMPRESSION_FAILED, `Huffman-coded string ${what}`, 'connection');
}

/** Length in bytes of the Huffman coding of the latin1 string `s`. */
export function huffmanLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += HUFFMAN_CODES[s.charCodeAt(i) & 0xff]![1];
  return (bits + 7) >> 3;
}

/** Writes the Huffman coding of latin1 `s` at out[pos]; returns the position after it. */
export function huffmanEncodeInto(s: string, out: Uint8Array, pos: number): number {
  // acc holds fewer than 8 pending bits before each symbol, so acc * 2^30 stays exact in a double.
  let acc = 0;
  let nbits = 0;
  for (let i = 0; i < s.length; i++) {
    const [code, len] = HUFFMAN_CODES[s.charCodeAt(i) & 0xff]!;
    acc = acc * 2 ** len + code;
    nbits += len;
    while (nbits >= 8) {
      nbits -= 8;
      const div = 2 ** nbits;
      const byte = Math.floor(acc / div);
      out[pos++] = byte;
      acc -= byte * div;
    }
  }
  if (nbits > 0) out[pos++] = (acc << (8 - nbits)) | (0xff >> nbits); // pad with the EOS prefix (ones)
  return pos;
}

export function huffmanEncode(s: string): Uint8Array {
  const out = new Uint8Array(huffmanLength(s));
  huffmanEncodeInto(s, out, 0);
  return out;
}

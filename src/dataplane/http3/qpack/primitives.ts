// QPACK primitives (RFC 9204 §4.1, the HPACK forms of RFC 7541 §5): integers
// with an N-bit prefix, and string literals whose H flag sits just above the
// length's prefix. The reader throws QPACK_DECOMPRESSION_FAILED on anything
// truncated or out of range; the writer grows its buffer as needed.
import { H3Code, H3Error } from '../error-codes.js';
import { huffmanDecode, huffmanEncodeInto, huffmanLength } from './huffman.js';

export function decompressionFailed(what: string): H3Error {
  return new H3Error(H3Code.QPACK_DECOMPRESSION_FAILED, what, 'connection');
}

export class QpackReader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
    private readonly failCode: H3Code = H3Code.QPACK_DECOMPRESSION_FAILED,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** The byte at the cursor, not consumed. */
  peek(): number {
    if (this.pos >= this.end) throw this.fail('field section ends early');
    return this.buf[this.pos]!;
  }

  /** An integer whose first `prefix` bits are the low bits of the current byte. */
  int(prefix: number): number {
    if (this.pos >= this.end) throw this.fail('field section ends inside an integer');
    const mask = (1 << prefix) - 1;
    let v = this.buf[this.pos++]! & mask;
    if (v < mask) return v;
    let m = 1;
    for (;;) {
      if (this.pos >= this.end) throw this.fail('field section ends inside an integer');
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * m;
      m *= 128;
      if (!(b & 0x80)) break;
      if (m > 2 ** 56) throw this.fail('integer is too large');
    }
    if (!Number.isSafeInteger(v)) throw this.fail('integer is too large');
    return v;
  }

  /** A string literal: H flag at bit `prefix` of the current byte, then the length with `prefix` bits. */
  string(prefix: number, maxLength: number): string {
    const huffman = (this.peek() & (1 << prefix)) !== 0;
    const len = this.int(prefix);
    if (len > this.end - this.pos) throw this.fail('string literal runs past the end of the field section');
    if (len > maxLength) throw this.fail('string literal is longer than the field section limit');
    const start = this.pos;
    this.pos += len;
    if (huffman) return huffmanDecode(this.buf, start, this.pos);
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + start, len).toString('latin1');
  }

  private fail(what: string): H3Error {
    return new H3Error(this.failCode, what, 'connection');
  }
}

export class QpackWriter {
  buf: Uint8Array;
  pos = 0;
  constructor(initial = 128) {
    this.buf = new Uint8Array(initial);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** `flags` fills the bits above the prefix in the first byte. */
  int(prefix: number, flags: number, v: number): void {
    this.room(10);
    const mask = (1 << prefix) - 1;
    if (v < mask) {
      this.buf[this.pos++] = flags | v;
      return;
    }
    this.buf[this.pos++] = flags | mask;
    v -= mask;
    while (v >= 128) {
      this.buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  /** A string literal, Huffman-coded when that is shorter. */
  string(prefix: number, flags: number, s: string): void {
    const hl = huffmanLength(s);
    if (hl < s.length) {
      this.int(prefix, flags | (1 << prefix), hl);
      this.room(hl);
      this.pos = huffmanEncodeInto(s, this.buf, this.pos);
    } else {
      this.int(prefix, flags, s.length);
      this.room(s.length);
      this.pos += Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, s.length).write(s, 'latin1');
    }
  }

  result(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

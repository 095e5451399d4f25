// Protobuf wire format (proto3) for AssemblyScript guests: a Reader that reads
// a message in place from memory and a Writer that builds one. Hand-written
// for the scalar types gRPC messages carry; nested messages are bytes fields
// read with `Reader.message()` and written with `Writer.message()`.

export namespace WireType {
  export const VARINT: u32 = 0;
  export const I64: u32 = 1;
  export const LEN: u32 = 2;
  export const I32: u32 = 5;
}

export class Reader {
  ptr: usize;
  end: usize;
  /** The field number of the field `next()` found. */
  field: u32 = 0;
  wireType: u32 = 0;
  /** Set when the message was malformed (truncated, bad wire type). */
  error: bool = false;

  constructor(ptr: usize, len: i32) {
    this.ptr = ptr;
    this.end = ptr + <usize>len;
  }

  static of(bytes: Uint8Array): Reader {
    return new Reader(bytes.dataStart, bytes.length);
  }

  /** Moves to the next field; false at the end or on an error. */
  next(): bool {
    if (this.error || this.ptr >= this.end) return false;
    const tag = <u32>this.varint();
    this.field = tag >>> 3;
    this.wireType = tag & 7;
    if (this.field == 0) this.error = true;
    return !this.error;
  }

  varint(): u64 {
    let result: u64 = 0;
    let shift: u64 = 0;
    while (true) {
      if (this.ptr >= this.end || shift > 63) {
        this.error = true;
        return 0;
      }
      const b = load<u8>(this.ptr++);
      result |= (<u64>(b & 0x7f)) << shift;
      if ((b & 0x80) == 0) return result;
      shift += 7;
    }
  }

  private need(n: usize): bool {
    if (this.ptr + n > this.end) {
      this.error = true;
      return false;
    }
    return true;
  }

  double(): f64 {
    if (!this.need(8)) return 0;
    const v = load<f64>(this.ptr);
    this.ptr += 8;
    return v;
  }
  float(): f32 {
    if (!this.need(4)) return 0;
    const v = load<f32>(this.ptr);
    this.ptr += 4;
    return v;
  }
  fixed64(): u64 {
    if (!this.need(8)) return 0;
    const v = load<u64>(this.ptr);
    this.ptr += 8;
    return v;
  }
  fixed32(): u32 {
    if (!this.need(4)) return 0;
    const v = load<u32>(this.ptr);
    this.ptr += 4;
    return v;
  }
  int32(): i32 { return <i32>this.varint(); }
  int64(): i64 { return <i64>this.varint(); }
  uint32(): u32 { return <u32>this.varint(); }
  uint64(): u64 { return this.varint(); }
  bool(): bool { return this.varint() != 0; }
  sint32(): i32 {
    const v = <u32>this.varint();
    return <i32>(v >>> 1) ^ -(<i32>(v & 1));
  }
  sint64(): i64 {
    const v = this.varint();
    return <i64>(v >>> 1) ^ -(<i64>(v & 1));
  }

  /** A length-delimited field as a copy. */
  bytes(): Uint8Array {
    const n = <usize>this.varint();
    if (!this.need(n)) return new Uint8Array(0);
    const a = new Uint8Array(<i32>n);
    memory.copy(a.dataStart, this.ptr, n);
    this.ptr += n;
    return a;
  }
  string(): string {
    const n = <usize>this.varint();
    if (!this.need(n)) return "";
    const s = String.UTF8.decodeUnsafe(this.ptr, n);
    this.ptr += n;
    return s;
  }
  /** A nested message, read in place. */
  message(): Reader {
    const n = <usize>this.varint();
    if (!this.need(n)) return new Reader(this.ptr, 0);
    const r = new Reader(this.ptr, <i32>n);
    this.ptr += n;
    return r;
  }

  /** Skips the current field's value (unknown fields must be skipped). */
  skip(): void {
    switch (this.wireType) {
      case 0: this.varint(); break;
      case 1: if (this.need(8)) this.ptr += 8; break;
      case 2: { const n = <usize>this.varint(); if (this.need(n)) this.ptr += n; break; }
      case 5: if (this.need(4)) this.ptr += 4; break;
      default: this.error = true;
    }
  }
}

export class Writer {
  buf: Uint8Array;
  pos: i32 = 0;

  constructor(capacity: i32 = 64) {
    this.buf = new Uint8Array(capacity);
  }

  private reserve(n: i32): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    if (cap < this.pos + n) cap = this.pos + n;
    const b = new Uint8Array(cap);
    memory.copy(b.dataStart, this.buf.dataStart, <usize>this.pos);
    this.buf = b;
  }

  rawVarint(v: u64): void {
    this.reserve(10);
    while (v >= 0x80) {
      this.buf[this.pos++] = <u8>(v | 0x80);
      v >>= 7;
    }
    this.buf[this.pos++] = <u8>v;
  }
  tag(field: u32, wireType: u32): void {
    this.rawVarint((<u64>field << 3) | wireType);
  }

  // Values without a tag or the default check (repeated elements, generated code).
  rawFixed64(v: u64): void {
    this.reserve(8);
    store<u64>(this.buf.dataStart + <usize>this.pos, v);
    this.pos += 8;
  }
  rawFixed32(v: u32): void {
    this.reserve(4);
    store<u32>(this.buf.dataStart + <usize>this.pos, v);
    this.pos += 4;
  }
  rawDouble(v: f64): void { this.rawFixed64(reinterpret<u64>(v)); }
  rawFloat(v: f32): void { this.rawFixed32(reinterpret<u32>(v)); }
  rawBytes(v: Uint8Array): void {
    this.rawVarint(<u64>v.length);
    this.reserve(v.length);
    memory.copy(this.buf.dataStart + <usize>this.pos, v.dataStart, <usize>v.length);
    this.pos += v.length;
  }

  // proto3: fields at their default value are not written.
  double(field: u32, v: f64): void {
    if (v == 0 && 1 / v > 0) return;
    this.tag(field, WireType.I64);
    this.reserve(8);
    store<f64>(this.buf.dataStart + <usize>this.pos, v);
    this.pos += 8;
  }
  float(field: u32, v: f32): void {
    if (v == 0 && 1 / v > 0) return;
    this.tag(field, WireType.I32);
    this.reserve(4);
    store<f32>(this.buf.dataStart + <usize>this.pos, v);
    this.pos += 4;
  }
  fixed64(field: u32, v: u64): void {
    if (v == 0) return;
    this.tag(field, WireType.I64);
    this.reserve(8);
    store<u64>(this.buf.dataStart + <usize>this.pos, v);
    this.pos += 8;
  }
  fixed32(field: u32, v: u32): void {
    if (v == 0) return;
    this.tag(field, WireType.I32);
    this.reserve(4);
    store<u32>(this.buf.dataStart + <usize>this.pos, v);
    this.pos += 4;
  }
  int32(field: u32, v: i32): void {
    if (v == 0) return;
    this.tag(field, WireType.VARINT);
    this.rawVarint(<u64><i64>v); // negative int32 takes 10 bytes, as protobuf specifies
  }
  int64(field: u32, v: i64): void {
    if (v == 0) return;
    this.tag(field, WireType.VARINT);
    this.rawVarint(<u64>v);
  }
  uint32(field: u32, v: u32): void {
    if (v == 0) return;
    this.tag(field, WireType.VARINT);
    this.rawVarint(<u64>v);
  }
  uint64(field: u32, v: u64): void {
    if (v == 0) return;
    this.tag(field, WireType.VARINT);
    this.rawVarint(v);
  }
  sint32(field: u32, v: i32): void {
    if (v == 0) return;
    this.tag(field, WireType.VARINT);
    this.rawVarint(<u64>(<u32>((v << 1) ^ (v >> 31))));
  }
  sint64(field: u32, v: i64): void {
    if (v == 0) return;
    this.tag(field, WireType.VARINT);
    this.rawVarint(<u64>((v << 1) ^ (v >> 63)));
  }
  bool(field: u32, v: bool): void {
    if (!v) return;
    this.tag(field, WireType.VARINT);
    this.rawVarint(1);
  }
  bytes(field: u32, v: Uint8Array): void {
    if (v.length == 0) return;
    this.tag(field, WireType.LEN);
    this.rawVarint(<u64>v.length);
    this.reserve(v.length);
    memory.copy(this.buf.dataStart + <usize>this.pos, v.dataStart, <usize>v.length);
    this.pos += v.length;
  }
  string(field: u32, v: string): void {
    if (v.length == 0) return;
    this.bytes(field, Uint8Array.wrap(String.UTF8.encode(v)));
  }
  /** A nested message (always written, even when empty, so presence is kept). */
  message(field: u32, m: Writer): void {
    this.tag(field, WireType.LEN);
    this.rawVarint(<u64>m.pos);
    this.reserve(m.pos);
    memory.copy(this.buf.dataStart + <usize>this.pos, m.buf.dataStart, <usize>m.pos);
    this.pos += m.pos;
  }

  /** The encoded message. */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

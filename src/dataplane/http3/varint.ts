// QUIC variable-length integers (RFC 9000 §16): the two high bits of the first
// byte give the length (1, 2, 4 or 8 bytes), the rest is the value, big-endian.
//
// Readers take (buf, pos) and return the value; the caller learns the length
// from the first byte with varintSize(), so a hot-path read allocates nothing.
// Values above 2^53 (only reserved frame/stream types reach that far) come back
// rounded as a double, which is enough to tell them from any known type;
// readVarintBig gives the exact value.

export const VARINT_MAX = 2n ** 62n - 1n;
const TWO32 = 0x1_0000_0000;

/** Encoded length in bytes of the varint whose first byte is `first`. */
export function varintSize(first: number): 1 | 2 | 4 | 8 {
  return (1 << (first >> 6)) as 1 | 2 | 4 | 8;
}

/** Bytes needed to encode `v` (a non-negative safe integer). */
export function varintLength(v: number): 1 | 2 | 4 | 8 {
  if (v < 0x40) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x4000_0000) return 4;
  return 8;
}

/** Value at buf[pos]; the caller has checked that varintSize(buf[pos]) bytes are there. */
export function readVarint(buf: Uint8Array, pos: number): number {
  const b0 = buf[pos]!;
  switch (b0 >> 6) {
    case 0:
      return b0;
    case 1:
      return ((b0 & 0x3f) << 8) | buf[pos + 1]!;
    case 2:
      return (((b0 & 0x3f) << 24) | (buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!) >>> 0;
    default: {
      const hi = (((b0 & 0x3f) << 24) | (buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!) >>> 0;
      const lo = ((buf[pos + 4]! << 24) | (buf[pos + 5]! << 16) | (buf[pos + 6]! << 8) | buf[pos + 7]!) >>> 0;
      return hi * TWO32 + lo;
    }
  }
}

/** Exact value at buf[pos] as a bigint (for values that may exceed 2^53). */
export function readVarintBig(buf: Uint8Array, pos: number): bigint {
  const n = varintSize(buf[pos]!);
  let v = BigInt(buf[pos]! & 0x3f);
  for (let i = 1; i < n; i++) v = (v << 8n) | BigInt(buf[pos + i]!);
  return v;
}

/** Writes `v` at buf[pos] in the shortest form; returns the position after it. */
export function writeVarint(buf: Uint8Array, pos: number, v: number): number {
  if (v < 0x40) {
    buf[pos] = v;
    return pos + 1;
  }
  if (v < 0x4000) {
    buf[pos] = 0x40 | (v >> 8);
    buf[pos + 1] = v & 0xff;
    return pos + 2;
  }
  if (v < 0x4000_0000) {
    buf[pos] = 0x80 | (v >>> 24);
    buf[pos + 1] = (v >>> 16) & 0xff;
    buf[pos + 2] = (v >>> 8) & 0xff;
    buf[pos + 3] = v & 0xff;
    return pos + 4;
  }
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`varint ${v} is not a safe non-negative integer`);
  const hi = Math.floor(v / TWO32);
  const lo = v >>> 0;
  buf[pos] = 0xc0 | (hi >>> 24);
  buf[pos + 1] = (hi >>> 16) & 0xff;
  buf[pos + 2] = (hi >>> 8) & 0xff;
  buf[pos + 3] = hi & 0xff;
  buf[pos + 4] = lo >>> 24;
  buf[pos + 5] = (lo >>> 16) & 0xff;
  buf[pos + 6] = (lo >>> 8) & 0xff;
  buf[pos + 7] = lo & 0xff;
  return pos + 8;
}

/** `v` as a fresh buffer. */
export function encodeVarint(v: number): Uint8Array {
  const out = new Uint8Array(varintLength(v));
  writeVarint(out, 0, v);
  return out;
}

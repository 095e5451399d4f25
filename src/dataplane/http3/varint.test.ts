import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeVarint, readVarint, readVarintBig, varintLength, varintSize } from './varint.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

test('RFC 9000 §A.1 examples decode', () => {
  assert.equal(readVarintBig(hex('c2197c5eff14e88c'), 0), 151288809941952652n);
  assert.equal(varintSize(0xc2), 8);
  assert.equal(readVarint(hex('9d7f3e7d'), 0), 494878333);
  assert.equal(varintSize(0x9d), 4);
  assert.equal(readVarint(hex('7bbd'), 0), 15293);
  assert.equal(varintSize(0x7b), 2);
  assert.equal(readVarint(hex('25'), 0), 37);
  assert.equal(readVarint(hex('4025'), 0), 37, 'a non-minimal two-byte 37 is still 37');
});

test('encoding picks the shortest form and round-trips at each boundary', () => {
  assert.deepEqual(encodeVarint(37), hex('25'));
  assert.deepEqual(encodeVarint(15293), hex('7bbd'));
  assert.deepEqual(encodeVarint(494878333), hex('9d7f3e7d'));
  for (const v of [0, 63, 64, 16383, 16384, 2 ** 30 - 1, 2 ** 30, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER]) {
    const e = encodeVarint(v);
    assert.equal(e.length, varintLength(v));
    assert.equal(readVarint(e, 0), v);
    assert.equal(readVarintBig(e, 0), BigInt(v));
  }
});

test('reads at an offset inside a larger buffer', () => {
  const b = hex('ff7bbd25');
  assert.equal(readVarint(b, 1), 15293);
  assert.equal(readVarint(b, 3), 37);
});

test('refuses values it cannot encode', () => {
  assert.throws(() => encodeVarint(2 ** 62), RangeError);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFieldSection, decodeFieldSectionShared, DecoderStreamReader, EncoderStreamReader, FieldSectionTooLargeError } from './decoder.js';
import { encodeFieldSection } from './encoder.js';
import { STATIC_TABLE, staticIndexOf } from './static-table.js';
import { H3Code, H3Error } from '../error-codes.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const code = (c: number) => (e: unknown) => e instanceof H3Error && e.code === c;
const failed = code(H3Code.QPACK_DECOMPRESSION_FAILED);
const MAX = 16 * 1024;

test('the static table has RFC 9204 Appendix A entries', () => {
  assert.equal(STATIC_TABLE.length, 99);
  assert.deepEqual(STATIC_TABLE[0], [':authority', '']);
  assert.deepEqual(STATIC_TABLE[17], [':method', 'GET']);
  assert.deepEqual(STATIC_TABLE[25], [':status', '200']);
  assert.deepEqual(STATIC_TABLE[31], ['accept-encoding', 'gzip, deflate, br']);
  assert.deepEqual(STATIC_TABLE[71], [':status', '500']);
  assert.deepEqual(STATIC_TABLE[98], ['x-frame-options', 'sameorigin']);
  assert.equal(staticIndexOf(':method', 'POST'), 20);
});

test('RFC 9204 B.1: literal field line with static name reference', () => {
  assert.deepEqual(decodeFieldSection(hex('0000 510b 2f69 6e64 6578 2e68 746d 6c'), MAX), [':path', '/index.html']);
});

test('RFC 9204 B.2 and B.4 field sections need the dynamic table: QPACK_DECOMPRESSION_FAILED', () => {
  assert.throws(() => decodeFieldSection(hex('0381 10 11'), MAX), failed, 'Required Insert Count 2');
  assert.throws(() => decodeFieldSection(hex('0500 80 c1 81'), MAX), failed, 'Required Insert Count 4');
});

test('each dynamic-table field line form alone (Required Insert Count 0) is refused', () => {
  for (const line of ['80', '10', '5f00', '4000', '0000']) {
    assert.throws(() => decodeFieldSection(hex(`0000${line}`), MAX), failed, line);
  }
});

test('static indexed lines, static name references and literal names decode', () => {
  const fields = [':method', 'POST', ':scheme', 'https', ':path', '/foo.Bar/Echo', 'content-type', 'application/grpc', 'x-custom', 'Value With Spaces', 'te', 'trailers'];
  const enc = encodeFieldSection(fields);
  assert.equal(enc[0], 0);
  assert.equal(enc[1], 0);
  assert.equal(enc[2], 0xc0 | 20, ':method POST is one indexed byte');
  assert.deepEqual(decodeFieldSection(enc, MAX), fields);
  // Literal with literal name, not Huffman: 001 N=0 H=0 len=3 "abc", value len 3 "xyz"
  assert.deepEqual(decodeFieldSection(hex('0000 23 616263 03 78797a'), MAX), ['abc', 'xyz']);
  // Same with the N (never index) bit set, and a Huffman-coded name
  assert.deepEqual(decodeFieldSection(hex('0000 39 1f 03 78797a'), MAX), ['a', 'xyz']);
});

test('the encoder prefers Huffman when shorter, raw otherwise, and round-trips odd values', () => {
  const values = ['', ' ', 'a'.repeat(300), '\x00\x01\xff', 'grpc-status', '~~~~~~~~', 'Ünïcödé-as-latin1'];
  for (const v of values) {
    const f = ['x-test', v, 'grpc-message', v];
    assert.deepEqual(decodeFieldSection(encodeFieldSection(f), MAX), f);
  }
  const plain = encodeFieldSection(['x', '~~~~']); // '~' has a 13-bit code: raw is shorter
  assert.deepEqual(plain.subarray(2), hex('21 78 04 7e7e7e7e'));
});

test('truncated sections and bad static indexes are QPACK_DECOMPRESSION_FAILED', () => {
  assert.throws(() => decodeFieldSection(hex('00'), MAX), failed);
  assert.throws(() => decodeFieldSection(hex('0000 ff'), MAX), failed, 'index integer cut short');
  assert.throws(() => decodeFieldSection(hex('0000 ff24'), MAX), failed, 'static index 99 does not exist');
  assert.throws(() => decodeFieldSection(hex('0000 51 0b 2f69'), MAX), failed, 'value runs past the end');
  assert.throws(() => decodeFieldSection(hex('0000 ffffffffffffffffffff7f'), MAX), failed, 'integer overflow');
});

test('the decoded size limit counts name + value + 32 per field', () => {
  const f = ['x-a', 'b'.repeat(60)]; // 3 + 60 + 32 = 95
  assert.deepEqual(decodeFieldSection(encodeFieldSection(f), 95), f);
  assert.throws(() => decodeFieldSection(encodeFieldSection(f), 94), (e) => e instanceof FieldSectionTooLargeError && e.scope === 'stream');
  const many = Array.from({ length: 600 }, (_, i) => [`x-${i}`, 'v']).flat();
  assert.throws(() => decodeFieldSection(encodeFieldSection(many), MAX), FieldSectionTooLargeError);
});

test('encoder stream: only Set Dynamic Table Capacity 0 is accepted', () => {
  const ok = new EncoderStreamReader();
  ok.push(hex('20'));
  ok.push(hex('2020'));
  const encErr = code(H3Code.QPACK_ENCODER_STREAM_ERROR);
  assert.throws(() => new EncoderStreamReader().push(hex('3fbd01')), encErr, 'RFC 9204 B.2: capacity 220');
  assert.throws(() => new EncoderStreamReader().push(hex('c00f 7777 772e 6578 616d 706c 652e 636f 6d')), encErr, 'B.2 insert with name reference');
  assert.throws(() => new EncoderStreamReader().push(hex('4a63 7573 746f 6d2d 6b65 790c')), encErr, 'B.3 insert with literal name');
  assert.throws(() => new EncoderStreamReader().push(hex('02')), encErr, 'B.4 duplicate');
  // An endless integer is an error, not an ever-growing wait for more bytes.
  const endless = new EncoderStreamReader();
  assert.throws(() => {
    for (let i = 0; i < 20; i++) endless.push(hex(i === 0 ? '3f' : 'ff'));
  }, encErr);
  // A capacity split across chunks is still seen.
  const split = new EncoderStreamReader();
  split.push(hex('3f'));
  assert.throws(() => split.push(hex('bd01')), encErr);
});

test('decoder stream: Stream Cancellation accepted, acknowledgments and increments refused', () => {
  const r = new DecoderStreamReader();
  r.push(hex('48')); // RFC 9204 B.4: Stream Cancellation (stream 8)
  r.push(hex('7f')); // split varint
  r.push(hex('01'));
  const decErr = code(H3Code.QPACK_DECODER_STREAM_ERROR);
  assert.throws(() => new DecoderStreamReader().push(hex('84')), decErr, 'B.2 Section Acknowledgment');
  assert.throws(() => new DecoderStreamReader().push(hex('01')), decErr, 'B.3 Insert Count Increment');
  const endless = new DecoderStreamReader();
  assert.throws(() => {
    for (let i = 0; i < 20; i++) endless.push(hex(i === 0 ? '7f' : 'ff'));
  }, decErr);
});

test('the shared decoder gives what decodeFieldSection gives, again and again, and still enforces each caller limit', () => {
  const section = encodeFieldSection([':method', 'POST', ':path', '/foo.Bar/Echo', 'content-type', 'application/grpc', 'x-user', 'bob']);
  const direct = decodeFieldSection(section, MAX);
  assert.deepEqual(decodeFieldSectionShared(section, MAX), direct);
  const again = decodeFieldSectionShared(Uint8Array.from(section), MAX);
  assert.deepEqual(again, direct);
  assert.ok(Object.isFrozen(again), 'callers share it, so it cannot be changed');
  // 4 fields: their lengths plus 32 each.
  const size = direct.reduce((n, s) => n + s.length, 0) + 4 * 32;
  assert.throws(() => decodeFieldSectionShared(section, size - 1), (e) => e instanceof FieldSectionTooLargeError);
  assert.deepEqual(decodeFieldSectionShared(section, size), direct);
  // Errors are not remembered as successes.
  assert.throws(() => decodeFieldSectionShared(hex('0381 10 11'), MAX), failed);
  assert.throws(() => decodeFieldSectionShared(hex('0381 10 11'), MAX), failed);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HUFFMAN_CODES, huffmanDecode, huffmanEncode, huffmanLength } from './huffman.js';
import { H3Code, H3Error } from '../error-codes.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const decode = (b: Uint8Array) => huffmanDecode(b, 0, b.length);

// RFC 7541 Appendix C.4 and C.6 (requests and responses with Huffman coding).
const examples: Array<[string, string]> = [
  ['www.example.com', 'f1e3 c2e5 f23a 6ba0 ab90 f4ff'],
  ['no-cache', 'a8eb 1064 9cbf'],
  ['custom-key', '25a8 49e9 5ba9 7d7f'],
  ['custom-value', '25a8 49e9 5bb8 e8b4 bf'],
  ['302', '6402'],
  ['private', 'aec3 771a 4b'],
  ['Mon, 21 Oct 2013 20:13:21 GMT', 'd07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff'],
  ['https://www.example.com', '9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3'],
];

test('RFC 7541 Appendix C Huffman examples encode and decode', () => {
  for (const [text, wire] of examples) {
    assert.deepEqual(huffmanEncode(text), hex(wire), text);
    assert.equal(huffmanLength(text), hex(wire).length);
    assert.equal(decode(hex(wire)), text);
  }
});

test('the code table is complete and prefix-free (Kraft sum exactly 1)', () => {
  assert.equal(HUFFMAN_CODES.length, 257);
  let sum = 0;
  for (const [, bits] of HUFFMAN_CODES) sum += 2 ** -bits;
  assert.equal(sum, 1);
  assert.deepEqual(HUFFMAN_CODES[256], [0x3fffffff, 30], 'EOS');
});

test('every byte value round-trips', () => {
  const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
  assert.equal(decode(huffmanEncode(all)), all);
  for (let i = 0; i < 256; i++) assert.equal(decode(huffmanEncode(String.fromCharCode(i))), String.fromCharCode(i));
});

const failed = (e: unknown) => e instanceof H3Error && e.code === H3Code.QPACK_DECOMPRESSION_FAILED;

test('decoding rejects EOS, over-long padding and padding that is not all ones', () => {
  assert.throws(() => decode(hex('ffffffff')), failed, 'EOS (30 ones) inside the string');
  assert.throws(() => decode(hex('1fff')), failed, "'a' then 11 bits of padding");
  assert.throws(() => decode(hex('18')), failed, "'a' then padding 000");
  assert.throws(() => decode(hex('ff')), failed, '8 bits of padding and no symbol');
  assert.equal(decode(hex('1f')), 'a', "'a' then 3 bits of ones padding");
  assert.equal(decode(new Uint8Array(0)), '');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv, createCipheriv } from 'node:crypto';
import { serverInitialKeys, initialClose } from './refuse.js';

// RFC 9001 Appendix A.1: keys derived from the client's DCID 0x8394c8f03e515708.
const RFC_DCID = Buffer.from('8394c8f03e515708', 'hex');

test('server Initial keys match RFC 9001 Appendix A.1', () => {
  const k = serverInitialKeys(RFC_DCID);
  assert.equal(k.key.toString('hex'), 'cf3a5331653c364c88f0f379b6067e37');
  assert.equal(k.iv.toString('hex'), '0ac1493ca1905853b0bba03e');
  assert.equal(k.hp.toString('hex'), 'c206b8d9b9f0f37644430b490eeaa314');
});

test('the refusal packet decrypts to CONNECTION_CLOSE(CONNECTION_REFUSED) with its reason', () => {
  const clientScid = Buffer.from('c0ffee0011223344', 'hex');
  const pkt = initialClose(RFC_DCID, clientScid, 0x2, 'too many connections');
  // Long header, Initial, version 1, addressed to the client's SCID.
  assert.equal(pkt[0] & 0xf0, 0xc0);
  assert.equal(pkt.readUInt32BE(1), 1);
  assert.equal(pkt[5], clientScid.length);
  assert.deepEqual(pkt.subarray(6, 6 + clientScid.length), clientScid);
  let off = 6 + clientScid.length;
  const scidLen = pkt[off];
  off += 1 + scidLen;
  assert.equal(pkt[off], 0, 'empty token');
  off += 1;
  const length = ((pkt[off] & 0x3f) << 8) | pkt[off + 1];
  off += 2;
  assert.equal(pkt.length, off + length);
  // Remove header protection, then open the AEAD.
  const k = serverInitialKeys(RFC_DCID);
  const mask = createCipheriv('aes-128-ecb', k.hp, null).update(pkt.subarray(off + 4, off + 20));
  const first = pkt[0] ^ (mask[0] & 0x0f);
  const pnLen = (first & 0x03) + 1;
  assert.equal(pnLen, 1);
  const pn = pkt[off] ^ mask[1];
  assert.equal(pn, 0);
  const header = Buffer.from(pkt.subarray(0, off + 1));
  header[0] = first;
  header[off] = pn;
  const body = pkt.subarray(off + 1, pkt.length - 16);
  const d = createDecipheriv('aes-128-gcm', k.key, k.iv);
  d.setAAD(header);
  d.setAuthTag(pkt.subarray(pkt.length - 16));
  const plain = Buffer.concat([d.update(body), d.final()]);
  assert.equal(plain[0], 0x1c, 'CONNECTION_CLOSE (transport)');
  assert.equal(plain[1], 0x02, 'CONNECTION_REFUSED');
  assert.equal(plain[2], 0x00, 'frame type');
  assert.equal(plain[3], 20);
  assert.equal(plain.subarray(4).toString(), 'too many connections');
});

// The SNI read from a client's first Initial packet, as quiche's own client
// (BoringSSL) builds it; the end-to-end check with GnuTLS's client is in
// src/dataplane/certs/http3.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { buildConfig, quiche } from './native.js';
import { DEFAULT_LIMITS } from '../../limits.js';
import { clientInitialKeys, serverNameOfInitial } from './initial-sni.js';

function firstDatagram(serverName: string | null): Buffer {
  const cfg = buildConfig({ verifyPeer: false, alpn: ['h3'], idleTimeoutMs: 1000, maxStreamsBidi: 10, maxStreamsUni: 3, windows: DEFAULT_LIMITS });
  const conn = quiche.Connection.connect(serverName, randomBytes(20), { host: '127.0.0.1', port: 1 }, { host: '127.0.0.1', port: 2 }, cfg);
  const out = Buffer.alloc(1500);
  const n = conn.send(out) as unknown as number | [number, unknown];
  return out.subarray(0, typeof n === 'number' ? n : n[0]);
}

test('RFC 9001 A.1: the client Initial keys of DCID 0x8394c8f03e515708', () => {
  const k = clientInitialKeys(Buffer.from('8394c8f03e515708', 'hex'));
  assert.equal(k.key.toString('hex'), '1f369613dd76d5467730efcbe3b1a22d');
  assert.equal(k.iv.toString('hex'), 'fa044b2f42a3fd3b46fb255c');
  assert.equal(k.hp.toString('hex'), '9f50449e04a0e810283a1e9933adedd2');
});

test('the server name of a quiche (BoringSSL) client\'s first Initial, any length and case', () => {
  for (const name of ['a.test', 'Payments.Example.COM', `${'x'.repeat(63)}.${'y'.repeat(63)}.example`]) {
    assert.equal(serverNameOfInitial(firstDatagram(name)), name.toLowerCase());
  }
});

test('no SNI, a short-header packet, a corrupted Initial: undefined', () => {
  assert.equal(serverNameOfInitial(firstDatagram(null)), undefined);
  assert.equal(serverNameOfInitial(Buffer.from([0x40, 1, 2, 3])), undefined);
  const d = Buffer.from(firstDatagram('a.test'));
  d[100]! ^= 0xff; // fails the AEAD tag
  assert.equal(serverNameOfInitial(d), undefined);
  assert.equal(serverNameOfInitial(d.subarray(0, 40)), undefined);
});

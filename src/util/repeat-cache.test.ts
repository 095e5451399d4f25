import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashBytes, hashString, RepeatCache, sameBytes } from './repeat-cache.js';

test('RepeatCache keeps a key from its second miss on, and replaces what shares its slot', () => {
  const c = new RepeatCache<string, number>(8, (a, b) => a === b);
  const k = 'content-type\0application/grpc';
  const h = hashString(k);
  assert.equal(c.get(k, h), undefined);
  assert.equal(c.admits(h), false, 'a first miss only notes the hash');
  assert.equal(c.admits(h), true, 'the second miss stores');
  c.set(k, h, 1);
  assert.equal(c.get(k, h), 1);
  // Another key with the same hash (so the same slot) is not mistaken for it.
  assert.equal(c.get('other', h), undefined);
  assert.equal(c.admits(h), true);
  c.set('other', h, 2);
  assert.equal(c.get('other', h), 2);
  assert.equal(c.get(k, h), undefined, 'replaced in place');
});

test('RepeatCache: keys that never repeat are never stored', () => {
  const c = new RepeatCache<string, number>(512, (a, b) => a === b);
  let admitted = 0;
  for (let i = 0; i < 100_000; i++) if (c.admits(hashString(`grpc-timeout\0${i}m`))) admitted++;
  // Only a hash collision in the same slot admits a one-off; FNV-1a gives almost none.
  assert.ok(admitted < 10, `${admitted} one-off keys admitted`);
});

test('hashBytes and hashString agree on latin1 text; sameBytes compares contents', () => {
  const s = ':path\0/foo.Bar/Echo';
  assert.equal(hashBytes(Buffer.from(s, 'latin1')), hashString(s));
  assert.ok(sameBytes(Uint8Array.of(1, 2, 3), Buffer.from([1, 2, 3])));
  assert.ok(!sameBytes(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 4)));
  assert.ok(!sameBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3)));
});

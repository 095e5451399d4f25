import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addMetadata, invalidEntry, percentDecode, percentEncode, requestMetadata } from './metadata.js';
import type { OutgoingFields } from '../universal.js';

test('request metadata keeps custom keys, decodes -bin, drops reserved and transport fields', () => {
  const md = requestMetadata([
    ':method', 'POST',
    ':path', '/foo.Bar/Echo',
    'content-type', 'application/grpc',
    'te', 'trailers',
    'grpc-timeout', '1S',
    'grpc-encoding', 'gzip',
    'x-user', 'alice',
    'trace-bin', Buffer.from([1, 2, 255]).toString('base64'),
    'multi-bin', `${Buffer.from('a').toString('base64')},${Buffer.from('bc').toString('base64').replace(/=+$/, '')}`,
    'set-cookie', 'a=1',
    'set-cookie', 'b=2',
  ]);
  assert.deepEqual(md, [
    ['x-user', 'alice'],
    ['trace-bin', Buffer.from([1, 2, 255])],
    ['multi-bin', Buffer.from('a')],
    ['multi-bin', Buffer.from('bc')],
    ['set-cookie', 'a=1'],
    ['set-cookie', 'b=2'],
  ]);
});

test('guest metadata is encoded for the wire and invalid entries are skipped with a reason', () => {
  const f: OutgoingFields = {};
  const why = addMetadata(f, [
    ['x-a', 'one'],
    ['x-a', 'two'],
    ['blob-bin', Uint8Array.of(0, 1, 2)],
    ['grpc-status', '0'],
    ['Bad', 'x'],
    ['text-bin', 'x'],
    ['x-ctl', 'a\nb'],
  ]);
  assert.deepEqual(f, { 'x-a': ['one', 'two'], 'blob-bin': 'AAEC' });
  assert.match(why!, /grpc-status.*reserved/);
  assert.match(invalidEntry('text-bin', 'x')!, /ends in -bin but has a text value/);
  assert.match(invalidEntry('x-ctl', 'a\nb')!, /not printable ASCII/);
  assert.equal(invalidEntry('ok.key_1-x', 'v'), undefined);
});

test('grpc-message percent-encoding round-trips UTF-8 and leaves plain ASCII alone', () => {
  assert.equal(percentEncode('plain message'), 'plain message');
  assert.equal(percentEncode('50% off\n'), '50%25 off%0A');
  assert.equal(percentEncode('żółw'), '%C5%BC%C3%B3%C5%82w');
  for (const s of ['żółw 🐢 100%', 'a\r\nb', '']) assert.equal(percentDecode(percentEncode(s)), s);
  assert.equal(percentDecode('bad %zz escape'), 'bad %zz escape');
});

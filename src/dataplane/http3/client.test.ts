// How our client reads a gRPC answer (grpcResult): the cases a gRPC client
// must tell apart, from HTTP/3 responses as the connection delivers them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { grpcResult, type H3Response } from './client.js';
import { encodeMessage } from '../grpc/framing.js';
import { Code } from '../../errors.js';

const res = (status: number, headers: string[], body: Uint8Array, trailers: string[] | null): H3Response => ({ status, headers, body, trailers });

test('headers, one message, trailers with status and a percent-encoded message', () => {
  const r = grpcResult(res(200, ['content-type', 'application/grpc'], encodeMessage(Buffer.from('hi')), ['grpc-status', '0', 'grpc-message', 'caf%C3%A9', 'x-a', '1']));
  assert.equal(r.code, Code.OK);
  assert.equal(r.message, 'café');
  assert.deepEqual(r.messages.map((m) => Buffer.from(m).toString()), ['hi']);
  assert.equal(r.trailers['x-a'], '1');
});

test('a trailers-only answer reports its fields as headers, like node:http2 does', () => {
  const r = grpcResult(res(200, ['grpc-status', '5', 'grpc-message', 'no such thing'], new Uint8Array(0), null));
  assert.deepEqual([r.code, r.message, r.messages.length], [Code.NOT_FOUND, 'no such thing', 0]);
  assert.equal(r.headers['grpc-status'], '5');
  assert.deepEqual({ ...r.trailers }, {});
});

test('HTTP statuses without grpc-status map as the gRPC spec says', () => {
  assert.equal(grpcResult(res(404, [], new Uint8Array(0), null)).code, Code.UNIMPLEMENTED);
  assert.equal(grpcResult(res(503, [], new Uint8Array(0), null)).code, Code.UNAVAILABLE);
  const r = grpcResult(res(431, ['content-type', 'text/plain'], Buffer.from('too big\n'), null));
  assert.equal(r.code, Code.UNKNOWN);
  assert.match(r.message, /HTTP status 431: too big/);
  assert.equal(grpcResult(res(200, [], new Uint8Array(0), ['x', 'y'])).code, Code.UNKNOWN, 'a 200 without grpc-status');
});

test('compressed messages are inflated per grpc-encoding; a truncated body is INTERNAL', () => {
  const gz = grpcResult(res(200, ['grpc-encoding', 'gzip'], encodeMessage(zlib.gzipSync(Buffer.from('zipped')), true), ['grpc-status', '0']));
  assert.equal(Buffer.from(gz.messages[0]!).toString(), 'zipped');
  const cut = encodeMessage(Buffer.from('whole message')).subarray(0, 8);
  const r = grpcResult(res(200, [], cut, ['grpc-status', '0']));
  assert.equal(r.code, Code.INTERNAL);
  assert.match(r.message, /truncated/);
  const noEnc = grpcResult(res(200, [], encodeMessage(Buffer.from('x'), true), ['grpc-status', '0']));
  assert.equal(noEnc.code, Code.INTERNAL);
});

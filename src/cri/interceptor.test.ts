import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { Code, WorkdError } from '../errors.js';
import { toStatus } from './interceptor.js';

test('every WorkdError code maps to the gRPC status of the same name, with the message as details', () => {
  for (const [name, code] of Object.entries(Code)) {
    if (code === Code.OK) continue;
    const s = toStatus(new WorkdError(code, `why ${name}`));
    assert.equal(s.code, grpc.status[name as keyof typeof grpc.status], name);
    assert.equal(s.details, `why ${name}`);
  }
});

test('anything else is INTERNAL, saying what broke', () => {
  assert.deepEqual(toStatus(new TypeError('x is undefined')), { code: grpc.status.INTERNAL, details: 'internal error: x is undefined' });
  assert.equal(toStatus('a string').code, grpc.status.INTERNAL);
});

test('long messages are cut in the middle with a marker, within the bound, on a character boundary', async () => {
  const { boundedMessage: boundedDetails } = await import('../errors.js');
  const MAX_ERROR_DETAILS_BYTES = (await import('../limits.js')).fixedLimit('statusMessageBytes');
  const id = 'x'.repeat(200_000);
  const s = toStatus(new WorkdError(Code.NOT_FOUND, `container ${id} not found`));
  assert.ok(Buffer.byteLength(s.details!) <= MAX_ERROR_DETAILS_BYTES, `${Buffer.byteLength(s.details!)} bytes`);
  assert.match(s.details!, /^container x+ \[… \d+ bytes cut …\] x+ not found$/);
  const cut = Number(/\[… (\d+) bytes cut/.exec(s.details!)![1]);
  assert.equal(Buffer.byteLength(s.details!) - Buffer.byteLength(` [… ${cut} bytes cut …] `) + cut, Buffer.byteLength(`container ${id} not found`), 'the marker counts exactly what was cut');
  const wide = boundedDetails('é€😀'.repeat(10_000), 1000);
  assert.ok(Buffer.byteLength(wide) <= 1000);
  assert.ok(!wide.includes('\ufffd'), 'no character is split');
  assert.equal(boundedDetails('short'), 'short');
  assert.ok(Buffer.byteLength(toStatus(new Error('y'.repeat(100_000))).details!) <= MAX_ERROR_DETAILS_BYTES);
});

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

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Code, WorkdError } from '../../errors.js';
import { formatTimeout, parseTimeout } from './timeout.js';

test('parses every unit of grpc-timeout', () => {
  assert.equal(parseTimeout('1H'), 3_600_000);
  assert.equal(parseTimeout('2M'), 120_000);
  assert.equal(parseTimeout('3S'), 3000);
  assert.equal(parseTimeout('250m'), 250);
  assert.equal(parseTimeout('1500u'), 1.5);
  assert.equal(parseTimeout('2000000n'), 2);
  assert.equal(parseTimeout('99999999S'), 99_999_999_000);
});

test('refuses malformed grpc-timeout with INTERNAL naming the value', () => {
  for (const bad of ['', 'S', '10', '10s', '123456789S', '-1S', '1.5S', ' 1S']) {
    assert.throws(() => parseTimeout(bad), (e: unknown) => e instanceof WorkdError && e.code === Code.INTERNAL && e.message.includes(JSON.stringify(bad)), bad);
  }
});

test('formats timeouts that parse back to at least the same duration', () => {
  for (const ms of [0.001, 1, 250, 1000, 59_999, 3_600_000 * 30]) {
    const text = formatTimeout(ms);
    assert.ok(parseTimeout(text) >= ms, `${ms} -> ${text}`);
    assert.ok(text.length <= 9);
  }
});

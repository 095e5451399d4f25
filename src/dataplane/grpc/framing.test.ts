import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Code, WorkdError } from '../../errors.js';
import { encodeMessage, MessageDecoder } from './framing.js';
import { ByteBudget } from './budget.js';

function collect(max = 1024) {
  const messages: Array<[boolean, string]> = [];
  const errors: WorkdError[] = [];
  const d = new MessageDecoder(
    {
      onMessage: (c, m) => messages.push([c, Buffer.from(m).toString()]),
      onFrameError: (e) => errors.push(e),
    },
    max,
  );
  return { d, messages, errors };
}

test('decodes several messages from one chunk and from byte-by-byte chunks', () => {
  const wire = Buffer.concat([encodeMessage(Buffer.from('hello')), encodeMessage(Buffer.from('')), encodeMessage(Buffer.from('world'), true)]);
  const whole = collect();
  whole.d.push(wire);
  assert.deepEqual(whole.messages, [[false, 'hello'], [false, ''], [true, 'world']]);
  assert.ok(whole.d.end());
  const bytes = collect();
  for (const b of wire) bytes.d.push(Uint8Array.of(b));
  assert.deepEqual(bytes.messages, whole.messages);
  assert.ok(bytes.d.end());
  assert.deepEqual(bytes.errors, []);
});

test('a compressed flag other than 0 or 1 is a malformed prefix (INTERNAL)', () => {
  const c = collect();
  c.d.push(Uint8Array.of(7, 0, 0, 0, 1, 65));
  assert.equal(c.errors.length, 1);
  assert.equal(c.errors[0]!.code, Code.INTERNAL);
  assert.match(c.errors[0]!.message, /malformed length prefix: compressed flag is 0x07/);
  assert.deepEqual(c.messages, []);
});

test('a length above the limit is refused before its bytes arrive (RESOURCE_EXHAUSTED)', () => {
  const c = collect(10);
  c.d.push(Uint8Array.of(0, 0xff, 0xff, 0xff, 0xff));
  assert.equal(c.errors[0]!.code, Code.RESOURCE_EXHAUSTED);
  assert.match(c.errors[0]!.message, /4294967295 bytes is larger than the limit of 10 bytes/);
});

test('end of stream inside a message or prefix is a truncated message (INTERNAL)', () => {
  const c = collect();
  c.d.push(Uint8Array.of(0, 0, 0, 0, 9, 1, 2));
  assert.equal(c.d.end(), false);
  assert.match(c.errors[0]!.message, /truncated message: received 2 of 9 bytes/);
  const p = collect();
  p.d.push(Uint8Array.of(0, 0));
  assert.equal(p.d.end(), false);
  assert.match(p.errors[0]!.message, /truncated length prefix: received 2 of 5 bytes/);
});

test('partial messages hold only the bytes that arrived, counted against a shared budget', () => {
  const budget = new ByteBudget(100);
  const errors: WorkdError[] = [];
  const got: number[] = [];
  const sink = { onMessage: (_c: boolean, m: Uint8Array) => got.push(m.length), onFrameError: (e: WorkdError) => errors.push(e) };
  const a = new MessageDecoder(sink, 1 << 20, budget);
  const b = new MessageDecoder(sink, 1 << 20, budget);
  // A prefix claiming 1 MiB reserves nothing by itself.
  a.push(Uint8Array.of(0, 0, 0x10, 0, 0));
  assert.equal(budget.used, 0);
  a.push(new Uint8Array(60));
  assert.equal(budget.used, 60);
  b.push(Uint8Array.of(0, 0, 0, 0, 80));
  b.push(new Uint8Array(30));
  assert.equal(budget.used, 90);
  b.push(new Uint8Array(30));
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.code, Code.RESOURCE_EXHAUSTED);
  assert.match(errors[0]!.message, /too much unfinished request data \(limit 100 bytes\)/);
  assert.equal(budget.used, 60, 'the failed decoder gave its bytes back');
  a.dispose();
  assert.equal(budget.used, 0);
  // A message completed in pieces is delivered whole and releases its reservation.
  const c = new MessageDecoder(sink, 1 << 20, budget);
  c.push(Uint8Array.of(0, 0, 0, 0, 50));
  c.push(new Uint8Array(20));
  c.push(new Uint8Array(30));
  assert.deepEqual(got, [50]);
  assert.equal(budget.used, 0);
});

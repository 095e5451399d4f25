import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { Code, WorkdError } from '../../errors.js';
import { accepts, compress, decompress, parseEncoding } from './compression.js';

function run(fn: (done: (err: WorkdError | Error | null, out?: Uint8Array) => void) => void) {
  return new Promise<{ err: WorkdError | Error | null; out?: Uint8Array }>((resolve) => fn((err, out) => resolve({ err, out })));
}

test('encodings: identity, gzip, deflate; others are unknown', () => {
  assert.equal(parseEncoding(undefined), 'identity');
  assert.equal(parseEncoding('gzip'), 'gzip');
  assert.equal(parseEncoding('deflate'), 'deflate');
  assert.equal(parseEncoding('br'), undefined);
  assert.ok(accepts('identity, gzip', 'gzip'));
  assert.ok(!accepts('identity', 'deflate'));
  assert.ok(!accepts(undefined, 'gzip'));
});

for (const inline of [true, false]) {
  test(`gzip and deflate round-trip (${inline ? 'inline' : 'thread pool'})`, async () => {
    const data = Buffer.from('x'.repeat(10_000));
    for (const enc of ['gzip', 'deflate'] as const) {
      const c = await run((d) => compress(enc, data, inline, d));
      assert.equal(c.err, null);
      assert.ok(c.out!.length < data.length);
      const u = await run((d) => decompress(enc, c.out!, 1 << 20, inline, d));
      assert.deepEqual(Buffer.from(u.out!), data);
    }
  });

  test(`a decompression bomb stops at the limit with RESOURCE_EXHAUSTED (${inline ? 'inline' : 'thread pool'})`, async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(8 << 20));
    const r = await run((d) => decompress('gzip', bomb, 1 << 20, inline, d));
    assert.ok(r.err instanceof WorkdError);
    assert.equal((r.err as WorkdError).code, Code.RESOURCE_EXHAUSTED);
  });

  test(`garbage is INTERNAL naming the encoding (${inline ? 'inline' : 'thread pool'})`, async () => {
    const r = await run((d) => decompress('deflate', Buffer.from('not deflate'), 1 << 20, inline, d));
    assert.equal((r.err as WorkdError).code, Code.INTERNAL);
    assert.match(r.err!.message, /not valid deflate data/);
  });
}

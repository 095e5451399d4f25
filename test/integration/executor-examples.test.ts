// The examples, built from source as `npm run examples` builds them, served by a real executor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import { readCriLog } from '../helpers/cri-logs.js';
import { startGuest, tempDir, testExecutor, text, utf8 } from '../helpers/executor.js';
import { Code } from '../../src/errors.js';

interface Compiled { name: string; wasm: Uint8Array }
const here = dirname(fileURLToPath(import.meta.url));
const root = [join(here, '..', '..', '..'), join(here, '..', '..')].find((d) => existsSync(join(d, 'scripts', 'examples.mjs')))!;
const examples = (await import(pathToFileURL(join(root, 'scripts', 'examples.mjs')).href)) as {
  compileExample(name: string): Promise<Compiled>;
  haveWasiClang(): boolean;
};

const f64 = (tag: number, v: number) => {
  const b = new Uint8Array(9);
  b[0] = tag;
  new DataView(b.buffer).setFloat64(1, v, true);
  return b;
};
const call = (method: string, request = new Uint8Array(0)) => ({ method, request, metadata: [] as [string, string][] });

async function waitForLog(path: string, atLeast: number) {
  for (let i = 0; i < 200; i++) {
    const m = existsSync(path) ? await readCriLog(path) : [];
    if (m.length >= atLeast) return m;
    await new Promise((r) => setTimeout(r, 10));
  }
  return readCriLog(path);
}

test('add-floats answers AddFloats(3.5, -1.2) = 2.3 and logs it', async (t) => {
  const ex = testExecutor();
  t.after(() => ex.close());
  const { wasm } = await examples.compileExample('add-floats');
  const logPath = join(tempDir(), 'add.log');
  const c = await startGuest(ex, wasm, { logPath });
  assert.deepEqual([...c.methods], ['AddFloats']);
  const r = await c.call(call('AddFloats', Uint8Array.from([...f64(0x09, 3.5), ...f64(0x11, -1.2)])));
  assert.equal(r.status, 0, r.message);
  assert.equal(r.response![0], 0x09);
  assert.equal(new DataView(r.response!.buffer, r.response!.byteOffset + 1).getFloat64(0, true), 2.3);
  const zero = await c.call(call('AddFloats'));
  assert.equal(zero.response!.length, 0, 'sum 0 is the default: an empty message');
  const bad = await c.call(call('AddFloats', Uint8Array.from([0x09, 1, 2])));
  assert.deepEqual([bad.status, bad.message], [Code.INVALID_ARGUMENT, 'malformed AddFloatsRequest']);
  assert.deepEqual((await waitForLog(logPath, 2)).map((m) => m.text).slice(0, 2), ['AddFloats(3.5, -1.2) = 2.3', 'AddFloats(0.0, 0.0) = 0.0']);
});

test('echo answers its request with a length trailer; hello-wat greets', async (t) => {
  const ex = testExecutor();
  t.after(() => ex.close());
  const echo = await startGuest(ex, (await examples.compileExample('echo')).wasm);
  const msg = Uint8Array.from([0x0a, 3, 1, 2, 3, 0x12, 2, 0x68, 0x69]);
  const r = await echo.call({ method: 'Echo', request: msg, metadata: [['x-caller', 'test']] });
  assert.equal(r.status, 0, r.message);
  assert.deepEqual([...r.response!], [...msg]);
  assert.deepEqual(r.trailers, [['x-echo-length', '9']]);

  const hello = await startGuest(ex, (await examples.compileExample('hello-wat')).wasm);
  const name = utf8('Ada');
  const h = await hello.call(call('Hello', Uint8Array.from([0x0a, name.length, ...name])));
  assert.equal(h.status, 0, h.message);
  assert.equal(text(h), '\x0a\x0bHello, Ada!');
  assert.equal(text(await hello.call(call('Hello'))), '\x0a\x0dHello, world!');
  const long = utf8('x'.repeat(300));
  const hl = await hello.call(call('Hello', Uint8Array.from([0x0a, 0xac, 0x02, ...long])));
  assert.equal(hl.response!.length, 3 + 308);
  const broken = await hello.call(call('Hello', Uint8Array.from([0x0a, 50, 1])));
  assert.equal(broken.status, Code.INVALID_ARGUMENT);
});

test('misbehave: every misbehaviour is contained and Ok keeps answering', async (t) => {
  // The time limit is wall-clock time on the worker: generous, so Flood finishes on a busy machine.
  const ex = testExecutor({ cpuMsPerCall: 1000 });
  t.after(() => ex.close());
  const logPath = join(tempDir(), 'mis.log');
  const c = await startGuest(ex, (await examples.compileExample('misbehave')).wasm, { logPath, limits: { memoryBytes: 8 << 20 } });
  const oks = Array.from({ length: 50 }, () => c.call(call('Ok')));
  const [trap, loop, grow, flood] = await Promise.all([c.call(call('Trap')), c.call(call('Loop')), c.call(call('Grow')), c.call(call('Flood'))]);
  assert.equal(trap.status, Code.INTERNAL);
  assert.match(trap.message, /unreachable/);
  assert.equal(loop.status, Code.RESOURCE_EXHAUSTED);
  assert.equal(grow.status, Code.RESOURCE_EXHAUSTED);
  assert.match(grow.message, /memory limit of 8388608 bytes/);
  assert.equal(flood.status, 0);
  for (const r of await Promise.all(oks)) assert.equal(r.status, 0);
  const log = await waitForLog(logPath, 1000);
  assert.ok(log.every((m) => !m.text.startsWith('flood') || m.text.length === 1023));
  assert.ok(log.some((m) => /bytes of output dropped/.test(m.text)));
  assert.equal(log.filter((m) => m.text.startsWith('flood line ')).length > 1000, true);
});

test('wordcount-c (C with wasi-libc): counts, echoes a metadata trailer, printf reaches the log, getenv sees env', async (t) => {
  if (!examples.haveWasiClang()) {
    t.skip('clang for wasm32-wasi is not installed (Debian: clang lld wasi-libc libclang-rt-14-dev-wasm32)');
    return;
  }
  const ex = testExecutor();
  t.after(() => ex.close());
  const logPath = join(tempDir(), 'words.log');
  const c = await startGuest(ex, (await examples.compileExample('wordcount-c')).wasm, { logPath, env: { WORDS_NAME: 'wc' } });
  const body = utf8('the quick brown fox\njumps over\nthe extraordinarily lazy dog');
  const req = Uint8Array.from([0x0a, body.length, ...body]);
  const rs = await Promise.all(Array.from({ length: 20 }, () => c.call({ method: 'Count', request: req, metadata: [['x-request-id', 'r-42']] })));
  for (const r of rs) {
    assert.equal(r.status, 0, r.message);
    // words = 10, lines = 3, longest = "extraordinarily"
    assert.deepEqual([...r.response!.subarray(0, 4)], [0x08, 10, 0x10, 3]);
    assert.equal(new TextDecoder().decode(r.response!.subarray(6)), 'extraordinarily');
    assert.deepEqual(r.trailers, [['x-request-id', 'r-42']]);
  }
  const bad = await c.call({ method: 'Count', request: Uint8Array.from([0x0a, 50, 1]), metadata: [] });
  assert.deepEqual([bad.status, bad.message], [Code.INVALID_ARGUMENT, 'malformed text.CountRequest']);
  const log = await waitForLog(logPath, 20);
  assert.equal(log.filter((m) => m.text === 'wc counted 10 words in 3 lines').length, 20);
});

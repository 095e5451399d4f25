// Components (WIT worlds from the .proto, run through jco's transpile) keep
// every promise of guest ABI v1: pristine state per call, limits, deadlines,
// logs, traps as statuses, and WASI 0.2 granting only what ABI v1 grants.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { parseDescriptorSet } from '../../src/images/proto-compile.js';
import { testExecutor, tempDir } from '../helpers/executor.js';
import { fixtureComponent, startComponent } from '../helpers/components.js';
import type { GuestResult } from '../../src/wasm/api.js';

const SERVICE = 'test.v1.Counter';

async function counter() {
  const c = await fixtureComponent('counter', SERVICE);
  const reg = parseDescriptorSet(c.descriptorSet).registry;
  const req = reg.getMessage('test.v1.BumpRequest')!;
  const res = reg.getMessage('test.v1.BumpResponse')!;
  return {
    c,
    request: (text: string) => toBinary(req, create(req, { text })),
    answer: (r: GuestResult) => {
      assert.equal(r.status, 0, r.message);
      const m = fromBinary(res, r.response!) as unknown as { text: string; calls: number };
      return { text: m.text, calls: m.calls };
    },
  };
}

test('a component answers through the executor, and every call of it starts pristine (memory, globals, glue)', async (t) => {
  process.env.WORKD_VERIFY_RESTORE = '1';
  const ex = testExecutor({ workers: 2 });
  delete process.env.WORKD_VERIFY_RESTORE;
  t.after(() => ex.close());
  const { c, request, answer } = await counter();
  const a = await startComponent(ex, c, { imageId: 'sha256:counter-c' });
  const b = await startComponent(ex, c, { imageId: 'sha256:counter-c' });
  assert.deepEqual([...a.methods], ['Bump']);
  for (let round = 0; round < 3; round++) {
    const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).call({ method: 'Bump', request: request(`hi ${i}`), metadata: [] })));
    rs.forEach((r, i) => assert.deepEqual(answer(r), { text: `hi ${i}`, calls: 1 }));
  }
  // Calls that change the glue's state (a resource handed out) or fail are followed by pristine ones too.
  for (const text of ['w', 'e', 't', 'w', 'x']) {
    const r = await a.call({ method: 'Bump', request: request(text), metadata: [] });
    if (text === 'x') assert.deepEqual(answer(r), { text: 'x', calls: 1 });
  }
});

test('a component error result is the gRPC status it names; a trap is INTERNAL; an unknown method UNIMPLEMENTED', async (t) => {
  const ex = testExecutor({ workers: 1 });
  t.after(() => ex.close());
  const { c, request, answer } = await counter();
  const k = await startComponent(ex, c);
  const err = await k.call({ method: 'Bump', request: request('e'), metadata: [] });
  assert.deepEqual([err.status, err.message], [3, 'bad']);
  const trap = await k.call({ method: 'Bump', request: request('t'), metadata: [] });
  assert.equal(trap.status, 13);
  assert.match(trap.message, /^the component trapped: .*unreachable/);
  assert.equal((await k.call({ method: 'Nope', request: new Uint8Array(0), metadata: [] })).status, 12);
  assert.deepEqual(answer(await k.call({ method: 'Bump', request: request('ok'), metadata: [] })), { text: 'ok', calls: 1 });
  const bad = await k.call({ method: 'Bump', request: Uint8Array.of(0x0a, 0x05, 0x41), metadata: [] });
  assert.notEqual(bad.status, 0, 'a request that is not the message fails the call');
});

test('a component gets the request metadata as its context, and sets trailers', async (t) => {
  const ex = testExecutor({ workers: 1 });
  t.after(() => ex.close());
  const { c, request, answer } = await counter();
  const k = await startComponent(ex, c);
  const r = await k.call({ method: 'Bump', request: request('p'), metadata: [['x-user', 'ada']] });
  assert.equal(answer(r).text, 'ada');
  const tr = await k.call({ method: 'Bump', request: request('a'), metadata: [] });
  assert.equal(tr.status, 0, tr.message);
  assert.deepEqual(tr.trailers, [['x-calls', '1']]);
});

test('a component is held to the CPU limit, the caller deadline and the memory limit', async (t) => {
  const ex = testExecutor({ workers: 2, cpuMsPerCall: 200 });
  t.after(() => ex.close());
  const { c, request, answer } = await counter();
  const k = await startComponent(ex, c, { limits: { memoryBytes: 1024 * 1024 } });
  const loop = await k.call({ method: 'Bump', request: request('l'), metadata: [] });
  assert.equal(loop.status, 8, loop.message);
  assert.match(loop.message, /CPU limit of 200 ms/);
  const late = await k.call({ method: 'Bump', request: request('l'), metadata: [], deadline: performance.now() + 50 });
  assert.equal(late.status, 4, late.message);
  const grow = await k.call({ method: 'Bump', request: request('g'), metadata: [] });
  assert.equal(grow.status, 8, grow.message);
  assert.match(grow.message, /memory limit of 1048576 bytes/);
  assert.deepEqual(answer(await k.call({ method: 'Bump', request: request('still'), metadata: [] })), { text: 'still', calls: 1 });
});

test("a component's stdout goes to the container log", async (t) => {
  const ex = testExecutor({ workers: 1 });
  t.after(() => ex.close());
  const { c, request } = await counter();
  const logPath = join(tempDir(), 'c.log');
  const k = await startComponent(ex, c, { logPath });
  assert.equal((await k.call({ method: 'Bump', request: request('w'), metadata: [] })).status, 0);
  await k.stop(1000);
  assert.match(await readFile(logPath, 'utf8'), /stdout F hello from wat\n/);
});

// Sharing the executor between tenants: a container whose calls loop cannot
// make another container's calls wait for its loops; tables count against the
// memory limit. (Latency goals are measured in bench/executor/fairness.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guest, watToWasm } from '../helpers/guests.js';
import { startGuest, testExecutor, text, utf8 } from '../helpers/executor.js';
import { Code } from '../../src/errors.js';
import type { GuestCall, GuestResult } from '../../src/wasm/api.js';

const call = (method: string, request = new Uint8Array(0)): GuestCall => ({ method, request, metadata: [] });
const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);

for (const workers of [2, 3]) {
  test(`${workers} workers: a neighbour with 40 looping calls in flight does not hold up another container's calls`, async (t) => {
    const ex = testExecutor({ workers, cpuMsPerCall: 10_000 });
    t.after(() => ex.close());
    const tenant = await guest('tenant');
    const good = await startGuest(ex, tenant, { containerId: 'good' });
    const bad = await startGuest(ex, tenant, { containerId: 'bad' });
    // The neighbour's loops, sent at once (the Loop method has never been measured: they look short at first).
    let loopsEnded = 0;
    const loops = Array.from({ length: 40 }, () =>
      bad.call(call('Loop')).then((r) => {
        loopsEnded++;
        return r;
      }),
    );
    // Meanwhile the other container's calls, one after another, and in a burst.
    for (let i = 0; i < 10; i++) assert.equal(text(await good.call(call('Echo', utf8(`g${i}`)))), `g${i}`);
    const burst = await Promise.all(Array.from({ length: 100 }, (_, i) => good.call(call('Echo', utf8(`b${i}`)))));
    burst.forEach((r, i) => assert.equal(text(r), `b${i}`));
    assert.equal(loopsEnded, 0, 'every call of the good container was answered before the first loop reached its CPU limit');
    // The looping container holds at most all workers but one.
    const u = ex.usage();
    assert.ok(u.busyWorkers <= workers - 1, `busy workers ${u.busyWorkers}`);
    await bad.stop(0);
    const ended = await Promise.all(loops);
    // Preemption puts a call back to run again; it never fails a call as a lost worker would.
    assert.ok(ended.every((r: GuestResult) => r.status === Code.UNAVAILABLE || r.status === Code.RESOURCE_EXHAUSTED), JSON.stringify(ended.map((r) => r.message)));
    assert.ok(!ended.some((r) => /lost its worker/.test(r.message)));
  });
}

test("a container's own short method is not slowed by its long one: they wait apart", async (t) => {
  const ex = testExecutor({ workers: 2, cpuMsPerCall: 10_000 });
  t.after(() => ex.close());
  const c = await startGuest(ex, await guest('tenant'), { containerId: 'mixed' });
  let loopsEnded = 0;
  const loops = Array.from({ length: 10 }, () => c.call(call('Loop')).then(() => loopsEnded++));
  const echoes = await Promise.all(Array.from({ length: 100 }, (_, i) => c.call(call('Echo', utf8(`${i}`)))));
  echoes.forEach((r, i) => assert.equal(text(r), `${i}`));
  for (let i = 0; i < 20; i++) assert.equal(text(await c.call(call('Echo', utf8('x')))), 'x');
  assert.equal(loopsEnded, 0);
  await c.stop(0);
  await Promise.all(loops);
});

test('tables count against the memory limit: a large table is refused at start, a call growing one past the limit fails', async (t) => {
  const ex = testExecutor({ workers: 1, memoryLimitBytes: 64 * 1024 * 1024, cpuMsPerCall: 10_000 });
  t.after(() => ex.close());
  // 2 million entries: ~80 MB of the node's memory (V8's table and the reset snapshot).
  const big = await watToWasm(`(module
    (memory (export "memory") 1 1)
    (table (export "t") 2000000 funcref)
    (func (export "workd_alloc") (param i32) (result i32) (i32.const 0))
    (func (export "Set") (param i32 i32) (result i32) (table.set 0 (i32.const 5) (ref.null func)) (i32.const 0)))`);
  const prepared = await ex.prepare('sha256:big-table', big, 1);
  await assert.rejects(
    ex.start({ containerId: 'big', module: prepared, env: {}, limits: {} }),
    (e: Error & { code?: number }) => e.code === Code.FAILED_PRECONDITION && /tables of 2000000 entries hold 80000000 bytes/.test(e.message) && /memory limit is 67108864 bytes/.test(e.message),
  );
  // A smaller one fits, and its memory in use says so.
  const small = await watToWasm(`(module
    (memory (export "memory") 1 1)
    (table (export "t") 100000 funcref)
    (func (export "workd_alloc") (param i32) (result i32) (i32.const 0))
    (func (export "Set") (param i32 i32) (result i32) (table.set 0 (i32.const 5) (ref.null func)) (i32.const 0)))`);
  const ok = await startGuest(ex, small, { containerId: 'small-table' });
  assert.equal((await ok.call(call('Set'))).status, 0);
  assert.equal(ex.containerUsage('small-table')!.memoryBytes, 65536 + 4_000_000);
  await ok.stop(0);

  const c = await startGuest(ex, await guest('tenant'), { containerId: 'grower', limits: { memoryBytes: 16 * 1024 * 1024 } });
  const grown = await c.call(call('TableGrow', u32(1_000_000)));
  assert.equal(grown.status, Code.RESOURCE_EXHAUSTED);
  assert.match(grown.message, /memory limit of 16777216 bytes \(linear memory 65536 bytes, tables 40000640 bytes\)/);
  // A growth within the limit is fine, and the next call has the table as it was.
  assert.equal((await c.call(call('TableGrow', u32(1000)))).status, 0);
  assert.deepEqual([...new Uint32Array((await c.call(call('TableGrow', u32(0)))).response!.slice().buffer)], [16]);
});

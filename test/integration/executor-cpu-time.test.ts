// A call's CPU limit counts its worker thread's CPU time, not the wall time it
// took, so a worker waiting for a core (a loaded node, or a long-running call's
// worker at the lowest priority) is not stopped early; and a worker holding a
// long-running call runs at nice 19 while it holds it.
// The last test pins this process to one core beside a busy loop: keep it last.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { guest } from '../helpers/guests.js';
import { startGuest, testExecutor, text, utf8 } from '../helpers/executor.js';
import { Code } from '../../src/errors.js';
import type { GuestCall } from '../../src/wasm/api.js';

const call = (method: string, request = new Uint8Array(0)): GuestCall => ({ method, request, metadata: [] });
const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);

/** Nice values of this process's threads (field 19 of /proc/self/task/<tid>/stat, after the parenthesised name). */
function threadNices(): number[] {
  const nices: number[] = [];
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      nices.push(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return nices;
}

async function waitFor(what: string, ok: () => boolean): Promise<void> {
  const until = Date.now() + 20_000;
  while (!ok() && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  assert.ok(ok(), what);
}

const notRoot = process.getuid?.() !== 0 && 'lowering a nice value back needs root';

test('a worker holding a long-running call runs at nice 19, and at its nice value again once the call has left it', { skip: notRoot }, async (t) => {
  const ex = testExecutor({ workers: 2, cpuMsPerCall: 10_000 });
  t.after(() => ex.close());
  const c = await startGuest(ex, await guest('tenant'), { containerId: 'looper' });
  const niced = () => threadNices().filter((n) => n === 19).length;
  assert.equal(niced(), 0);
  // A call that ends by itself: seen as long-running after 10 ms of its thread's CPU time.
  const spin = c.call(call('Spin', u32(400_000_000)));
  await waitFor('one worker thread at nice 19 while Spin runs', () => niced() === 1);
  // Short calls beside it still run, on the other worker.
  assert.equal(text(await c.call(call('Echo', utf8('x')))), 'x');
  assert.equal((await spin).status, Code.OK);
  assert.equal(niced(), 0, 'back at nice 0 when its result arrived');
  // A call that is stopped: its worker is terminated and replaced.
  const loop = c.call(call('Loop'));
  await waitFor('one worker thread at nice 19 while Loop runs', () => niced() === 1);
  await c.stop(0);
  assert.equal((await loop).status, Code.UNAVAILABLE);
  await waitFor('the terminated worker thread gone', () => niced() === 0);
});

test('a running call the caller cancels stops its worker at once, rather than running to its CPU limit for nobody', async (t) => {
  const ex = testExecutor({ workers: 2, cpuMsPerCall: 60_000 });
  t.after(() => ex.close());
  const c = await startGuest(ex, await guest('tenant'), { containerId: 'cancelled' });
  const abort = new AbortController();
  const loop = c.call({ ...call('Loop'), signal: abort.signal });
  await waitFor('the loop running', () => ex.usage().busyWorkers === 1);
  await new Promise((r) => setTimeout(r, 50));
  abort.abort();
  assert.equal((await loop).status, Code.CANCELLED);
  await waitFor('the container has no call in flight', () => c.inFlight === 0);
  assert.equal(ex.usage().workersReplaced, 1);
  assert.equal(text(await c.call(call('Echo', utf8('next')))), 'next');
});

test("the CPU limit counts the call's thread CPU time: a worker that gets a tenth of a core runs its call until it has used the limit", { skip: notRoot }, async (t) => {
  // This thread's affinity and nice value are inherited by the worker threads it starts next.
  execFileSync('taskset', ['-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  setPriority(10);
  const burner = spawn('taskset', ['-c', '0', 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' });
  t.after(() => burner.kill('SIGKILL'));
  const limitMs = 60;
  const ex = testExecutor({ workers: 1, cpuMsPerCall: limitMs });
  t.after(() => ex.close());
  const c = await startGuest(ex, await guest('tenant'), { containerId: 'starved' });
  const before = ex.containerUsage('starved')!.cpuNanos;
  const t0 = performance.now();
  const r = await c.call(call('Loop'));
  const wallMs = performance.now() - t0;
  const cpuMs = (ex.containerUsage('starved')!.cpuNanos - before) / 1e6;
  assert.equal(r.status, Code.RESOURCE_EXHAUSTED);
  assert.match(r.message, new RegExp(`CPU limit of ${limitMs} ms`));
  // Stopped once it had used its limit (a wall-time limit stopped it after ~6 ms of CPU here) ...
  assert.ok(cpuMs >= limitMs, `charged ${cpuMs.toFixed(1)} ms of CPU`);
  assert.ok(cpuMs < limitMs + 50, `charged ${cpuMs.toFixed(1)} ms of CPU`);
  // ... which took it far longer than that in wall time, sharing its core with the busy loop at a lower priority.
  assert.ok(wallMs > 3 * limitMs, `took ${wallMs.toFixed(0)} ms`);
});

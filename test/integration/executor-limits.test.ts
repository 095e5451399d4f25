// Misbehaving guests fail only their own calls; their neighbours complete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guest } from '../helpers/guests.js';
import { startGuest, testExecutor, text, utf8 } from '../helpers/executor.js';
import { Code } from '../../src/errors.js';
import type { GuestCall } from '../../src/wasm/api.js';

const call = (method: string, request = new Uint8Array(0), extra: Partial<GuestCall> = {}): GuestCall => ({ method, request, metadata: [], ...extra });

test('a trap fails only its call with INTERNAL and the trap message', async (t) => {
  const ex = testExecutor();
  t.after(() => ex.close());
  const c = await startGuest(ex, await guest('kitchen'));
  const [trap, div, echo, rec, exit] = await Promise.all([
    c.call(call('Trap')),
    c.call(call('Div0')),
    c.call(call('Echo', utf8('still here'))),
    c.call(call('Recurse')),
    c.call(call('Exit')),
  ]);
  assert.equal(trap.status, Code.INTERNAL);
  assert.match(trap.message, /trapped: unreachable/);
  assert.equal(div.status, Code.INTERNAL);
  assert.match(div.message, /divide by zero/);
  assert.equal(rec.status, Code.INTERNAL);
  assert.match(rec.message, /stack/);
  assert.equal(exit.status, Code.INTERNAL);
  assert.match(exit.message, /exited with code 7/);
  assert.equal(echo.status, 0);
  assert.equal(text(echo), 'still here');
  assert.deepEqual(echo.trailers, [['x-out', 'echoed']]);
  // and the container keeps serving
  assert.equal(text(await c.call(call('Echo', utf8('after')))), 'after');
});

test('an infinite loop is stopped at the CPU limit while every other call, queued on the same worker too, completes', async (t) => {
  const ex = testExecutor({ workers: 1, cpuMsPerCall: 100 });
  t.after(() => ex.close());
  const c = await startGuest(ex, await guest('kitchen'));
  const before = Array.from({ length: 20 }, (_, i) => c.call(call('Echo', utf8(`b${i}`))));
  const loop = c.call(call('Loop'));
  const after = Array.from({ length: 20 }, (_, i) => c.call(call('Echo', utf8(`a${i}`))));
  const r = await loop;
  assert.equal(r.status, Code.RESOURCE_EXHAUSTED);
  assert.match(r.message, /CPU limit of 100 ms/);
  const rest = await Promise.all([...before, ...after]);
  rest.forEach((x, i) => {
    assert.equal(x.status, 0, x.message);
    assert.equal(text(x), i < 20 ? `b${i}` : `a${i - 20}`);
  });
  // the replacement worker serves later calls
  assert.equal(text(await c.call(call('Echo', utf8('later')))), 'later');
  assert.equal(c.inFlight, 0);
});

test('calls queued behind a long-running call on its worker are run elsewhere, long before it is stopped', async (t) => {
  const ex = testExecutor({ workers: 2, cpuMsPerCall: 10_000 });
  t.after(() => ex.close());
  const c = await startGuest(ex, await guest('kitchen'));
  let loopDone = false;
  const loop = c.call(call('Loop')).then((r) => {
    loopDone = true;
    return r;
  });
  // Sent in the same turn: about half are batched onto the looping worker.
  const echoes = await Promise.all(Array.from({ length: 40 }, (_, i) => c.call(call('Echo', utf8(`e${i}`)))));
  assert.equal(loopDone, false, 'the echoes did not wait for the loop to be stopped');
  echoes.forEach((r, i) => assert.equal(text(r), `e${i}`));
  // and later calls keep flowing while the loop still runs
  assert.equal(text(await c.call(call('Echo', utf8('again')))), 'again');
  assert.equal(loopDone, false);
  await c.stop(0);
  assert.equal((await loop).status, Code.UNAVAILABLE);
});

test("the caller's deadline stops a running call with DEADLINE_EXCEEDED", async (t) => {
  const ex = testExecutor({ workers: 1 });
  t.after(() => ex.close());
  const c = await startGuest(ex, await guest('kitchen'));
  const r = await c.call(call('Loop', undefined, { deadline: performance.now() + 50 }));
  assert.equal(r.status, Code.DEADLINE_EXCEEDED);
  const late = await c.call(call('Echo', utf8('x'), { deadline: performance.now() - 1 }));
  assert.equal(late.status, Code.DEADLINE_EXCEEDED);
  assert.equal(text(await c.call(call('Echo', utf8('ok')))), 'ok');
});

test('an aborted call answers CANCELLED at once', async (t) => {
  const ex = testExecutor({ workers: 1, cpuMsPerCall: 10_000 });
  t.after(() => ex.close());
  const c = await startGuest(ex, await guest('kitchen'));
  const ac = new AbortController();
  const p = c.call(call('Loop', undefined, { signal: ac.signal }));
  setTimeout(() => ac.abort(), 20);
  const r = await p;
  assert.equal(r.status, Code.CANCELLED);
});

test('a signal reused for call after call (as the gRPC layer reuses its controllers) cancels only the call it guards now', async (t) => {
  // Two workers: the unrelated call does not queue behind the loop.
  const ex = testExecutor({ workers: 2, cpuMsPerCall: 2000 });
  t.after(() => ex.close());
  const c = await startGuest(ex, await guest('kitchen'));
  const ac = new AbortController();
  for (let i = 0; i < 3; i++) assert.equal(text(await c.call(call('Echo', utf8(`round ${i}`), { signal: ac.signal }))), `round ${i}`);
  const other = new AbortController();
  const guarded = c.call(call('Loop', undefined, { signal: ac.signal }));
  const unrelated = c.call(call('Echo', utf8('unrelated'), { signal: other.signal }));
  setTimeout(() => ac.abort(), 20);
  assert.equal((await guarded).status, Code.CANCELLED);
  assert.equal(text(await unrelated), 'unrelated');
});

test('one signal shared by calls running at once cancels every one of them', async (t) => {
  const ex = testExecutor({ workers: 2, cpuMsPerCall: 2000 });
  t.after(() => ex.close());
  const c = await startGuest(ex, await guest('kitchen'));
  const ac = new AbortController();
  const loops = [c.call(call('Loop', undefined, { signal: ac.signal })), c.call(call('Loop', undefined, { signal: ac.signal }))];
  setTimeout(() => ac.abort(), 20);
  for (const r of await Promise.all(loops)) assert.equal(r.status, Code.CANCELLED);
});

test('growing memory past the limit fails that call with RESOURCE_EXHAUSTED', async (t) => {
  const ex = testExecutor();
  t.after(() => ex.close());
  const c = await startGuest(ex, await guest('kitchen'), { limits: { memoryBytes: 4 * 65536 } });
  const [grow, echo] = await Promise.all([c.call(call('Grow')), c.call(call('Echo', utf8('fine')))]);
  assert.equal(grow.status, Code.RESOURCE_EXHAUSTED);
  assert.match(grow.message, /memory limit of 262144 bytes/);
  assert.equal(text(echo), 'fine');
  // a container whose limit is below the module's initial memory does not start
  const tiny = await ex.prepare('sha256:kitchen-tiny', await guest('kitchen'), 1);
  await assert.rejects(ex.start({ containerId: 'tiny', module: tiny, env: {}, limits: { memoryBytes: 1000 } }), /needs 65536 bytes of memory/);
});

test('calls beyond the in-flight limit fail with RESOURCE_EXHAUSTED without reaching the guest', async (t) => {
  const ex = testExecutor({ workers: 1 });
  t.after(() => ex.close());
  const c = await startGuest(ex, await guest('kitchen'), { limits: { maxInFlight: 3 } });
  const rs = await Promise.all(Array.from({ length: 5 }, (_, i) => c.call(call('Echo', utf8(`${i}`)))));
  assert.deepEqual(rs.map((r) => r.status), [0, 0, 0, Code.RESOURCE_EXHAUSTED, Code.RESOURCE_EXHAUSTED]);
  assert.match(rs[3]!.message, /3 calls in flight/);
});

test('stop drains in-flight calls, then refuses new ones; a stop timeout fails what is left', async (t) => {
  const ex = testExecutor({ workers: 1, cpuMsPerCall: 5000 });
  t.after(() => ex.close());
  const c = await startGuest(ex, await guest('kitchen'));
  const calls = Array.from({ length: 10 }, (_, i) => c.call(call('Echo', utf8(`${i}`))));
  await c.stop(1000);
  for (const r of await Promise.all(calls)) assert.equal(r.status, 0);
  const refused = await c.call(call('Echo', utf8('no')));
  assert.equal(refused.status, Code.UNAVAILABLE);

  const d = await startGuest(ex, await guest('kitchen'));
  const stuck = d.call(call('Loop'));
  await d.stop(100);
  const r = await stuck;
  assert.equal(r.status, Code.UNAVAILABLE);
  assert.match(r.message, /was stopped/);
  assert.equal(d.inFlight, 0);
});

test('statuses, messages, metadata and bad pointers', async (t) => {
  const ex = testExecutor();
  t.after(() => ex.close());
  const c = await startGuest(ex, await guest('kitchen'));
  const status = await c.call(call('Status'));
  assert.deepEqual([status.status, status.message], [Code.NOT_FOUND, 'bad request']);
  const weird = await c.call(call('Weird'));
  assert.equal(weird.status, Code.UNKNOWN);
  assert.match(weird.message, /invalid status 99/);
  const meta = await c.call({ method: 'Meta', request: new Uint8Array(0), metadata: [['x-in', 'a'], ['x-other', 'b'], ['x-in', 'c']] });
  assert.equal(text(meta), 'a, c');
  const noMeta = await c.call(call('Meta'));
  assert.deepEqual([noMeta.status, noMeta.message], [Code.INVALID_ARGUMENT, 'bad request']);
  const bad = await c.call(call('BadPtr'));
  assert.equal(bad.status, Code.INTERNAL);
  assert.match(bad.message, /respond: bytes 65000\.\.165000 lie outside/);
  const key = await c.call(call('BadKey'));
  assert.equal(key.status, Code.INTERNAL);
  assert.match(key.message, /"Bad Key" is not a valid trailer key/);
  const many = await c.call(call('ManyTrailers'));
  assert.equal(many.status, Code.INTERNAL);
  assert.match(many.message, /at most 64 trailers/);
  const missing = await c.call(call('Nope'));
  assert.equal(missing.status, Code.UNIMPLEMENTED);
});

test('a second stop while the first waits for a call: both return once the call ends, not at their timeout', async (t) => {
  const ex = testExecutor({ workers: 1, cpuMsPerCall: 300 });
  t.after(() => ex.close());
  const c = await startGuest(ex, await guest('kitchen'));
  const looping = c.call(call('Loop'));
  // The kubelet retries StopContainer; the retry must not strand the first caller until its grace period ends.
  const stops = Promise.all([c.stop(60_000), c.stop(60_000)]).then(() => 'stopped');
  const hung = new Promise<string>((resolve) => setTimeout(resolve, 20_000, 'still waiting').unref());
  assert.equal(await Promise.race([stops, hung]), 'stopped');
  assert.equal((await looping).status, Code.RESOURCE_EXHAUSTED);
});

// bench/executor/fairness: a well-behaved component's latency beside a
// misbehaving neighbour that keeps 100 calls of a looping method in flight,
// against the same component alone, measured in the same run (phases
// alternate: alone, neighbour, alone, neighbour). The goal: p99 with the
// neighbour ≤ 2× p99 alone.
// Run: npm run build && npm run bench:fairness [-- --quick]
import { availableParallelism, loadavg } from 'node:os';
import wabtInit from 'wabt';
import { ECHO_WAT } from './echo-wat.js';
import { createExecutor } from '../../src/wasm/executor.js';
import { createLogger } from '../../src/observability/log.js';
import type { ContainerRuntime, GuestCall } from '../../src/wasm/api.js';

const quick = process.argv.includes('--quick');
const PHASE_MS = quick ? 1500 : 3000;
/** Callers of the well-behaved component, each one call at a time. */
const GOOD_CALLERS = 4;
/** Looping calls the neighbour keeps in flight. */
const BAD_IN_FLIGHT = 100;

const wabt = await wabtInit();
const wasm = (wat: string) => {
  const m = wabt.parseWat('x.wat', wat, {});
  try {
    return Uint8Array.from(m.toBinary({}).buffer);
  } finally {
    m.destroy();
  }
};
const echoWasm = wasm(ECHO_WAT);
const loopWasm = wasm(`(module
  (memory (export "memory") 1 1)
  (func (export "workd_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "Ok") (param i32 i32) (result i32) (i32.const 0))
  (func (export "Loop") (param i32 i32) (result i32) (loop $l (br $l)) (i32.const 0)))`);

// The daemon's defaults: one worker per core, 1000 ms of CPU per call.
const ex = createExecutor({ workers: 0, memoryLimitBytes: 64 << 20, cpuMsPerCall: 1000, maxInFlight: 1024 }, createLogger('silent'));
const good = await ex.start({ containerId: 'good', module: await ex.prepare('sha256:good', echoWasm, 1), env: {}, limits: {} });
const badModule = await ex.prepare('sha256:bad', loopWasm, 1);
const echo: GuestCall = { method: 'Echo', request: new Uint8Array(100), metadata: [] };
const loop: GuestCall = { method: 'Loop', request: new Uint8Array(0), metadata: [] };

const percentile = (xs: number[], p: number) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

/** Failed calls of the good component, by message (none is the goal). */
const goodFailed = new Map<string, number>();

/** Closed-loop callers of the good component for PHASE_MS; latencies in ms. */
async function goodPhase(c: ContainerRuntime): Promise<number[]> {
  const lat: number[] = [];
  const end = performance.now() + PHASE_MS;
  await Promise.all(
    Array.from({ length: GOOD_CALLERS }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        const r = await c.call(echo);
        if (r.status !== 0) goodFailed.set(r.message, (goodFailed.get(r.message) ?? 0) + 1);
        lat.push(performance.now() - t0);
      }
    }),
  );
  return lat;
}

/** Starts a neighbour that keeps BAD_IN_FLIGHT looping calls in flight until stopped; counts how they ended. */
async function neighbour(id: string, ended: Map<number, number>) {
  const bad = await ex.start({ containerId: id, module: badModule, env: {}, limits: {} });
  let running = true;
  const one = (): Promise<void> =>
    bad.call(loop).then((r) => {
      ended.set(r.status, (ended.get(r.status) ?? 0) + 1);
      if (running) return one();
    });
  const all = Promise.all(Array.from({ length: BAD_IN_FLIGHT }, one));
  return {
    stop: async () => {
      running = false;
      await bad.stop(0);
      await all;
    },
  };
}

console.log(`bench/executor/fairness (node ${process.version}, ${availableParallelism()} cores, load average ${loadavg()[0]!.toFixed(1)}${quick ? ', --quick' : ''})`);
console.log(`a 100-byte echo, ${GOOD_CALLERS} callers one call at a time; the neighbour keeps ${BAD_IN_FLIGHT} calls of an endless loop in flight (CPU limit 1000 ms)\n`);
await goodPhase(good); // warm up
const alone: number[] = [];
const beside: number[] = [];
const badEnded = new Map<number, number>();
let badCpu = 0;
for (let round = 0; round < 2; round++) {
  for (const x of await goodPhase(good)) alone.push(x);
  const n = await neighbour(`bad-${round}`, badEnded);
  for (const x of await goodPhase(good)) beside.push(x);
  await n.stop();
  badCpu += ex.containerUsage(`bad-${round}`)!.cpuNanos;
}
const row = (what: string, xs: number[]) =>
  console.log(`${what.padEnd(40)} calls ${String(xs.length).padStart(7)}   p50 ${percentile(xs, 0.5).toFixed(3)} ms   p99 ${percentile(xs, 0.99).toFixed(3)} ms   max ${xs.reduce((a, b) => Math.max(a, b), 0).toFixed(1)} ms`);
row('well-behaved component alone', alone);
row('beside the looping neighbour', beside);
const ratio = percentile(beside, 0.99) / percentile(alone, 0.99);
console.log(`\np99 beside the neighbour / p99 alone: ${ratio.toFixed(2)}x (goal ≤ 2x)`);
console.log(`well-behaved calls failed: ${[...goodFailed].map(([m, n]) => `${n}× ${m}`).join('; ') || 'none'}`);
console.log(`neighbour's calls ended: ${[...badEnded].map(([s, n]) => `status ${s}: ${n}`).join(', ') || 'none'}; workers replaced ${ex.usage().workersReplaced}`);
console.log(`CPU charged: good ${(ex.containerUsage('good')!.cpuNanos / 1e6).toFixed(0)} ms, neighbour ${(badCpu / 1e6).toFixed(0)} ms; load average now ${loadavg()[0]!.toFixed(1)}`);
await ex.close();

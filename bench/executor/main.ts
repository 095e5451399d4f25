// bench/executor: what per-call isolation and thread dispatch cost, against
// calling the same export on a live instance in the same thread (measured in
// the same run), plus throughput, cold start and memory per container.
// Run: npm run build && npm run bench:executor [-- --quick]
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';
import { ECHO_WAT } from './echo-wat.js';
import { spawnSync } from 'node:child_process';
import { createExecutor } from '../../src/wasm/executor.js';
import { createLogger } from '../../src/observability/log.js';
import type { ContainerRuntime, GuestCall } from '../../src/wasm/api.js';
import { rewriteModule, MEMORY_IMPORT, DIRTY_HI_EXPORT, DIRTY_LO_EXPORT, globalExportName } from '../../src/wasm/rewrite.js';

const quick = process.argv.includes('--quick');
/** The memory scenario runs in its own process, so earlier phases' garbage does not blur RSS. */
const rssOnly = process.argv.includes('--rss');
const WAT = ECHO_WAT;
const wabt = await wabtInit();
function echoWasm(salt: number): Uint8Array {
  const m = wabt.parseWat('echo.wat', WAT.replace('IMAGE-SALT-00000', `IMAGE-SALT-${String(salt).padStart(5, '0')}`), {});
  try {
    return Uint8Array.from(m.toBinary({}).buffer);
  } finally {
    m.destroy();
  }
}

const request = new Uint8Array(100).map((_, i) => i);
const fmt = (n: number, d = 2) => n.toFixed(d);
const rows: [string, string, string][] = [];
const report = (what: string, value: string, vs: string) => {
  rows.push([what, value, vs]);
  console.log(`${what.padEnd(58)} ${value.padStart(16)}   ${vs}`);
};
const percentile = (xs: number[], p: number) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

// 1. Baseline: a live instance in this thread, no isolation, no hop.
function baseline(): number {
  let out = new Uint8Array();
  let mem!: WebAssembly.Memory;
  const inst = new WebAssembly.Instance(new WebAssembly.Module(echoWasm(0)), {
    workd: { respond: (p: number, n: number) => (out = new Uint8Array(mem.buffer, p, n).slice()) },
  });
  mem = inst.exports.memory as WebAssembly.Memory;
  const alloc = inst.exports.workd_alloc as (n: number) => number;
  const echo = inst.exports.Echo as (p: number, n: number) => number;
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      const ptr = alloc(request.length);
      new Uint8Array(mem.buffer, ptr, request.length).set(request);
      if (echo(ptr, request.length) !== 0 || out.length !== 100) throw new Error('baseline echo failed');
    }
  };
  run(50_000);
  const n = quick ? 200_000 : 1_000_000;
  const t0 = performance.now();
  run(n);
  return ((performance.now() - t0) * 1000) / n;
}

// 1b. Isolation alone in this thread: the same call plus the reset the executor
// does (restore the written range of memory and the mutable globals), and for
// comparison a reset that copies all 64 KiB back.
function isolationSameThread(fullCopy: boolean): number {
  const r = rewriteModule(echoWasm(0));
  let out = new Uint8Array();
  const mem = new WebAssembly.Memory({ initial: r.memory.min, maximum: r.memory.min });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(r.bytes), {
    workd: { respond: (p: number, n: number) => (out = new Uint8Array(mem.buffer, p, n).slice()), [MEMORY_IMPORT.name]: mem },
  });
  const ex = inst.exports as Record<string, any>;
  const lo = ex[DIRTY_LO_EXPORT] as WebAssembly.Global;
  const hi = ex[DIRTY_HI_EXPORT] as WebAssembly.Global;
  const globals = r.mutableGlobals.map((g) => ex[globalExportName(g)] as WebAssembly.Global);
  const globalSnap = globals.map((g) => g.value);
  lo.value = -1;
  hi.value = 0;
  const snap = new Uint8Array(mem.buffer).slice();
  const alloc = ex.workd_alloc as (n: number) => number;
  const echo = ex.Echo as (p: number, n: number) => number;
  const n = quick ? 100_000 : 400_000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const ptr = alloc(request.length);
    new Uint8Array(mem.buffer, ptr, request.length).set(request);
    echo(ptr, request.length);
    if (fullCopy) new Uint8Array(mem.buffer).set(snap);
    else {
      const a = Math.min(lo.value >>> 0, ptr);
      const b = Math.max(hi.value >>> 0, ptr + request.length);
      new Uint8Array(mem.buffer, a, b - a).set(snap.subarray(a, b));
      lo.value = -1;
      hi.value = 0;
    }
    for (let g = 0; g < globals.length; g++) globals[g]!.value = globalSnap[g];
  }
  if (out.length !== 100) throw new Error('echo failed');
  return ((performance.now() - t0) * 1000) / n;
}

const ex = createExecutor({ workers: Number(process.env.WORKERS ?? 0), memoryLimitBytes: 16 << 20, cpuMsPerCall: 1000, maxInFlight: 1 << 20 }, createLogger('silent'));
const call: GuestCall = { method: 'Echo', request, metadata: [] };

async function throughput(c: ContainerRuntime, total: number, window: number) {
  const lat: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let sent = 0;
  let done = 0;
  await new Promise<void>((resolve, reject) => {
    const one = () => {
      const s = performance.now();
      sent++;
      c.call(call).then((r) => {
        if (r.status !== 0 || r.response?.length !== 100) return reject(new Error(`call failed: ${r.status} ${r.message}`));
        lat.push(performance.now() - s);
        done++;
        if (sent < total) one();
        else if (done === total) resolve();
      }, reject);
    };
    for (let i = 0; i < window && sent < total; i++) one();
  });
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { perSec: (total / wallMs) * 1000, cpuUsPerCall: (cpu.user + cpu.system) / total, p50Ms: percentile(lat, 0.5), p99Ms: percentile(lat, 0.99) };
}

const best = (f: () => number) => Math.min(f(), f(), f()); // least disturbed of three runs on noisy cores

if (!rssOnly) {
console.log(`bench/executor (node ${process.version}${quick ? ', --quick' : ''}): a 100-byte echo\n`);
const base = best(baseline);
report('baseline: live instance, same thread (µs/call)', fmt(base, 3), '1.00x');
const iso = best(() => isolationSameThread(false));
report('+ isolation (written range + globals reset), same thread', fmt(iso, 3), `${fmt(iso / base)}x baseline; +${fmt(iso - base)} µs`);
const isoFull = best(() => isolationSameThread(true));
report('+ isolation copying all 64 KiB back (for comparison)', fmt(isoFull, 3), `${fmt(isoFull / base)}x baseline; +${fmt(isoFull - base)} µs`);

const m = await ex.prepare('sha256:bench-echo', echoWasm(0), 1);
const c = await ex.start({ containerId: 'bench', module: m, env: {}, limits: {} });
await throughput(c, 20_000, 256); // warm up both workers
// Five rounds: the best shows what the executor does when the shared cores let it, the median what it did.
const rounds = [];
for (let i = 0; i < 5; i++) rounds.push(await throughput(c, quick ? 40_000 : 100_000, 1024));
const med = (xs: number[]) => percentile(xs, 0.5);
const rate = rounds.map((r) => r.perSec);
const cpu = rounds.map((r) => r.cpuUsPerCall);
report('executor: calls/s on all cores, best / median of 5', `${fmt(Math.max(...rate), 0)} / ${fmt(med(rate), 0)}`, `${fmt(Math.max(...rate) / 200_000)}x / ${fmt(med(rate) / 200_000)}x the 200k/s target`);
report('executor: CPU µs per call, all threads, least / median', `${fmt(Math.min(...cpu))} / ${fmt(med(cpu))}`, `${fmt(Math.min(...cpu) / 5)}x / ${fmt(med(cpu) / 5)}x the 5 µs target; ${fmt(Math.min(...cpu) / base)}x baseline`);
report('executor: latency at load p50 / p99 (ms), median round', `${fmt(med(rounds.map((r) => r.p50Ms)))} / ${fmt(med(rounds.map((r) => r.p99Ms)))}`, '(queueing at 1024 in flight)');
const light = await throughput(c, 2000, 1);
report('executor: latency one call at a time p50 / p99 (µs)', `${fmt(light.p50Ms * 1000, 0)} / ${fmt(light.p99Ms * 1000, 0)}`, `${fmt((light.p50Ms * 1000) / base, 0)}x baseline (thread hops)`);

// 3. Cold start: start() of an already prepared image to the first served call,
// when an instance of it is pooled already, and when the container's memory
// limit differs from every other container's (a new pool: instantiate + init).
{
  const pooled: number[] = [];
  const fresh: number[] = [];
  for (let i = 0; i < (quick ? 30 : 100); i++) {
    for (const list of [pooled, fresh]) {
      const limits = list === fresh ? { memoryBytes: (64 + i) * 65536 } : {};
      const t0 = performance.now();
      const cc = await ex.start({ containerId: `cold-${i}-${list === fresh}`, module: m, env: { POD_NAME: `cold-${i}` }, limits });
      const r = await cc.call(call);
      list.push(performance.now() - t0);
      if (r.status !== 0) throw new Error(r.message);
      await cc.stop(0);
    }
  }
  report('cold start to first call, instance pooled (ms p50)', fmt(percentile(pooled, 0.5), 3), `${fmt(percentile(pooled, 0.5) / 2)}x the 2 ms target`);
  report('cold start to first call, new instance (ms p50)', fmt(percentile(fresh, 0.5), 3), `${fmt(percentile(fresh, 0.5) / 2)}x the 2 ms target`);
}

const child = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--rss', ...(quick ? ['--quick'] : [])], { encoding: 'utf8' });
process.stdout.write(child.stdout);
if (child.status !== 0) process.stderr.write(child.stderr);
}

// 4. Memory: 20,000 running containers of 200 images.
if (rssOnly) {
  const images = quick ? 50 : 200;
  const perImage = 100;
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  const prepared = [];
  for (let i = 1; i <= images; i++) prepared.push(await ex.prepare(`sha256:img-${i}`, echoWasm(i), 1));
  const firsts: ContainerRuntime[] = [];
  // Each container has its own env, as pods with the downward API do.
  for (const p of prepared) firsts.push(await ex.start({ containerId: `${p.imageId}#0`, module: p, env: { POD_NAME: `${p.imageId}#0` }, limits: {} }));
  await Promise.all(firsts.flatMap((f) => [f.call(call), f.call(call), f.call(call), f.call(call)]));
  global.gc?.();
  const rss1 = process.memoryUsage().rss;
  const all: ContainerRuntime[] = [];
  const starts: Promise<ContainerRuntime>[] = [];
  for (const p of prepared) for (let j = 1; j < perImage; j++) starts.push(ex.start({ containerId: `${p.imageId}#${j}`, module: p, env: { POD_NAME: `${p.imageId}#${j}` }, limits: {} }));
  all.push(...(await Promise.all(starts)));
  for (let i = 0; i < all.length; i += 2000) await Promise.all(all.slice(i, i + 2000).map((x) => x.call(call)));
  global.gc?.();
  const rss2 = process.memoryUsage().rss;
  const n = images * perImage;
  const perImageKiB = (rss1 - rss0) / images / 1024;
  const perContainerKB = (rss2 - rss1) / (n - images) / 1000;
  report(`RSS per image (${images} images, compiled + pooled instances) KiB`, fmt(perImageKiB, 0), '(shared by its containers)');
  report(`RSS per running container beyond its image (${n} containers, each its own env) KB`, fmt(perContainerKB, 2), `${fmt(perContainerKB / 50)}x the 50 KB target`);
  report('RSS total (MiB)', fmt(rss2 / 1048576, 0), '');
}

await ex.close();

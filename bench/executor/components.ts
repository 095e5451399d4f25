// bench/executor, components: the same echo (examples/echo/echo.proto, a
// 100-byte request) as an ABI v1 module, as a component built from a core
// module (WAT, canonical ABI by hand) and as a componentize-js component, in
// one run through one executor: calls/s and CPU per call of all threads, and
// cold start (prepare = jco transpile + compile, then start to first call).
// Targets (issue 17): component from a core module ≤ 2× the module per call;
// the componentize-js component's isolation adds ≤ 0.5 ms per call.
// Run: npm run build && node dist/bench/executor/components.js [--quick] [--no-js]
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';
import { create, toBinary } from '@bufbuild/protobuf';
import { componentEmbed, componentNew } from '@bytecodealliance/jco-transpile/wasm-tools';
import { createExecutor } from '../../src/wasm/executor.js';
import { createLogger } from '../../src/observability/log.js';
import { compileProtoFilesToBinary, parseDescriptorSet } from '../../src/images/proto-compile.js';
import { witText } from '../../src/components/wit/index.js';
import { prepareComponent } from '../../src/components/runtime/prepare.js';
import { ComponentInstance, loadComponent } from '../../src/components/runtime/instance.js';
import { CallState } from '../../src/wasm/host.js';
import type { ComponentSource, ContainerRuntime, GuestCall } from '../../src/wasm/api.js';
import { ECHO_WAT } from './echo-wat.js';

const quick = process.argv.includes('--quick');
// --no-js: without the componentize-js component (its build and calls take minutes on a loaded machine).
const noJs = process.argv.includes('--no-js');
const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..', '..', '..');
const src = (f: string) => join(root, 'bench', 'executor', f);
const fmt = (n: number, d = 2) => n.toFixed(d);

const proto = join(root, 'examples', 'echo', 'echo.proto');
const descriptorSet = compileProtoFilesToBinary([proto]);
const Msg = parseDescriptorSet(descriptorSet).registry.getMessage('echo.EchoMessage')!;
const request = toBinary(Msg, create(Msg, { data: new Uint8Array(98).map((_, i) => i) }));
if (request.length !== 100) throw new Error(`request is ${request.length} bytes`);
const wit = witText(parseDescriptorSet(descriptorSet).registry, {});
const source: ComponentSource = { descriptorSet, service: 'echo.Echo' };

const wabt = await wabtInit();
const wat = (text: string) => {
  const m = wabt.parseWat('x.wat', text, { mutable_globals: true, bulk_memory: true });
  try {
    return Uint8Array.from(m.toBinary({}).buffer);
  } finally {
    m.destroy();
  }
};

console.log(`bench/executor components (node ${process.version}${quick ? ', --quick' : ''}): a 100-byte echo; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
const t0 = performance.now();
const fromCore = await componentNew(await componentEmbed({ binary: wat(readFileSync(src('echo-component.wat'), 'utf8')), witSource: wit, world: 'echo', stringEncoding: 'utf8' }), undefined);
const { componentize } = await import('@bytecodealliance/componentize-js');
const t1 = performance.now();
// The source and the WIT as strings (the deprecated form: 0.23's path options need a preopened filesystem).
const componentizeStrings = componentize as unknown as (source: string, wit: string, opts: object) => Promise<{ component: Uint8Array }>;
const js = noJs ? new Uint8Array(0) : (await componentizeStrings(readFileSync(src('echo-component.js'), 'utf8'), wit, { worldName: 'echo', disableFeatures: ['http', 'fetch-event'] })).component;
console.log(`built: core-module component ${fromCore.length} B in ${fmt(t1 - t0, 0)} ms; componentize-js component ${js.length} B in ${fmt(performance.now() - t1, 0)} ms\n`);

const ex = createExecutor({ workers: Number(process.env.WORKERS ?? 0), memoryLimitBytes: 64 << 20, cpuMsPerCall: 10_000, maxInFlight: 1 << 20 }, createLogger('silent'));
const call: GuestCall = { method: 'Echo', request, metadata: [] };

async function throughput(c: ContainerRuntime, total: number, window: number) {
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  let sent = 0;
  let done = 0;
  await new Promise<void>((resolve, reject) => {
    const one = () => {
      sent++;
      c.call(call).then((r) => {
        if (r.status !== 0 || r.response?.length !== 100) return reject(new Error(`call failed: ${r.status} ${r.message}`));
        done++;
        if (sent < total) one();
        else if (done === total) resolve();
      }, reject);
    };
    for (let i = 0; i < window && sent < total; i++) one();
  });
  const wall = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  return { perSec: (total / wall) * 1000, cpuUs: (cpu.user + cpu.system) / total };
}

interface Row { name: string; perSec: number; cpuUs: number; prepareMs: number; startMs: number }
const rows: Row[] = [];
const kinds: [string, Uint8Array, ComponentSource | undefined, number][] = [
  ['ABI v1 module (WAT)', wat(ECHO_WAT), undefined, quick ? 20_000 : 100_000],
  ['component from a core module (WAT)', fromCore, source, quick ? 20_000 : 100_000],
  ...(noJs ? [] : [['componentize-js component', js, source, quick ? 2_000 : 10_000] as [string, Uint8Array, ComponentSource | undefined, number]]),
];
for (const [name, wasm, comp, total] of kinds) {
  const p0 = performance.now();
  const m = await ex.prepare(`sha256:bench-${rows.length}`, wasm, 1, comp);
  const p1 = performance.now();
  const c = await ex.start({ containerId: `bench-${rows.length}`, module: m, env: {}, limits: {} });
  const first = await c.call(call);
  const startMs = performance.now() - p1;
  if (first.status !== 0) throw new Error(`${name}: ${first.message}`);
  await throughput(c, Math.min(total, 5000), 256);
  const rounds = [];
  for (let i = 0; i < 3; i++) rounds.push(await throughput(c, total, 1024));
  const best = rounds.reduce((a, b) => (a.cpuUs < b.cpuUs ? a : b));
  rows.push({ name, perSec: Math.max(...rounds.map((r) => r.perSec)), cpuUs: best.cpuUs, prepareMs: p1 - p0, startMs });
  await c.stop(0);
}
const base = rows[0]!;
console.log(`${'kind'.padEnd(38)} ${'calls/s'.padStart(10)} ${'CPU µs/call'.padStart(12)} ${'vs module'.padStart(10)} ${'prepare ms'.padStart(11)} ${'start+1st call ms'.padStart(18)}`);
for (const r of rows) {
  console.log(`${r.name.padEnd(38)} ${fmt(r.perSec, 0).padStart(10)} ${fmt(r.cpuUs).padStart(12)} ${`${fmt(r.cpuUs / base.cpuUs)}x`.padStart(10)} ${fmt(r.prepareMs, 0).padStart(11)} ${fmt(r.startMs, 1).padStart(18)}`);
}
console.log(`\ntarget: component from a core module ≤ 2.00x the module per call: ${fmt(rows[1]!.cpuUs / base.cpuUs)}x`);
await ex.close();

// One instance in this thread, same run: the core-module component's call directly (our own
// canonical-ABI lift/lower, src/components/runtime/direct.ts) and through jco's glue; the
// componentize-js component's call with and without the reset (what isolation costs). Mean
// CPU per call, as the executor pays it (a median hides the calls whose reset is long).
{
  const cpuPerCall = (inst: ComponentInstance, n: number, reset: boolean) => {
    let best = Infinity;
    for (let round = 0; round < 3; round++) {
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i++) {
        const r = inst.call('Echo', request, [], new CallState([]), reset);
        if (r.status !== 0) throw new Error(r.message);
      }
      const c = process.cpuUsage(c0);
      best = Math.min(best, (c.user + c.system) / n);
    }
    return best;
  };
  const instance = async (wasm: Uint8Array, direct: boolean) => {
    const p = await prepareComponent(wasm, descriptorSet, 'echo.Echo');
    return new ComponentInstance(await loadComponent(p.spec.component!, { direct }), 1024, new CallState([]));
  };
  const n = quick ? 20_000 : 100_000;
  const d = await instance(fromCore, true);
  const g = await instance(fromCore, false);
  cpuPerCall(d, n / 10, true);
  cpuPerCall(g, n / 10, true);
  const [dUs, gUs] = [cpuPerCall(d, n, true), cpuPerCall(g, n, true)];
  console.log(`component from a core module, one instance in this thread: ${fmt(dUs)} µs CPU a call direct, ${fmt(gUs)} µs through jco's glue (${fmt(gUs / dUs)}x)`);
  if (noJs) process.exit(0);
  // Isolation on the glue's path (the direct one lowers the same bytes; its calls are timed with the reset).
  const js1 = await instance(js, false);
  const jsd = await instance(js, true);
  const m = quick ? 300 : 2000;
  cpuPerCall(js1, m / 10, true);
  const without = cpuPerCall(js1, m, false);
  const withReset = cpuPerCall(js1, m, true);
  const direct = cpuPerCall(jsd, m, true);
  console.log(`componentize-js, one instance in this thread: ${fmt(without, 1)} µs CPU a call without reset, ${fmt(withReset, 1)} µs with; isolation adds ${fmt(withReset - without, 1)} µs (target ≤ 500 µs); direct with reset ${fmt(direct, 1)} µs`);
}

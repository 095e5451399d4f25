// CRI benchmark: a real `workd serve` process driven over its unix socket by a
// grpc-js client, as a kubelet would.
//
//   npm run bench:cri                      (BENCH_PODS=2000 npm run bench:cri for a quicker run)
//
// Durability is on, as in production: every verb's changes are fdatasync'd before it answers.
// Figures, each printed as a ratio to its target (≤ 1.00 meets it) and to a
// baseline measured in the same run (a Version round trip: the floor of any CRI call):
//   - RunPodSandbox + CreateContainer + StartContainer to a running container, p50 and p99,
//     also against the three-RPC floor (three Version round trips in a row, same run)
//   - ListPodSandbox and ListContainers with BENCH_PODS (default 10,000) running pods: the
//     time until the whole response has arrived (what the runtime costs). Decoding it into
//     JS objects with proto-loader is a client cost (~10x slower than the kubelet's Go
//     decoder); it is printed on its own line.
//   - daemon RSS per running pod, beyond the shared compiled module
//   - a planned restart (SIGTERM) with BENCH_PODS running containers recorded: time from
//     starting the new daemon to its ready line (every recorded container restored, its guest
//     started and routed), and to the end of a sweep of BENCH_PODS data-plane calls that,
//     sent 32 at a time to idle containers, the router hands round-robin to every container once
//     (sent by h2load when installed, else by grpc-js; every pod's own OK count is then checked
//     through ListPodSandboxMetrics, so a sweep that missed a container fails the run)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { criClient, containerConfig, importImage, podConfig, type CriClient } from '../../test/helpers/cri-client.js';
import { startDaemon } from '../../test/helpers/daemon.js';
import { guest } from '../../test/helpers/guests.js';
import { buildTestImage } from '../../test/helpers/images.js';
import { procCpu } from '../servers.js';

const PODS = Number(process.env.BENCH_PODS ?? 10_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 300);
const COMPONENT = 'bench.example:bench.Echo@1.0.0';
// Node flags for the daemons (e.g. BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile them).
const NODE_ARGS = process.env.BENCH_NODE_ARGS?.split(' ').filter((a) => a !== '') ?? [];

const TARGET = { startP50Ms: 3, startP99Ms: 10, listMs: 50, bytesPerPod: 100 * 1024, restartMs: 2000 };

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function runningPod(cri: CriClient, image: string): Promise<string> {
  const config = podConfig(COMPONENT);
  const { pod_sandbox_id } = await cri.runtime.RunPodSandbox!({ config });
  const { container_id } = await cri.runtime.CreateContainer!({ pod_sandbox_id, config: containerConfig(image), sandbox_config: config });
  await cri.runtime.StartContainer!({ container_id });
  return container_id as string;
}

function echo(client: grpc.Client, message: string): Promise<void> {
  // EchoRequest { string message = 1 } by hand: tag, length, bytes (one byte of length suffices here).
  const body = Buffer.concat([Buffer.from([0x0a, message.length]), Buffer.from(message)]);
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest('/bench.Echo/Echo', (x: Buffer) => x, (x: Buffer) => x, body, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err) => (err ? reject(err) : resolve())),
  );
}

// The sweep's client: h2load (nghttp2-client, not ours and far cheaper per call than grpc-js, so the daemon gets
// the cores) when installed, else grpc-js. BENCH_SWEEP=grpc-js forces grpc-js.
const SWEEP_H2LOAD = process.env.BENCH_SWEEP !== 'grpc-js' && spawnSync('h2load', ['--version']).status === 0;

interface Sweep {
  readonly client: string;
  /** The client's CPU time. */
  readonly cpuMs: number;
  readonly failed: number;
}

async function grpcSweep(port: number, calls: number): Promise<Sweep> {
  const data = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'bench.example' });
  const cpu0 = process.cpuUsage();
  let sent = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (sent < calls) {
      sent++;
      await echo(data, 'x');
    }
  }));
  const cpu = process.cpuUsage(cpu0);
  data.close();
  return { client: 'this grpc-js client', cpuMs: (cpu.user + cpu.system) / 1000, failed: 0 };
}

async function h2loadSweep(port: number, calls: number, dir: string): Promise<Sweep> {
  const body = join(dir, 'echo.bin');
  // One gRPC message: uncompressed, 3 bytes, EchoRequest { message: "x" }.
  writeFileSync(body, Buffer.from([0, 0, 0, 0, 3, 0x0a, 1, 0x78]));
  const argv = ['-H', ':authority: bench.example', '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-d', body, '-n', String(calls), '-c', '1', '-m', '32', '-t', '1', `http://127.0.0.1:${port}/bench.Echo/Echo`];
  // bash's `times` prints its children's user and system CPU time (h2load's), on the second line.
  const child = spawn('bash', ['-c', 'h2load "$@"; s=$?; times >&2; exit $s', 'h2load', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const status = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const times = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/m.exec(err.trim().split('\n').at(-1) ?? '');
  const cpuMs = times ? (Number(times[1]) * 60 + Number(times[2]) + Number(times[3]) * 60 + Number(times[4])) * 1000 : NaN;
  const m = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded/.exec(out);
  if (status !== 0 || !m) throw new Error(`h2load failed (exit ${status}): ${out}`);
  return { client: 'h2load', cpuMs, failed: calls - Number(m[1]) };
}

function row(name: string, value: string, target: number, got: number, baseline: number): void {
  const ratio = got / target;
  console.log(
    `${name.padEnd(44)} ${value.padStart(12)}   ${ratio.toFixed(2).padStart(6)} × target ${ratio <= 1 ? 'ok  ' : 'MISS'}   ${(got / baseline).toFixed(1).padStart(7)} × baseline`,
  );
}

async function main(): Promise<void> {
  const img = await buildTestImage({ component: COMPONENT, wasm: await guest('kitchen') });
  const dir = mkdtempSync(join(tmpdir(), 'workd-bench-cri-'));
  const stateDir = join(dir, 'state');
  let d = await startDaemon({ logLevel: 'warn', args: ['--plaintext'], stateDir, nodeArgs: NODE_ARGS });
  let cri = criClient(d.criSocket);
  try {
    const image = await importImage(cri, img.dir);

    // Baseline: the Version round trip over the same socket and client.
    for (let i = 0; i < 200; i++) await cri.runtime.Version!({});
    const base: number[] = [];
    for (let i = 0; i < 500; i++) base.push(await timeMs(() => cri.runtime.Version!({})));
    base.sort((a, b) => a - b);
    const baseP50 = quantile(base, 0.5);
    const floor: number[] = [];
    for (let i = 0; i < 300; i++) floor.push(await timeMs(async () => {
      for (let k = 0; k < 3; k++) await cri.runtime.Version!({});
    }));
    floor.sort((a, b) => a - b);

    // Warm up (first start compiles the module; later ones hit the cache).
    for (let i = 0; i < 50; i++) await runningPod(cri, image);
    const rssBefore = rssBytes(d.ready.pid);
    const starts: number[] = [];
    const startsCpu0 = procCpu(d.ready.pid);
    for (let i = 0; i < SAMPLES; i++) starts.push(await timeMs(() => runningPod(cri, image)));
    const startCpuUs = (procCpu(d.ready.pid) - startsCpu0) / SAMPLES;
    starts.sort((a, b) => a - b);

    // Fill up to PODS running pods, a few calls in flight at a time as a kubelet would.
    let have = 50 + SAMPLES;
    const fillStart = performance.now();
    while (have < PODS) {
      const batch = Math.min(16, PODS - have);
      await Promise.all(Array.from({ length: batch }, () => runningPod(cri, image)));
      have += batch;
    }
    const fillS = (performance.now() - fillStart) / 1000;
    global.gc?.();
    await new Promise((r) => setTimeout(r, 500));
    const rssAfter = rssBytes(d.ready.pid);
    const perPod = (rssAfter - rssBefore) / (have - 50);

    const listTimes = async (fn: () => Promise<unknown>) => {
      for (let i = 0; i < 3; i++) await fn();
      const t: number[] = [];
      for (let i = 0; i < 15; i++) t.push(await timeMs(fn));
      return t.sort((a, b) => a - b);
    };
    // A client that receives the encoded response and does not decode it.
    const raw = new grpc.Client(`unix://${d.criSocket}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
    const rawList = (method: string) =>
      new Promise<Buffer>((resolve, reject) =>
        raw.makeUnaryRequest(`/runtime.v1.RuntimeService/${method}`, () => Buffer.alloc(0), (b: Buffer) => b, {}, (e, r) => (e ? reject(e) : resolve(r!))),
      );
    let listBytes = 0;
    const lp = await listTimes(async () => (listBytes = (await rawList('ListPodSandbox')).length));
    const lc = await listTimes(() => rawList('ListContainers'));
    raw.close();
    // The same lists decoded by a proto-loader client, which also checks the counts.
    let podCount = 0;
    let ctrCount = 0;
    const lpDecoded = await listTimes(async () => (podCount = (await cri.runtime.ListPodSandbox!({})).items.length));
    await listTimes(async () => (ctrCount = (await cri.runtime.ListContainers!({})).containers.length));

    // A planned restart with every container recorded RUNNING.
    const loadBefore = loadavg()[0]!;
    cri.close();
    await d.stop('SIGTERM');
    const t0 = performance.now();
    d = await startDaemon({ logLevel: 'info', args: ['--plaintext'], stateDir, nodeArgs: NODE_ARGS });
    const readyMs = performance.now() - t0;
    const readyCpuMs = procCpu(d.ready.pid) / 1000;
    const restored = await d.waitForLog((l) => l.msg === 'restored pod sandboxes and containers from the state store');
    const opened = await d.waitForLog((l) => l.msg === 'state store opened');
    const sweepCpu0Ms = procCpu(d.ready.pid) / 1000;
    const sweepStart = performance.now();
    // Sent 32 at a time: every container is idle, so each call goes to the next one round-robin.
    const sweep = SWEEP_H2LOAD ? await h2loadSweep(d.ready.tcpPort, have, dir) : await grpcSweep(d.ready.tcpPort, have);
    const sweepMs = performance.now() - sweepStart;
    const servedMs = performance.now() - t0;
    const servedCpuMs = procCpu(d.ready.pid) / 1000;
    cri = criClient(d.criSocket);
    const running = (await cri.runtime.ListContainers!({ filter: { state: { state: 'CONTAINER_RUNNING' } } })).containers.length;
    // Each container's own count of OK calls (the data plane's counters, through the CRI): the sweep reached every one.
    type Metric = { name: string; label_values: string[]; value?: { value: string } };
    type PodMetrics = { container_metrics: Array<{ metrics: Metric[] }> };
    const answered = ((await cri.runtime.ListPodSandboxMetrics!({})).pod_metrics as PodMetrics[]).filter((p) =>
      p.container_metrics.some((c) => c.metrics.some((m) => m.name === 'workd_container_calls_total' && m.label_values[0] === 'OK' && Number(m.value?.value) >= 1)),
    ).length;

    console.log(`workd CRI benchmark: ${have} running pods (filled in ${fillS.toFixed(1)} s), ${SAMPLES} timed starts; durable state on; load average ${loadBefore.toFixed(2)} on ${(await import('node:os')).cpus().length} cores`);
    console.log(`baseline: Version round trip p50 ${baseP50.toFixed(3)} ms, p99 ${quantile(base, 0.99).toFixed(3)} ms over the same socket; three in a row (the floor of a start) p50 ${quantile(floor, 0.5).toFixed(3)} ms, p99 ${quantile(floor, 0.99).toFixed(3)} ms`);
    row('Run+Create+Start to running, p50', `${quantile(starts, 0.5).toFixed(3)} ms`, TARGET.startP50Ms, quantile(starts, 0.5), baseP50);
    console.log(`${''.padEnd(44)} ${''.padStart(12)}   ${(quantile(starts, 0.5) / quantile(floor, 0.5)).toFixed(2).padStart(6)} × three-RPC floor p50`);
    console.log(`${''.padEnd(44)} ${''.padStart(12)}   (daemon CPU ${(startCpuUs / 1000).toFixed(2)} ms a start, all threads)`);
    row('Run+Create+Start to running, p99', `${quantile(starts, 0.99).toFixed(3)} ms`, TARGET.startP99Ms, quantile(starts, 0.99), baseP50);
    console.log(`${''.padEnd(44)} ${''.padStart(12)}   ${(quantile(starts, 0.99) / quantile(floor, 0.99)).toFixed(2).padStart(6)} × three-RPC floor p99`);
    row(`ListPodSandbox at ${podCount} pods, p50`, `${quantile(lp, 0.5).toFixed(2)} ms`, TARGET.listMs, quantile(lp, 0.5), baseP50);
    row(`ListContainers at ${ctrCount} containers, p50`, `${quantile(lc, 0.5).toFixed(2)} ms`, TARGET.listMs, quantile(lc, 0.5), baseP50);
    console.log(`  (ListPodSandbox response ${(listBytes / 2 ** 20).toFixed(1)} MiB; decoded into JS objects by proto-loader: p50 ${quantile(lpDecoded, 0.5).toFixed(1)} ms, a client cost)`);
    console.log(
      `${'daemon RSS per running pod'.padEnd(44)} ${`${(perPod / 1024).toFixed(1)} KB`.padStart(12)}   ${(perPod / TARGET.bytesPerPod).toFixed(2).padStart(6)} × target ${perPod <= TARGET.bytesPerPod ? 'ok  ' : 'MISS'}   (RSS ${(rssBefore / 2 ** 20).toFixed(0)} → ${(rssAfter / 2 ** 20).toFixed(0)} MiB)`,
    );
    row(`restart with ${have} running: start → ready`, `${readyMs.toFixed(0)} ms`, TARGET.restartMs, readyMs, baseP50);
    row(`restart: start → all ${have} answered a call`, `${servedMs.toFixed(0)} ms`, TARGET.restartMs, servedMs, baseP50);
    console.log(`  (daemon CPU time, all threads: ${readyCpuMs.toFixed(0)} ms to ready, ${servedCpuMs.toFixed(0)} ms to the end of the sweep; less sensitive to the machine load than wall time)`);
    console.log(`  (state store read in ${String(opened.ms)} ms, pods restored and guests started in ${Math.round(Number(restored.ms))} ms; the sweep of ${have} calls, 32 in flight, took ${sweepMs.toFixed(0)} ms; ${running} containers RUNNING after the restart)`);
    console.log(`  (during the sweep: daemon CPU ${(servedCpuMs - sweepCpu0Ms).toFixed(0)} ms = ${(((servedCpuMs - sweepCpu0Ms) * 1000) / have).toFixed(0)} µs a call; ${sweep.client}'s CPU ${sweep.cpuMs.toFixed(0)} ms = ${((sweep.cpuMs * 1000) / have).toFixed(0)} µs a call, on the same 2 cores; ${sweep.failed} calls failed)`);
    console.log(`  (${answered} of ${have} pods counted an OK call of their own after the sweep)`);
    if (answered !== have || sweep.failed > 0) throw new Error(`the sweep did not reach every container: ${answered} of ${have} answered, ${sweep.failed} calls failed`);
  } finally {
    cri.close();
    await d.stop();
    await img.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

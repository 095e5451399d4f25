// The bounded soak: a real `workd serve` on loopback, driven as a kubelet
// drives it — pods created, started, stopped and removed in a loop, with the
// PLEG's relists and status calls and the stats calls — while gRPC clients
// call the pods' components over HTTP/2 (grpc-js) and HTTP/3 (our client).
//
// Stable components always keep a running pod while one of theirs cycles, so
// every call to them must succeed; the "volatile" component has one pod,
// cycled, so its calls may meet UNAVAILABLE while it has none. At the end the
// daemon's file descriptors, executor workers and timers must be what they
// were before the load, and its RSS must not keep growing.
//
// Growing means what a full garbage collection does not give back: the
// daemon's main heap is a sawtooth (~1 MB/s of pods' and calls' objects die in
// the old generation; V8 collects at 2-4x the live size), which a straight
// line fitted to RSS sampled at random phases reads as ±6-50 MB/min either
// way. So the soak holds a DevTools session on the daemon (--inspect on
// 127.0.0.1, port 0) and every `settleEveryMs` asks for a full collection
// (HeapProfiler.collectGarbage), then reads RSS and the heap: the slope of
// those settled readings after the warm-up is the criterion. The RSS sampled
// without a collection is reported too.
//
//   const report = await runSoak({ minMs: 300_000, minCycles: 1000 });   // npm run soak
//   console.log(formatReport(report));
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { criClient, type CriClient, type Msg } from '../helpers/cri-client.js';
import { componentLabels } from '../helpers/cri-client.js';
import { importComponentImage, msg, serviceClient, text } from '../integration/dataplane-fixture.js';
import { Http3Client } from '../../src/dataplane/http3/client.js';
import { Code } from '../../src/errors.js';
import { INSPECT_ARG, Inspector } from './inspector.js';


export interface SoakOptions {
  /** Run at least this long (the load phase). */
  minMs: number;
  /** ... and at least this many pod cycles (stop + remove + run a new one). */
  minCycles: number;
  /** Give up (and fail) past this long if minCycles is not reached. */
  maxMs?: number;
  /** Stable components, and pods of each (default 10 × 20 = 200 pods). */
  components?: number;
  podsPerComponent?: number;
  /** Pod cycles running at once (default 4). */
  cyclers?: number;
  /**
   * Pod cycles a second at most, all cyclers together (default 10: 3,000 in 5 minutes). Paced, as the calls
   * are, so that a run's load does not depend on the machine's: unpaced, the same soak made 2,400 cycles
   * in 5 minutes at load 15 and 33,000 at load 4.
   */
  cyclesPerSecond?: number;
  /** Calls per second per transport (default 150). */
  callsPerSecond?: number;
  /** Calls in flight at most per transport (default 16). */
  concurrency?: number;
  /** RSS sample period (default 5 s). */
  sampleMs?: number;
  /** The RSS slope is fitted on samples after this (default 60 s). */
  warmupMs?: number;
  /** Progress lines (default none). */
  progress?: (line: string) => void;
  /** Flags for the daemon's node (e.g. --heapsnapshot-signal=SIGUSR2 to look for what grows). */
  nodeArgs?: readonly string[];
  /** A command the daemon runs under (e.g. ['heaptrack'] to find native allocations; see test/helpers/daemon.ts). */
  launcher?: readonly string[];
  /** A full collection, then RSS and heap read, this often (default 15 s; 0: none, no DevTools session). */
  settleEveryMs?: number;
  /** Called after each RSS sample with the daemon (its pid, its stdout for --trace-gc lines). */
  onSample?: (tMs: number, daemon: TestDaemon) => void;
}

export interface Resources {
  /** Open descriptors but the threads' CPU clocks. */
  fds: number;
  /** `/proc/<pid>/task/<tid>/schedstat` descriptors: each worker's own CPU clock, and the pool's reading of it. */
  clockFds: number;
  workers: number;
  timers: number;
  handles: number;
  rssBytes: number;
}

export interface SoakReport {
  startedAt: string;
  loadMs: number;
  pods: number;
  podCycles: number;
  volatileCycles: number;
  calls: Record<'http2' | 'http3', { served: number; byCode: Record<string, number> }>;
  /** Calls that failed with a code other than OK, except UNAVAILABLE to the volatile component. */
  failedCalls: number;
  failures: string[];
  unavailable: { volatile: number; stable: number };
  cri: { calls: number; errors: Record<string, number> };
  before: Resources;
  after: Resources;
  /** RSS sampled every sampleMs, at whatever phase of the collector. */
  rss: { tMs: number; bytes: number }[];
  /** RSS and the main heap right after a full collection, every settleEveryMs. */
  settled: { tMs: number; rssBytes: number; heapUsedBytes: number; heapTotalBytes: number; kinds: RssKinds }[];
  /** Least-squares slope of the settled RSS after the warm-up, MB per minute (the criterion). */
  settledSlopeMbPerMin: number;
  /** The same of the main heap in use after a full collection. */
  heapSlopeMbPerMin: number;
  /** Settled readings after the warm-up (the slope is judged from 6). */
  fittedPoints: number;
  /** Least-squares slope of the sampled RSS after the warm-up (GC-phase dependent; reported, not judged). */
  rssSlopeMbPerMin: number;
  /** The same over the second half of the load only. */
  rssSlopeLastHalfMbPerMin: number;
  loadavg: number[];
  /** The invariants that did not hold (empty: the soak passed). */
  violations: string[];
}

const STABLE_PREFIX = 'soak';
const VOLATILE = 'volatile.soak.example:soak.Echo@1.0.0';
const stableName = (i: number) => `${STABLE_PREFIX}${i}.soak.example:soak.Echo@1.0.0`;
const domainOf = (component: string) => component.slice(0, component.indexOf(':'));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssOf(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return kb ? Number(kb[1]) * 1024 : NaN;
}

/** RSS by kind of mapping, MiB (/proc/<pid>/smaps): where what a collection does not give back lives. */
export interface RssKinds {
  /** Mapped files (the binary, libraries). */
  file: number;
  /** malloc's main arena (`[heap]`). */
  brk: number;
  /** malloc's thread arenas (anonymous, at 64 MiB boundaries). */
  arenas: number;
  /** 256 KiB anonymous pages: V8 heap pages of every isolate (the main thread's and each worker's). */
  v8Pages: number;
  /** Other anonymous memory: wasm memories, large objects, thread stacks, code. */
  other: number;
}

function rssKinds(pid: number): RssKinds {
  const kb: RssKinds = { file: 0, brk: 0, arenas: 0, v8Pages: 0, other: 0 };
  let kind: keyof RssKinds = 'other';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      const lo = BigInt(`0x${m[1]}`);
      const size = Number(BigInt(`0x${m[2]}`) - lo);
      const name = m[3]!;
      kind = name.startsWith('/') ? 'file' : name === '[heap]' ? 'brk' : name !== '' ? 'other' : size === 256 * 1024 ? 'v8Pages' : lo % (64n << 20n) === 0n ? 'arenas' : 'other';
      continue;
    }
    if (line.startsWith('Rss:')) kb[kind] += Number(/(\d+)/.exec(line)![1]);
  }
  for (const k of Object.keys(kb) as (keyof RssKinds)[]) kb[k] = Math.round(kb[k] / 102.4) / 10;
  return kb;
}

function metric(body: string, name: string, labels = ''): number {
  for (const line of body.split('\n')) {
    if (line.startsWith(`${name}${labels} `) || (labels === '' && line.startsWith(`${name} `))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

const CLOCK_FD = /^\/proc\/\d+\/task\/\d+\/schedstat$/;

async function resources(d: TestDaemon): Promise<Resources> {
  const body = await (await fetch(String(d.ready.metricsUrl))).text();
  let fds = 0;
  let clockFds = 0;
  for (const fd of readdirSync(`/proc/${d.ready.pid}/fd`)) {
    let target = '';
    try {
      target = readlinkSync(`/proc/${d.ready.pid}/fd/${fd}`);
    } catch {
      continue; // closed between the listing and the read
    }
    if (CLOCK_FD.test(target)) clockFds++;
    else fds++;
  }
  return {
    fds,
    clockFds,
    workers: metric(body, 'workd_executor_workers'),
    timers: metric(body, 'workd_nodejs_active_resources', '{type="Timeout"}'),
    handles: metric(body, 'workd_nodejs_active_handles_total'),
    rssBytes: rssOf(d.ready.pid),
  };
}

/** Least-squares slope of y over x. */
function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** One pod as the kubelet creates it: sandbox, container, start; labels as the kubelet sets them. */
interface Pod {
  component: string;
  sandboxId: string;
  containerId: string;
  uid: string;
}

let podSeq = 0;

class Kubelet {
  calls = 0;
  errors: Record<string, number> = {};
  constructor(readonly cri: CriClient) {}

  async rpc(name: string, req: Msg = {}): Promise<Msg> {
    this.calls++;
    try {
      return await this.cri.runtime[name]!(req, { deadlineMs: 60_000 });
    } catch (err) {
      const key = `${name}:${grpc.status[(err as grpc.ServiceError).code] ?? (err as Error).message}`;
      this.errors[key] = (this.errors[key] ?? 0) + 1;
      throw err;
    }
  }

  async run(component: string, image: string): Promise<Pod> {
    const n = podSeq++;
    const uid = `soak-uid-${process.pid}-${n}`;
    const name = `soak-${n}`;
    const config = {
      metadata: { name, uid, namespace: 'soak', attempt: 0 },
      labels: { ...componentLabels(component), 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': 'soak', 'io.kubernetes.pod.uid': uid },
      annotations: { 'kubernetes.io/config.source': 'api' },
      log_directory: '',
    };
    const { pod_sandbox_id } = await this.rpc('RunPodSandbox', { config });
    await this.rpc('PodSandboxStatus', { pod_sandbox_id });
    const { container_id } = await this.rpc('CreateContainer', {
      pod_sandbox_id,
      config: {
        metadata: { name: 'main', attempt: 0 },
        image: { image },
        labels: { 'io.kubernetes.container.name': 'main', 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': 'soak', 'io.kubernetes.pod.uid': uid },
        annotations: {},
        envs: [],
        log_path: '',
      },
      sandbox_config: config,
    });
    await this.rpc('StartContainer', { container_id });
    return { component, sandboxId: pod_sandbox_id as string, containerId: container_id as string, uid };
  }

  /** killPod, then the garbage collector's removals, as the kubelet orders them. */
  async remove(p: Pod): Promise<void> {
    await this.rpc('StopContainer', { container_id: p.containerId, timeout: '2' });
    await this.rpc('StopPodSandbox', { pod_sandbox_id: p.sandboxId });
    await this.status(p);
    await this.rpc('RemoveContainer', { container_id: p.containerId });
    await this.rpc('RemovePodSandbox', { pod_sandbox_id: p.sandboxId });
  }

  /** GetPodStatus for one pod, as the PLEG asks after an event. */
  async status(p: Pod): Promise<void> {
    const selector = { label_selector: { 'io.kubernetes.pod.uid': p.uid } };
    const { items } = await this.rpc('ListPodSandbox', { filter: selector });
    for (const s of items as Msg[]) await this.rpc('PodSandboxStatus', { pod_sandbox_id: s.id, verbose: false });
    const { containers } = await this.rpc('ListContainers', { filter: selector });
    for (const c of containers as Msg[]) await this.rpc('ContainerStatus', { container_id: c.id, verbose: false });
  }

  /** The PLEG's relist (every second) and the stats provider's lists (every 10 s). */
  async relist(withStats: boolean): Promise<void> {
    await this.rpc('ListPodSandbox', {});
    await this.rpc('ListContainers', {});
    if (withStats) {
      await this.rpc('ListPodSandboxStats', { filter: {} });
      await this.rpc('ListContainerStats', { filter: {} });
    }
  }
}

type Transport = 'http2' | 'http3';

/**
 * Counts that must come back exactly. Thread CPU clocks are 2 per worker and
 * the spare: its own, and the pool's reading of it (opened when it reports
 * ready, closed when it is replaced).
 */
const EXACT = ['fds', 'clockFds', 'workers', 'timers', 'handles'] as const;

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.progress ?? (() => {});
  const components = o.components ?? 10;
  const perComponent = o.podsPerComponent ?? 20;
  const sampleMs = o.sampleMs ?? 5000;
  const warmupMs = o.warmupMs ?? 60_000;
  const maxMs = o.maxMs ?? Math.max(o.minMs * 3, o.minMs + 600_000);
  const settleEveryMs = o.settleEveryMs ?? 15_000;
  const nodeArgs = [...(o.nodeArgs ?? []), ...(settleEveryMs > 0 ? [INSPECT_ARG] : [])];
  const d = await startDaemon({ logLevel: 'warn', readyTimeoutMs: 60_000, nodeArgs, launcher: o.launcher });
  const cri = criClient(d.criSocket);
  const kubelet = new Kubelet(cri);
  const closers: (() => unknown)[] = [];
  try {
    // Opened before the resting state is measured, kept to the end: its connection is one of the fds compared.
    const inspector = settleEveryMs > 0 ? await Inspector.connect(d.logs()) : undefined;
    if (inspector) {
      closers.push(() => inspector.close());
      await inspector.attachWorkers();
    }
    const settle = async (tMs: number) => {
      await inspector!.collectAll();
      const heap = await inspector!.call('Runtime.getHeapUsage');
      return { tMs, rssBytes: rssOf(d.ready.pid), heapUsedBytes: heap.usedSize!, heapTotalBytes: heap.totalSize!, kinds: rssKinds(d.ready.pid) };
    };
    const images = new Map<string, string>();
    const all = [...Array.from({ length: components }, (_, i) => stableName(i)), VOLATILE];
    for (const c of all) images.set(c, await importComponentImage(cri, c));
    const pods = new Map<string, Pod[]>();
    for (const c of all) pods.set(c, []);
    for (let k = 0; k < perComponent; k++) {
      await Promise.all(all.filter((c) => c !== VOLATILE || k === 0).map(async (c) => pods.get(c)!.push(await kubelet.run(c, images.get(c)!))));
    }
    const podCount = () => [...pods.values()].reduce((s, l) => s + l.length, 0);
    log(`${podCount()} pods running (${components} components × ${perComponent}, and 1 volatile)`);

    // The clients: grpc-js over HTTP/2 (TLS, the daemon's self-signed certificate) and our HTTP/3 client.
    const cert = readFileSync(`${d.stateDir}/tls/cert.pem`);
    const h2 = new Map<string, grpc.Client & Record<string, Function>>();
    for (const c of all) {
      const client = serviceClient(`127.0.0.1:${d.ready.tcpPort}`, 'soak.Echo', {
        authority: domainOf(c),
        credentials: grpc.credentials.createSsl(cert),
        options: { 'grpc.ssl_target_name_override': 'localhost' },
      });
      h2.set(c, client);
      closers.push(() => client.close());
    }
    const h3 = await Http3Client.connect({ host: '127.0.0.1', port: d.ready.udpPort, servername: 'localhost' });
    closers.push(() => h3.close());

    const calls: SoakReport['calls'] = { http2: { served: 0, byCode: {} }, http3: { served: 0, byCode: {} } };
    const failures: string[] = [];
    const unavailable = { volatile: 0, stable: 0 };
    let failedCalls = 0;
    const record = (t: Transport, component: string, code: number, detail: string) => {
      const name = grpc.status[code] ?? String(code);
      calls[t].byCode[name] = (calls[t].byCode[name] ?? 0) + 1;
      if (code === Code.OK) {
        calls[t].served++;
        return;
      }
      if (code === Code.UNAVAILABLE) {
        if (component === VOLATILE) {
          unavailable.volatile++;
          return;
        }
        unavailable.stable++;
      }
      failedCalls++;
      if (failures.length < 20) failures.push(`${t} ${component}: ${name} ${detail}`);
    };
    const callOnce = async (t: Transport, component: string, seq: number) => {
      const body = `${t}-${seq}`;
      if (t === 'http2') {
        const r = await new Promise<{ code: number; details: string; res?: Buffer }>((resolve) =>
          h2.get(component)!.Echo!(msg(body), new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (err: grpc.ServiceError | null, res?: Buffer) =>
            resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '', res }),
          ),
        );
        record(t, component, r.code === 0 && text(r.res!) !== body ? Code.DATA_LOSS : r.code, r.details);
      } else {
        try {
          const r = await h3.unary({ authority: domainOf(component), path: '/soak.Echo/Echo', message: msg(body), timeoutMs: 30_000 });
          record(t, component, r.code === 0 && text(Buffer.from(r.response!)) !== body ? Code.DATA_LOSS : r.code, r.message);
        } catch (err) {
          record(t, component, Code.UNKNOWN, `client error: ${(err as Error).message}`);
        }
      }
    };

    // Warm up every path once, then measure the resting state.
    for (const c of all) for (const t of ['http2', 'http3'] as const) await callOnce(t, c, 0);
    await sleep(3000);
    const before = await resources(d);
    log(`before: ${JSON.stringify(before)}${inspector ? `; DevTools sessions on the main thread and ${inspector.workerSessions} workers` : ''}`);

    let stopping = false;
    const started = Date.now();
    let podCycles = 0;
    let volatileCycles = 0;
    const rss: SoakReport['rss'] = [{ tMs: 0, bytes: before.rssBytes }];
    const settled: SoakReport['settled'] = inspector ? [await settle(0)] : [];
    const loops: Promise<void>[] = [];

    // Calls, paced, to a random component (the volatile one a tenth of the time).
    const stable = all.filter((c) => c !== VOLATILE);
    for (const t of ['http2', 'http3'] as const) {
      const rate = o.callsPerSecond ?? 150;
      const conc = o.concurrency ?? 16;
      let seq = 0;
      for (let w = 0; w < conc; w++) {
        loops.push(
          (async () => {
            const gap = (1000 * conc) / rate;
            while (!stopping) {
              const t0 = Date.now();
              const component = Math.random() < 0.1 ? VOLATILE : stable[Math.floor(Math.random() * stable.length)]!;
              await callOnce(t, component, ++seq);
              const rest = gap - (Date.now() - t0);
              if (rest > 0) await sleep(rest);
            }
          })(),
        );
      }
    }
    // Pod cycles of the stable components: a pod stopped and removed, then a new one run (the component keeps others).
    let next = 0;
    const cyclers = o.cyclers ?? 4;
    const cycleGap = (1000 * cyclers) / (o.cyclesPerSecond ?? 10);
    for (let w = 0; w < cyclers; w++) {
      loops.push(
        (async () => {
          while (!stopping) {
            const t0 = Date.now();
            const c = stable[next++ % stable.length]!;
            const list = pods.get(c)!;
            const victim = list.shift();
            if (!victim) continue;
            await kubelet.remove(victim);
            list.push(await kubelet.run(c, images.get(c)!));
            await kubelet.status(list[list.length - 1]!);
            podCycles++;
            const rest = cycleGap - (Date.now() - t0);
            if (rest > 0) await sleep(rest);
          }
        })(),
      );
    }
    // The volatile component: its only pod stopped, a pause with none running (calls meet UNAVAILABLE), a new one
    // run, and the old one removed after (as the kubelet's garbage collector removes dead pods later).
    loops.push(
      (async () => {
        while (!stopping) {
          const list = pods.get(VOLATILE)!;
          const old = list.shift()!;
          await kubelet.rpc('StopContainer', { container_id: old.containerId, timeout: '2' });
          await kubelet.rpc('StopPodSandbox', { pod_sandbox_id: old.sandboxId });
          await kubelet.status(old);
          await sleep(300);
          list.push(await kubelet.run(VOLATILE, images.get(VOLATILE)!));
          await kubelet.rpc('RemoveContainer', { container_id: old.containerId });
          await kubelet.rpc('RemovePodSandbox', { pod_sandbox_id: old.sandboxId });
          volatileCycles++;
          await sleep(1500);
        }
      })(),
    );
    // PLEG and stats.
    loops.push(
      (async () => {
        let n = 0;
        while (!stopping) {
          await kubelet.relist(n++ % 10 === 0);
          await sleep(1000);
        }
      })(),
    );
    // RSS samples and progress; the end condition.
    let failedLoop: unknown;
    const guarded = loops.map((p) =>
      p.catch((err) => {
        failedLoop ??= err;
        stopping = true;
      }),
    );
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    while (!stopping) {
      await sleep(sampleMs);
      let tMs = Date.now() - started;
      rss.push({ tMs, bytes: rssOf(d.ready.pid) });
      o.onSample?.(tMs, d);
      const done = (tMs >= o.minMs && podCycles >= o.minCycles) || tMs >= maxMs;
      // The last settled reading is taken under load too, like the others.
      if (inspector && (done || tMs - settled[settled.length - 1]!.tMs >= settleEveryMs)) {
        settled.push(await settle(tMs));
        tMs = Date.now() - started;
      }
      const served = calls.http2.served + calls.http3.served;
      const last = settled[settled.length - 1];
      log(`${(tMs / 1000).toFixed(0)} s: ${podCycles} pod cycles, ${served} calls served, ${failedCalls} failed, rss ${mib(rss[rss.length - 1]!.bytes)}${last ? `; after a full GC at ${(last.tMs / 1000).toFixed(0)} s: rss ${mib(last.rssBytes)}, heap ${mib(last.heapUsedBytes)}` : ''}`);
      if (done) stopping = true;
    }
    await Promise.all(guarded);
    const loadMs = Date.now() - started;
    if (failedLoop) throw failedLoop;
    // Back to the resting state: every pod as many as before, nothing in flight.
    while (pods.get(VOLATILE)!.length === 0) await sleep(100);
    // A descriptor or timer can be in use for a moment (a log write, a state commit): a leak is one that stays.
    await sleep(3000);
    let after = await resources(d);
    for (let i = 0; i < 10 && EXACT.some((k) => after[k] !== before[k]); i++) {
      await sleep(1000);
      after = await resources(d);
    }
    log(`after: ${JSON.stringify(after)}`);

    const after1 = <T extends { tMs: number }>(l: T[], y: (s: T) => number) => l.filter((s) => s.tMs >= warmupMs).map((s) => ({ x: s.tMs / 60_000, y: y(s) / 1e6 }));
    const rssSlopeMbPerMin = slope(after1(rss, (s) => s.bytes));
    const rssSlopeLastHalfMbPerMin = slope(rss.filter((p) => p.tMs >= loadMs / 2).map((p) => ({ x: p.tMs / 60_000, y: p.bytes / 1e6 })));
    const fitted = after1(settled, (s) => s.rssBytes);
    const settledSlopeMbPerMin = slope(fitted);
    const heapSlopeMbPerMin = slope(after1(settled, (s) => s.heapUsedBytes));
    const violations: string[] = [];
    if (failedCalls > 0) violations.push(`${failedCalls} calls failed (not UNAVAILABLE to the volatile component): ${failures.slice(0, 5).join('; ')}`);
    if (podCycles < o.minCycles) violations.push(`${podCycles} pod cycles, fewer than ${o.minCycles}`);
    const crierrs = Object.entries(kubelet.errors);
    if (crierrs.length > 0) violations.push(`CRI calls failed: ${crierrs.map(([k, v]) => `${k} ×${v}`).join(', ')}`);
    for (const k of EXACT) {
      if (after[k] !== before[k]) violations.push(`${k}: ${before[k]} before, ${after[k]} after`);
    }
    if (fitted.length >= 6 && settledSlopeMbPerMin >= 1) violations.push(`RSS after a full GC grew ${settledSlopeMbPerMin.toFixed(2)} MB/min after the first ${warmupMs / 1000} s`);
    return {
      startedAt: new Date(started).toISOString(),
      loadMs,
      pods: podCount(),
      podCycles,
      volatileCycles,
      calls,
      failedCalls,
      failures,
      unavailable,
      cri: { calls: kubelet.calls, errors: kubelet.errors },
      before,
      after,
      rss,
      settled,
      settledSlopeMbPerMin,
      heapSlopeMbPerMin,
      fittedPoints: fitted.length,
      rssSlopeMbPerMin,
      rssSlopeLastHalfMbPerMin,
      loadavg: (await import('node:os')).loadavg(),
      violations,
    };
  } finally {
    for (const c of closers) c();
    cri.close();
    await d.stop();
  }
}

/** About a dozen points of a series, the last included. */
const thin = <T>(l: T[]): T[] => l.filter((_, i) => i % Math.max(1, Math.floor(l.length / 12)) === 0 || i === l.length - 1);

export function formatReport(r: SoakReport): string {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const codes = (m: Record<string, number>) => Object.entries(m).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  const lines = [
    `workd soak, started ${r.startedAt}: ${(r.loadMs / 1000).toFixed(0)} s of load, ${r.pods} pods kept running`,
    `pod cycles: ${r.podCycles} (stable components) + ${r.volatileCycles} (the volatile one); CRI calls ${r.cri.calls}, failed: ${codes(r.cri.errors)}`,
    `calls served: HTTP/2 ${r.calls.http2.served}, HTTP/3 ${r.calls.http3.served}`,
    `calls by code: HTTP/2 ${codes(r.calls.http2.byCode)}; HTTP/3 ${codes(r.calls.http3.byCode)}`,
    `UNAVAILABLE: ${r.unavailable.volatile} to the volatile component (allowed), ${r.unavailable.stable} to stable ones`,
    `failed calls: ${r.failedCalls}${r.failures.length ? ` — ${r.failures.slice(0, 5).join('; ')}` : ''}`,
    `before → after: fds ${r.before.fds} → ${r.after.fds} (and thread CPU clocks ${r.before.clockFds} → ${r.after.clockFds}), workers ${r.before.workers} → ${r.after.workers}, timers ${r.before.timers} → ${r.after.timers}, handles ${r.before.handles} → ${r.after.handles}`,
    ...(r.settled.length > 0
      ? [
          `RSS after a full GC: ${mib(r.settled[0]!.rssBytes)} at the start, ${mib(r.settled[r.settled.length - 1]!.rssBytes)} at the end; ${r.fittedPoints >= 6 ? `slope after the warm-up ${r.settledSlopeMbPerMin.toFixed(3)} MB/min (main heap in use: ${r.heapSlopeMbPerMin.toFixed(3)} MB/min), fitted on ${r.fittedPoints} readings` : 'too few readings after the warm-up to fit a slope'}`,
          `after a full GC, RSS / heap over time: ${thin(r.settled).map((s) => `${(s.tMs / 1000).toFixed(0)} s ${mib(s.rssBytes)} / ${mib(s.heapUsedBytes)}`).join(', ')}`,
        ]
      : []),
    `RSS sampled: ${mib(r.before.rssBytes)} before, ${mib(r.after.rssBytes)} after; slope after the warm-up ${r.rssSlopeMbPerMin.toFixed(3)} MB/min (over the second half: ${r.rssSlopeLastHalfMbPerMin.toFixed(3)} MB/min)`,
    `RSS sampled over time: ${thin(r.rss).map((s) => `${(s.tMs / 1000).toFixed(0)} s ${mib(s.bytes)}`).join(', ')}`,
    `load average at the end: ${r.loadavg.map((l) => l.toFixed(2)).join(' ')}`,
    r.violations.length ? `FAILED:\n  ${r.violations.join('\n  ')}` : `PASSED: no failed calls, resources unchanged${r.settled.length >= 6 ? ', RSS after a full GC flat' : ''}`,
  ];
  return lines.join('\n');
}

// CNI cost per pod: RunPodSandbox with a network of its own, beside the same
// conflist's ADD run directly and containerd's RunPodSandbox with that conflist,
// all in one run, on one bridge + host-local + loopback list (Debian's plugins).
//
//   npm run bench:cri:cni                  (BENCH_CNI_PODS=1000, BENCH_CNI_CONTAINERD_PODS=100)
//
// Pods are made one after another (each call waits for the one before), up to
// BENCH_CNI_PODS, and kept, so the later ones run beside many: the figures are
// the latency of the 1st pod, the p50/p90 of pods 2–100 and of pods 101–N, per
// side. "direct" is the client's ADD alone (plugins exec'd by src/network/cni,
// as libcni runs them) and "netns+ADD" adds `ip netns add`, which any runtime
// needs too. containerd stops at BENCH_CNI_CONTAINERD_PODS (each of its pods is
// a shim and a pause process, ≈ 14 MB). Teardown (StopPodSandbox vs DEL) last.
// Needs root, containerd, runc and containernetworking-plugins.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CniClient, type Attachment } from '../../src/network/cni/client.js';
import { loadConfigDir } from '../../src/network/cni/conflist.js';
import { randomHexId } from '../../src/pods/ids.js';
import { criClient, podConfig, type CriClient } from '../../test/helpers/cri-client.js';
import { startDaemon } from '../../test/helpers/daemon.js';
import { PAUSE_IMAGE, containerdUnavailable, startContainerd, startImageRegistry } from '../../test/helpers/containerd.js';
import { CNI_BIN, cniUnavailable, run, uniqueName } from '../../test/helpers/netns.js';
import { readFileSync } from 'node:fs';

const PODS = Number(process.env.BENCH_CNI_PODS ?? 1000);
const CTRD_PODS = Number(process.env.BENCH_CNI_CONTAINERD_PODS ?? 100);
const COMPONENT = 'bench.example:bench.Net@1.0.0';
const TARGET = { vsDirect: 1.2, vsContainerd: 1.0 };
const TICK_US = 10_000;

/** utime+stime of a process and its waited-for children (the plugins it ran), µs. */
function cpuWithChildren(pid: number | 'self'): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_US;
}

/** The same for a process and every live descendant (the daemon's socket helper runs the plugins), µs. */
function cpuOfTree(pid: number): number {
  let t = cpuWithChildren(pid);
  for (const c of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean)) t += cpuOfTree(Number(c));
  return t;
}

interface Bands {
  first: number;
  p50to100: number;
  p90to100: number;
  p50toN: number;
  p90toN: number;
}

function bands(ms: number[]): Bands {
  const q = (xs: number[], p: number) => {
    if (xs.length === 0) return NaN;
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  };
  const mid = ms.slice(1, 100);
  const late = ms.slice(100);
  return { first: ms[0] ?? NaN, p50to100: q(mid, 0.5), p90to100: q(mid, 0.9), p50toN: q(late, 0.5), p90toN: q(late, 0.9) };
}

const fmt = (x: number) => (Number.isNaN(x) ? '   -   ' : `${x.toFixed(1).padStart(7)}`);
function line(name: string, b: Bands, extra = ''): void {
  console.log(`  ${name.padEnd(26)} ${fmt(b.first)} ${fmt(b.p50to100)} ${fmt(b.p90to100)} ${fmt(b.p50toN)} ${fmt(b.p90toN)}  ${extra}`);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const why = cniUnavailable() ?? containerdUnavailable();
  if (why) {
    console.log(`bench:cri:cni skipped: ${why}`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'workd-bench-cni-'));
  const confDir = join(dir, 'net.d');
  mkdirSync(confDir);
  const bridge = uniqueName('wdb');
  const b = randomBytes(1)[0]! % 16;
  // A /20: room for every pod of every side at once.
  const subnet = `10.${200 + (randomBytes(1)[0]! % 50)}.${b * 16}.0/20`;
  const conflist = {
    cniVersion: '1.0.0',
    name: `workd-bench-${bridge}`,
    plugins: [
      { type: 'bridge', bridge, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet }]], dataDir: join(dir, 'ipam') } },
      { type: 'loopback' },
    ],
  };
  writeFileSync(join(confDir, '10-bench.conflist'), JSON.stringify(conflist, null, 2));
  console.log(`bench:cri:cni — ${PODS} pods (containerd ${CTRD_PODS}), one at a time; conflist bridge+host-local+loopback (${subnet}); load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`  ${''.padEnd(26)} ${'1st'.padStart(7)} ${'p50≤100'.padStart(7)} ${'p90≤100'.padStart(7)} ${`p50≤${PODS}`.padStart(7)} ${`p90≤${PODS}`.padStart(7)}  (ms)`);
  try {
    // ── direct: the same list's ADD, from this process ──
    const client = new CniClient(loadConfigDir(confDir).list!, { binDirs: [CNI_BIN], timeoutMs: 60_000 });
    const addMs: number[] = [];
    const nsAddMs: number[] = [];
    const attached: { a: Attachment; name: string; result: Record<string, unknown> }[] = [];
    const cpu0 = cpuWithChildren('self');
    for (let i = 0; i < PODS; i++) {
      const key = randomHexId();
      const name = `wdb-${key.slice(0, 16)}`;
      const tNs = await timed(() => run('ip', ['netns', 'add', name]));
      const a = { containerId: key, netns: `/run/netns/${name}`, ifname: 'eth0' };
      let result: Record<string, unknown> = {};
      const tAdd = await timed(async () => (result = await client.add(a)));
      addMs.push(tAdd);
      nsAddMs.push(tNs + tAdd);
      attached.push({ a, name, result });
    }
    const directCpuPerPod = (cpuWithChildren('self') - cpu0) / PODS / 1000;
    const direct = bands(addMs);
    line('direct ADD', direct, `CPU ${directCpuPerPod.toFixed(1)} ms/pod (this process + plugins)`);
    const directNs = bands(nsAddMs);
    line('direct netns+ADD', directNs);
    const delMs: number[] = [];
    for (const x of attached) {
      delMs.push(await timed(() => client.del(x.a, x.result)));
      await run('ip', ['netns', 'del', x.name]);
    }

    // ── workd: RunPodSandbox with [cni] on ──
    const daemon = await startDaemon({ configToml: `[cni]\nenabled = true\nconf_dir = "${confDir}"\nbin_dir = "${CNI_BIN}"\n`, logLevel: 'warn' });
    const cri = criClient(daemon.criSocket);
    const runMs: number[] = [];
    const pods: string[] = [];
    let workdCpuPerPod = NaN;
    const stopMs: number[] = [];
    try {
      // The socket helper's first start (python3) is the daemon's, not a pod's: one pod first, untimed.
      const warm = (await cri.runtime.RunPodSandbox!({ config: podConfig(COMPONENT) })).pod_sandbox_id as string;
      await cri.runtime.StopPodSandbox!({ pod_sandbox_id: warm });
      await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: warm });
      const c0 = cpuOfTree(daemon.process.pid!);
      for (let i = 0; i < PODS; i++) {
        let id = '';
        runMs.push(await timed(async () => (id = (await cri.runtime.RunPodSandbox!({ config: podConfig(COMPONENT) })).pod_sandbox_id as string)));
        pods.push(id);
      }
      workdCpuPerPod = (cpuOfTree(daemon.process.pid!) - c0) / PODS / 1000;
      const st = await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: pods.at(-1) });
      if (!String(st.status.network.ip).startsWith(subnet.split('.').slice(0, 2).join('.'))) throw new Error(`workd's pod has IP ${st.status.network.ip}, not one of ${subnet}`);
      for (const p of pods) {
        stopMs.push(await timed(() => cri.runtime.StopPodSandbox!({ pod_sandbox_id: p })));
        await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: p });
      }
    } finally {
      cri.close();
      await daemon.stop();
    }
    const workd = bands(runMs);
    line('workd RunPodSandbox', workd, `CPU ${workdCpuPerPod.toFixed(1)} ms/pod (daemon, its socket helper and the plugins it ran)`);

    // ── containerd: RunPodSandbox with the same list ──
    const reg = await startImageRegistry();
    const ctrd = await startContainerd({ registry: reg });
    const ctrdMs: number[] = [];
    const ctrdStopMs: number[] = [];
    let cc: CriClient | undefined;
    try {
      // Its own conflist replaced by the one every side uses (containerd reloads the conf dir).
      rmSync(join(ctrd.dir, 'cni', '10-workd-test.conflist'));
      writeFileSync(join(ctrd.dir, 'cni', '10-bench.conflist'), JSON.stringify(conflist, null, 2));
      await new Promise((r) => setTimeout(r, 1500));
      cc = criClient(ctrd.socket);
      await cc.image.PullImage!({ image: { image: PAUSE_IMAGE } });
      const ids: string[] = [];
      for (let i = 0; i < CTRD_PODS; i++) {
        const config = { ...podConfig(COMPONENT), linux: {} };
        let id = '';
        ctrdMs.push(await timed(async () => (id = (await cc!.runtime.RunPodSandbox!({ config }, { deadlineMs: 120_000 })).pod_sandbox_id as string)));
        ids.push(id);
      }
      const st = await cc.runtime.PodSandboxStatus!({ pod_sandbox_id: ids[0] });
      if (!String(st.status.network.ip).startsWith(subnet.split('.').slice(0, 2).join('.'))) throw new Error(`containerd's pod has IP ${st.status.network.ip}: it did not use the bench's conflist`);
      for (const id of ids) {
        ctrdStopMs.push(await timed(() => cc!.runtime.StopPodSandbox!({ pod_sandbox_id: id }, { deadlineMs: 120_000 })));
        await cc!.runtime.RemovePodSandbox!({ pod_sandbox_id: id }, { deadlineMs: 120_000 });
      }
    } finally {
      cc?.close();
      await ctrd.stop();
      await reg.stop();
    }
    const containerd = bands(ctrdMs);
    line('containerd RunPodSandbox', containerd);

    console.log('  ratios (≤ 1.00 meets the target)');
    const r = (a: number, bb: number, t: number) => (Number.isNaN(a) || Number.isNaN(bb) ? '   -  ' : `${(a / bb / t).toFixed(2).padStart(6)}`);
    console.log(`  ${'workd / direct ADD ÷ 1.2'.padEnd(26)} ${r(workd.first, direct.first, TARGET.vsDirect)}  ${r(workd.p50to100, direct.p50to100, TARGET.vsDirect)}          ${r(workd.p50toN, direct.p50toN, TARGET.vsDirect)}`);
    console.log(`  ${'workd / containerd'.padEnd(26)} ${r(workd.first, containerd.first, TARGET.vsContainerd)}  ${r(workd.p50to100, containerd.p50to100, TARGET.vsContainerd)}`);
    const med = (xs: number[]) => [...xs].sort((a, c) => a - c)[Math.floor(xs.length / 2)] ?? NaN;
    console.log(`  teardown p50: direct DEL ${med(delMs).toFixed(1)} ms, workd StopPodSandbox ${med(stopMs).toFixed(1)} ms, containerd StopPodSandbox ${med(ctrdStopMs).toFixed(1)} ms`);
    console.log(`  load after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  } finally {
    await run('ip', ['link', 'del', bridge]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

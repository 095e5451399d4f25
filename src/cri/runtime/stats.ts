// Container and sandbox statistics, read from the counters' owners: the
// executor (guest CPU time, memory in use, calls in flight) and the data plane
// (calls by status code, message bytes). Nothing is counted here. The CPU rate
// (usage_nano_cores) is the change of the executor's cumulative CPU time since
// the previous stats read of that container (since its start for the first).
import type { ContainerStats } from '../../gen/cri/runtime/v1/ContainerStats.js';
import type { PodSandboxStats } from '../../gen/cri/runtime/v1/PodSandboxStats.js';
import { nowNanos, type Container, type Sandbox } from '../../pods/pod.js';
import type { RuntimeDeps } from './deps.js';

const u64 = (n: number | bigint) => ({ value: String(n) });

interface Sample {
  readonly cpuNanos: number;
  readonly at: bigint;
}

/** The previous CPU sample per container, per daemon (bounded by the containers it has). */
const samples = new WeakMap<RuntimeDeps, Map<string, Sample>>();

/** Forgets a removed container's last sample. */
export function forgetSample(d: RuntimeDeps, containerId: string): void {
  samples.get(d)?.delete(containerId);
}

function cpuRate(d: RuntimeDeps, c: Container, cpuNanos: number, at: bigint): number {
  let byId = samples.get(d);
  if (!byId) samples.set(d, (byId = new Map()));
  const prev = byId.get(c.id) ?? { cpuNanos: 0, at: BigInt(c.record.startedAt === '0' ? c.record.createdAt : c.record.startedAt) };
  byId.set(c.id, { cpuNanos, at });
  const dt = Number(at - prev.at);
  return dt > 0 ? Math.max(0, Math.round(((cpuNanos - prev.cpuNanos) / dt) * 1e9)) : 0;
}

export interface Usage {
  readonly cpuNanos: number;
  readonly nanoCores: number;
  readonly workingSetBytes: number;
  readonly limitBytes: number;
  readonly inFlight: number;
}

export function usageOf(d: RuntimeDeps, c: Container, at: bigint): Usage {
  const u = d.executor.containerUsage(c.id);
  const cpuNanos = u?.cpuNanos ?? 0;
  return {
    cpuNanos,
    nanoCores: cpuRate(d, c, cpuNanos, at),
    workingSetBytes: u?.memoryBytes ?? 0,
    limitBytes: u?.memoryLimitBytes ?? c.record.memoryLimitBytes ?? d.config.executor.memoryLimitBytes,
    inFlight: u?.inFlight ?? 0,
  };
}

function cpuAndMemory(ts: string, u: Omit<Usage, 'inFlight'>) {
  return {
    cpu: { timestamp: ts, usage_core_nano_seconds: u64(u.cpuNanos), usage_nano_cores: u64(u.nanoCores) },
    memory: {
      timestamp: ts,
      working_set_bytes: u64(u.workingSetBytes),
      usage_bytes: u64(u.workingSetBytes),
      available_bytes: u64(Math.max(0, u.limitBytes - u.workingSetBytes)),
      rss_bytes: u64(u.workingSetBytes),
      page_faults: u64(0),
      major_page_faults: u64(0),
    },
  };
}

export function toContainerStats(d: RuntimeDeps, c: Container): ContainerStats {
  const ts = nowNanos();
  const r = c.record;
  return {
    attributes: { id: r.id, metadata: r.metadata, labels: r.labels, annotations: r.annotations },
    ...cpuAndMemory(ts, usageOf(d, c, BigInt(ts))),
    // A component has no filesystem of its own: nothing is written but its log.
    writable_layer: { timestamp: ts, fs_id: { mountpoint: d.config.state.dir }, used_bytes: u64(0), inodes_used: u64(0) },
  };
}

export function toPodSandboxStats(d: RuntimeDeps, s: Sandbox): PodSandboxStats {
  const ts = nowNanos();
  const containers = s.containers.map((c) => toContainerStats(d, c));
  const sum = (f: (c: ContainerStats) => string | undefined) => containers.reduce((n, c) => n + Number(f(c) ?? 0), 0);
  const r = s.record;
  return {
    attributes: { id: r.id, metadata: r.metadata, labels: r.labels, annotations: r.annotations },
    linux: {
      ...cpuAndMemory(ts, {
        cpuNanos: sum((c) => c.cpu?.usage_core_nano_seconds?.value as string),
        nanoCores: sum((c) => c.cpu?.usage_nano_cores?.value as string),
        workingSetBytes: sum((c) => c.memory?.working_set_bytes?.value as string),
        limitBytes: sum((c) => c.memory?.working_set_bytes?.value as string) + sum((c) => c.memory?.available_bytes?.value as string),
      }),
      containers,
    },
  };
}

// What the metrics read from the parts that own the numbers, at scrape time:
// pods and containers by state (the pod pool, in the CRI's state names) and
// the data plane's call stats.
import type { CallStats } from '../dataplane/call-stats.js';
import { codeName } from '../errors.js';
import type { PodPool } from '../pods/pod-pool.js';
import type { Executor } from '../wasm/api.js';
import type { CallSeries, ContainerReading, ExecutorReading } from './metrics.js';
import { PodState } from '../pods/pod-state.js';

const SANDBOX: Readonly<Record<PodState, string | undefined>> = {
  [PodState.Ready]: 'SANDBOX_READY',
  [PodState.Created]: 'SANDBOX_READY',
  [PodState.Starting]: 'SANDBOX_READY',
  [PodState.Running]: 'SANDBOX_READY',
  [PodState.Stopping]: 'SANDBOX_READY',
  [PodState.Exited]: 'SANDBOX_READY',
  [PodState.NotReady]: 'SANDBOX_NOTREADY',
  [PodState.NotReadyCreated]: 'SANDBOX_NOTREADY',
  [PodState.NotReadyExited]: 'SANDBOX_NOTREADY',
  [PodState.Removed]: undefined,
};

const CONTAINER: Readonly<Record<PodState, string | undefined>> = {
  [PodState.Ready]: undefined,
  [PodState.Created]: 'CONTAINER_CREATED',
  [PodState.Starting]: 'CONTAINER_CREATED',
  [PodState.Running]: 'CONTAINER_RUNNING',
  [PodState.Stopping]: 'CONTAINER_RUNNING',
  [PodState.Exited]: 'CONTAINER_EXITED',
  [PodState.NotReady]: undefined,
  [PodState.NotReadyCreated]: 'CONTAINER_CREATED',
  [PodState.NotReadyExited]: 'CONTAINER_EXITED',
  [PodState.Removed]: undefined,
};

function count(pool: PodPool, table: Readonly<Record<PodState, string | undefined>>): Map<string, number> {
  const out = new Map<string, number>();
  for (const v of new Set(Object.values(table))) if (v !== undefined) out.set(v, 0);
  for (const p of pool.pods()) {
    const s = table[p.state];
    if (s !== undefined) out.set(s, (out.get(s) ?? 0) + 1);
  }
  return out;
}

export const sandboxesByState = (pool: PodPool) => count(pool, SANDBOX);
export const containersByState = (pool: PodPool) => count(pool, CONTAINER);

/** The data plane's call stats as one series per (domain, service, method, code), buckets made cumulative. */
export function callSeries(stats: CallStats): CallSeries[] {
  const out: CallSeries[] = [];
  stats.forEach((domain, service, method, m) => {
    for (let code = 0; code < m.calls.length; code++) {
      if (m.calls[code] === 0) continue;
      let running = 0;
      const latencyBuckets = (m.buckets[code] ?? []).map((n) => (running += n));
      out.push({
        domain,
        service,
        method,
        code: codeName(code),
        calls: m.calls[code]!,
        requestBytes: m.requestBytes[code]!,
        responseBytes: m.responseBytes[code]!,
        latencyBuckets,
        latencySeconds: m.seconds[code]!,
      });
    }
  });
  return out;
}

/** The executor's node-wide counters. */
export function executorReading(executor: Executor): ExecutorReading {
  const u = executor.usage();
  return { workers: u.workers, busyWorkers: u.busyWorkers, queued: u.queued, workerCpuNanos: u.workerCpuNanos };
}

/** The executor's counters of each container that has a guest running now. */
export function containerReadings(pool: PodPool, executor: Executor): ContainerReading[] {
  const out: ContainerReading[] = [];
  for (const p of pool.pods()) {
    const rt = p.runtime;
    if (rt === undefined) continue;
    const u = executor.containerUsage(rt.containerId);
    if (u === undefined) continue;
    out.push({
      container: rt.containerId,
      pod: p.id,
      domain: p.component.domain,
      service: p.component.service,
      cpuNanos: u.cpuNanos,
      memoryBytes: u.memoryBytes,
      inFlight: u.inFlight,
    });
  }
  return out;
}

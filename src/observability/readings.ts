// What the metrics read from the parts that own the numbers, at scrape time:
// pods and containers by state (the pod pool, in the CRI's state names) and
// the data plane's call stats.
import type { CallStats } from '../dataplane/call-stats.js';
import { codeName } from '../errors.js';
import type { PodPool } from '../pods/pod-pool.js';
import type { Executor } from '../wasm/api.js';
import type { CallSeries, ContainerReading, ExecutorReading } from './metrics.js';
import { criContainerState, criSandboxState } from '../pods/pod-state.js';

function count<T>(items: Iterable<T>, all: readonly string[], stateOf: (item: T) => string): Map<string, number> {
  const out = new Map<string, number>(all.map((s) => [s, 0]));
  for (const item of items) {
    const s = stateOf(item);
    out.set(s, (out.get(s) ?? 0) + 1);
  }
  return out;
}

export const sandboxesByState = (pool: PodPool) => count(pool.sandboxes(), ['SANDBOX_READY', 'SANDBOX_NOTREADY'], (s) => criSandboxState(s.state));
export const containersByState = (pool: PodPool) =>
  count(pool.containers(), ['CONTAINER_CREATED', 'CONTAINER_RUNNING', 'CONTAINER_EXITED'], (c) => criContainerState(c.state));

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
  for (const c of pool.containers()) {
    const rt = c.runtime;
    if (rt === undefined) continue;
    const u = executor.containerUsage(rt.containerId);
    if (u === undefined) continue;
    out.push({
      container: rt.containerId,
      pod: c.sandbox.id,
      domain: c.sandbox.component.domain,
      service: c.sandbox.component.service,
      cpuNanos: u.cpuNanos,
      memoryBytes: u.memoryBytes,
      inFlight: u.inFlight,
    });
  }
  return out;
}

// ListMetricDescriptors and ListPodSandboxMetrics: per-container metrics the
// kubelet passes on (/metrics/cadvisor when it takes pod stats from the CRI).
// Calls by status code and message bytes are the data plane's counters, calls
// in flight the executor's; log bytes is the size of the container's log file.
import { statSync } from 'node:fs';
import type { UnaryHandler } from '../handler.js';
import type { ListMetricDescriptorsResponse } from '../../gen/cri/runtime/v1/ListMetricDescriptorsResponse.js';
import type { ListPodSandboxMetricsResponse } from '../../gen/cri/runtime/v1/ListPodSandboxMetricsResponse.js';
import type { Metric } from '../../gen/cri/runtime/v1/Metric.js';
import { codeName } from '../../errors.js';
import { nowNanos, type Container } from '../../pods/pod.js';
import type { RuntimeDeps } from './deps.js';

type Kind = 'COUNTER' | 'GAUGE';
const DESCRIPTORS: ReadonlyArray<{ name: string; help: string; label_keys: string[]; type: Kind }> = [
  { name: 'workd_container_calls_total', help: 'Calls the container served, by gRPC status code', label_keys: ['code'], type: 'COUNTER' },
  { name: 'workd_container_calls_in_flight', help: 'Calls admitted to the container and not finished', label_keys: [], type: 'GAUGE' },
  { name: 'workd_container_request_bytes_total', help: 'Request message bytes of the calls the container served', label_keys: [], type: 'COUNTER' },
  { name: 'workd_container_response_bytes_total', help: 'Response message bytes of the calls the container served', label_keys: [], type: 'COUNTER' },
  { name: 'workd_container_log_bytes', help: "Size of the container's current log file in bytes", label_keys: [], type: 'GAUGE' },
];
const TYPE = new Map(DESCRIPTORS.map((m) => [m.name, m.type]));

function logBytes(c: Container): number {
  if (c.record.logPath === '') return 0;
  try {
    return statSync(c.record.logPath).size;
  } catch {
    return 0;
  }
}

function containerMetrics(d: RuntimeDeps, c: Container, ts: string): Metric[] {
  const metric = (name: string, value: number, labels: string[] = []): Metric => ({
    name,
    timestamp: ts,
    metric_type: TYPE.get(name)!,
    label_values: labels,
    value: { value: String(value) },
  });
  const calls = d.callStats()?.container(c.id);
  const out: Metric[] = [];
  calls?.calls.forEach((n, code) => {
    if (n > 0) out.push(metric('workd_container_calls_total', n, [codeName(code)]));
  });
  out.push(metric('workd_container_calls_in_flight', d.executor.containerUsage(c.id)?.inFlight ?? 0));
  out.push(metric('workd_container_request_bytes_total', calls?.requestBytes ?? 0));
  out.push(metric('workd_container_response_bytes_total', calls?.responseBytes ?? 0));
  out.push(metric('workd_container_log_bytes', logBytes(c)));
  return out;
}

export function listMetricDescriptors(): UnaryHandler<unknown, ListMetricDescriptorsResponse> {
  const answer = { descriptors: DESCRIPTORS.map(({ name, help, label_keys }) => ({ name, help, label_keys })) };
  return async () => answer;
}

export function listPodSandboxMetrics(d: RuntimeDeps): UnaryHandler<unknown, ListPodSandboxMetricsResponse> {
  return async () => {
    const ts = nowNanos();
    const pod_metrics = [];
    for (const s of d.pool.sandboxes()) {
      pod_metrics.push({
        pod_sandbox_id: s.id,
        metrics: [],
        container_metrics: s.containers.map((c) => ({ container_id: c.id, metrics: containerMetrics(d, c, ts) })),
      });
    }
    return { pod_metrics };
  };
}

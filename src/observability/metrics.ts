// Prometheus metrics (prom-client). Nothing is counted here twice: each number
// is read, at scrape time, from the part that owns it (the data plane's call
// stats, the executor's usage, the pod pool, the image store, the
// transports). The only counters kept here are the CRI's, because the CRI
// interceptor is their one place and has no other reader.
//
// Label values are bounded by their sources (methods a container does not
// serve are `other`, unknown services `unknown`); as a last guard a metric
// keeps at most MAX_SERIES label sets per scrape and folds the rest into one
// `other` series.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { LATENCY_BUCKETS } from './buckets.js';

export const OTHER = 'other';


/** One (domain, service, method, code) of the data plane's calls. */
export interface CallSeries {
  readonly domain: string;
  readonly service: string;
  readonly method: string;
  /** gRPC status name, e.g. OK, UNIMPLEMENTED. */
  readonly code: string;
  readonly calls: number;
  readonly requestBytes: number;
  readonly responseBytes: number;
  /** Cumulative counts per LATENCY_BUCKETS bound (same length), their sum of seconds. */
  readonly latencyBuckets: readonly number[];
  readonly latencySeconds: number;
}

export interface ExecutorReading {
  readonly workers: number;
  readonly busyWorkers: number;
  readonly queued: number;
  readonly workerCpuNanos: number;
}

export interface ContainerReading {
  readonly container: string;
  readonly pod: string;
  readonly domain: string;
  readonly service: string;
  readonly cpuNanos: number;
  readonly memoryBytes: number;
  readonly inFlight: number;
}

export interface ImagePullReading {
  readonly result: 'success' | 'failure';
  readonly pulls: number;
  readonly bytes: number;
}

/** Where the numbers come from; each is optional so the daemon wires what it has. */
export interface MetricsSources {
  calls?: () => Iterable<CallSeries>;
  podsByState?: () => Iterable<readonly [state: string, count: number]>;
  containersByState?: () => Iterable<readonly [state: string, count: number]>;
  executor?: () => ExecutorReading;
  containers?: () => Iterable<ContainerReading>;
  imagePulls?: () => Iterable<ImagePullReading>;
  http2Connections?: () => number;
  quicConnections?: () => number;
}

type Labels = Record<string, string>;

/** Keeps at most maxSeries distinct label sets; the rest are added up under `other` values. */
function bounded<T>(maxSeries: number, rows: Iterable<T>, labels: (r: T) => Labels, add: (into: T | undefined, r: T) => T): Map<string, { labels: Labels; value: T }> {
  const out = new Map<string, { labels: Labels; value: T }>();
  for (const r of rows) {
    let l = labels(r);
    let key = JSON.stringify(l);
    if (!out.has(key) && out.size >= maxSeries) {
      l = Object.fromEntries(Object.keys(l).map((k) => [k, k === 'code' || k === 'state' ? l[k]! : OTHER]));
      key = JSON.stringify(l);
    }
    const prev = out.get(key);
    out.set(key, { labels: l, value: add(prev?.value, r) });
  }
  return out;
}

export class Metrics {
  readonly registry = new Registry();
  readonly sources: MetricsSources = {};
  private readonly criCalls: Counter<'method' | 'code'>;
  private readonly criLatency: Histogram<'method'>;

  /** `maxSeries`: limits.metricsMaxSeriesPerMetric. */
  constructor(maxSeries: number) {
    collectDefaultMetrics({ register: this.registry, prefix: 'workd_' });
    const r = [this.registry];
    const sources = this.sources;

    this.criCalls = new Counter({ name: 'workd_cri_calls_total', help: 'CRI calls by method and gRPC status code.', labelNames: ['method', 'code'], registers: r });
    this.criLatency = new Histogram({
      name: 'workd_cri_call_duration_seconds',
      help: 'CRI call latency by method.',
      labelNames: ['method'],
      buckets: [...LATENCY_BUCKETS],
      registers: r,
    });

    const callLabels = (c: CallSeries) => ({ domain: c.domain, service: c.service, method: c.method, code: c.code });
    const sumCalls = (a: CallSeries | undefined, b: CallSeries): CallSeries =>
      a === undefined
        ? b
        : {
            ...a,
            calls: a.calls + b.calls,
            requestBytes: a.requestBytes + b.requestBytes,
            responseBytes: a.responseBytes + b.responseBytes,
            latencyBuckets: a.latencyBuckets.map((v, i) => v + (b.latencyBuckets[i] ?? 0)),
            latencySeconds: a.latencySeconds + b.latencySeconds,
          };
    const readCalls = () => bounded(maxSeries, sources.calls?.() ?? [], callLabels, sumCalls);
    const perCall = (name: string, help: string, pick: (c: CallSeries) => number, withCode: boolean) =>
      new Counter({
        name,
        help,
        labelNames: withCode ? ['domain', 'service', 'method', 'code'] : ['domain', 'service', 'method'],
        registers: r,
        collect() {
          this.reset();
          for (const { labels, value } of readCalls().values()) {
            const l = withCode ? labels : { domain: labels.domain!, service: labels.service!, method: labels.method! };
            this.inc(l, pick(value));
          }
        },
      });
    perCall('workd_grpc_calls_total', 'Data plane calls by domain, service, method and gRPC status code.', (c) => c.calls, true);
    perCall('workd_grpc_request_bytes_total', 'Request message bytes received by the data plane.', (c) => c.requestBytes, false);
    perCall('workd_grpc_response_bytes_total', 'Response message bytes sent by the data plane.', (c) => c.responseBytes, false);
    this.registry.registerMetric(callLatency(readCalls) as never);

    const byState = (name: string, help: string, read: () => Iterable<readonly [string, number]> | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ['state'],
        registers: r,
        collect() {
          this.reset();
          for (const [state, n] of read() ?? []) this.set({ state }, n);
        },
      });
    byState('workd_pods', 'Pod sandboxes by state.', () => sources.podsByState?.());
    byState('workd_containers', 'Containers by state.', () => sources.containersByState?.());

    const exec = (name: string, help: string, pick: (e: ExecutorReading) => number) =>
      new Gauge({
        name,
        help,
        registers: r,
        collect() {
          const e = sources.executor?.();
          if (e) this.set(pick(e));
        },
      });
    exec('workd_executor_workers', 'Executor worker threads.', (e) => e.workers);
    exec('workd_executor_busy_workers', 'Executor workers running a call now.', (e) => e.busyWorkers);
    exec('workd_executor_queue_depth', 'Calls waiting for an executor worker.', (e) => e.queued);
    new Counter({
      name: 'workd_executor_worker_cpu_seconds_total',
      help: 'CPU time of all executor workers (utilisation = rate / workers).',
      registers: r,
      collect() {
        const e = sources.executor?.();
        this.reset();
        if (e) this.inc(e.workerCpuNanos / 1e9);
      },
    });

    const containerLabels = (c: ContainerReading) => ({ container: c.container, pod: c.pod, domain: c.domain, service: c.service });
    const perContainer = <T extends Counter<string> | Gauge<string>>(make: (collect: (m: T) => void) => T, pick: (c: ContainerReading) => number) =>
      make((m) => {
        m.reset();
        const rows = bounded(maxSeries, sources.containers?.() ?? [], containerLabels, (a, b) => (a === undefined ? b : { ...a, cpuNanos: a.cpuNanos + b.cpuNanos, memoryBytes: a.memoryBytes + b.memoryBytes, inFlight: a.inFlight + b.inFlight }));
        for (const { labels, value } of rows.values()) (m as Gauge<string>).inc(labels, pick(value));
      });
    const cl = ['container', 'pod', 'domain', 'service'];
    perContainer<Counter<string>>(
      (collect) => new Counter({ name: 'workd_container_cpu_seconds_total', help: 'Guest CPU time (thread CPU) of each container.', labelNames: cl, registers: r, collect() { collect(this); } }),
      (c) => c.cpuNanos / 1e9,
    );
    perContainer<Gauge<string>>(
      (collect) => new Gauge({ name: 'workd_container_memory_working_set_bytes', help: 'Guest memory of each container.', labelNames: cl, registers: r, collect() { collect(this); } }),
      (c) => c.memoryBytes,
    );
    perContainer<Gauge<string>>(
      (collect) => new Gauge({ name: 'workd_container_calls_in_flight', help: 'Calls admitted and not finished, per container.', labelNames: cl, registers: r, collect() { collect(this); } }),
      (c) => c.inFlight,
    );

    const pulls = (name: string, help: string, pick: (p: ImagePullReading) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['result'],
        registers: r,
        collect() {
          this.reset();
          for (const p of sources.imagePulls?.() ?? []) this.inc({ result: p.result }, pick(p));
        },
      });
    pulls('workd_image_pulls_total', 'Image pulls by result.', (p) => p.pulls);
    pulls('workd_image_pull_bytes_total', 'Bytes fetched from registries by image pulls.', (p) => p.bytes);

    new Gauge({
      name: 'workd_transport_connections',
      help: 'Open data plane connections by transport (http2 = TCP, quic = HTTP/3 over UDP).',
      labelNames: ['transport'],
      registers: r,
      collect() {
        this.reset();
        if (sources.http2Connections) this.set({ transport: 'http2' }, sources.http2Connections());
        if (sources.quicConnections) this.set({ transport: 'quic' }, sources.quicConnections());
      },
    });
  }

  /** Records one CRI call (the interceptor calls it; `method` is the rpc's name, bounded by the proto). */
  observeCri(method: string, code: string, seconds: number): void {
    this.criCalls.inc({ method, code });
    this.criLatency.observe({ method }, seconds);
  }

  /** The exposition text of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** workd_grpc_call_duration_seconds, a histogram whose buckets the data plane keeps. */
function callLatency(read: () => Map<string, { labels: Labels; value: CallSeries }>) {
  const name = 'workd_grpc_call_duration_seconds';
  return {
    name,
    help: 'Data plane call latency (first request byte to trailers) by domain, service and method.',
    type: 'histogram',
    aggregator: 'sum',
    collect() {},
    reset() {},
    get() {
      const merged = new Map<string, { labels: Labels; buckets: number[]; sum: number; count: number }>();
      for (const { labels, value } of read().values()) {
        const l = { domain: labels.domain!, service: labels.service!, method: labels.method! };
        const key = JSON.stringify(l);
        const m = merged.get(key) ?? { labels: l, buckets: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 };
        value.latencyBuckets.forEach((v, i) => (m.buckets[i]! += v));
        m.sum += value.latencySeconds;
        m.count += value.calls;
        merged.set(key, m);
      }
      const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
      for (const m of merged.values()) {
        LATENCY_BUCKETS.forEach((le, i) => values.push({ labels: { ...m.labels, le }, value: m.buckets[i]!, metricName: `${name}_bucket` }));
        values.push({ labels: { ...m.labels, le: '+Inf' }, value: m.count, metricName: `${name}_bucket` });
        values.push({ labels: m.labels, value: m.sum, metricName: `${name}_sum` });
        values.push({ labels: m.labels, value: m.count, metricName: `${name}_count` });
      }
      return { name, help: this.help, type: 'histogram', aggregator: 'sum', values };
    },
  };
}

// Wiring: builds the daemon's parts from a Config, starts them in order, and
// closes them in reverse. Each part is a Component with close(); the CRI socket
// is opened last, so a client that can connect finds everything ready.
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { parseListen, type Config } from './config.js';
import { createAdminService } from './cri/admin.js';
import { startDownstream } from './cri/downstream/index.js';
import { IMAGE_UNIMPLEMENTED, createImageService } from './cri/image/index.js';
import { RUNTIME_UNIMPLEMENTED, createRuntimeService, createRuntimeStreams, type RuntimeDeps } from './cri/runtime/index.js';
import { startGuest, startOptionsKey } from './cri/runtime/container-start.js';
import { IMAGE_SERVICE, RUNTIME_SERVICE, claimSocketPath, criServiceDefinition, startCriServer, type CriService } from './cri/server.js';
import { LogLevels, type Logger } from './observability/log.js';
import { Metrics } from './observability/metrics.js';
import { startMetricsServer } from './observability/metrics-server.js';
import { callSeries, containerReadings, containersByState, executorReading, sandboxesByState } from './observability/readings.js';
import { PodPool } from './pods/pod-pool.js';
import { Lifecycle } from './pods/runner.js';
import type { CallStats } from './dataplane/call-stats.js';
import { startDataPlane, type DataPlane } from './dataplane/server.js';
import { podRoutes } from './dataplane/pod-listener.js';
import { openImageStore } from './images/image-store.js';
import { checkStateDir, listening } from './util/startup-checks.js';
import { openNodeState } from './state/node-state.js';
import { PodCommitter, restorePods } from './state/pod-records.js';
import type { StateStore } from './state/store.js';
import { createExecutor } from './wasm/executor.js';
import { servePinnedConnection } from './dataplane/pinned.js';
import { createStreamingBackend } from './streaming/backend.js';
import { startStreamingServer } from './streaming/server.js';
import { streamingLookup } from './cri/runtime/streaming.js';
import { PodNetworking } from './network/pod-network.js';
import { restorePodNetworks } from './network/restore.js';
import { stopLostSandbox } from './cri/runtime/sandbox-stop.js';

/** A started part of the daemon. `info` is merged into the machine-readable ready line. */
export interface Component {
  readonly name: string;
  readonly info?: Readonly<Record<string, unknown>>;
  close(): Promise<void>;
}

/** The `workd ready {…}` line's JSON (test helpers parse it). */
export interface ReadyInfo {
  readonly criSocket: string;
  readonly stateDir: string;
  readonly listen: string;
  /** Data plane ports actually bound (udpPort is 0 when HTTP/3 is off, e.g. with --plaintext). */
  readonly tcpPort: number;
  readonly udpPort: number;
  readonly version: string;
  readonly pid: number;
  readonly [extra: string]: unknown;
}

export interface Daemon {
  readonly config: Config;
  readonly pool: PodPool;
  readonly state: StateStore;
  readonly dataPlane: DataPlane;
  readonly ready: ReadyInfo;
  /** Stops accepting CRI calls, drains, closes every part (idempotent). Running containers stay recorded RUNNING. */
  close(): Promise<void>;
}

/** workd's version, from package.json (dist/src/daemon.js → ../../package.json). */
export const WORKD_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** The address pods report: the data plane's host if it is specific, else the node's first external address. */
export function nodeAddress(listen: string): string {
  const { host } = parseListen(listen);
  if (host !== '::' && host !== '0.0.0.0' && host !== '' && host !== 'localhost') return host;
  const all = Object.values(networkInterfaces()).flatMap((list) => list ?? []);
  const external = all.filter((a) => !a.internal);
  return (external.find((a) => a.family === 'IPv4') ?? external[0])?.address ?? '127.0.0.1';
}

export async function startDaemon(config: Config, log: Logger): Promise<Daemon> {
  const started: Component[] = [];
  const closeAll = async () => {
    for (const c of started.reverse()) {
      try {
        await c.close();
      } catch (err) {
        log.error({ component: c.name, err }, 'error while closing');
      }
    }
    started.length = 0;
  };

  try {
    await checkStateDir(config.state.dir);
    // Each part logs through its subsystem's logger, whose level can change at run time (/debug/log-levels).
    const levels = new LogLevels(log);
    // First: it takes the state dir's lock, so a second daemon on this dir stops here.
    const state = await openNodeState(config.state.dir, config.limits, levels.for('state'));
    started.push({ name: 'state', close: () => state.close() });
    await claimSocketPath(config.cri.socket, log);

    const store = await openImageStore({ dir: `${config.state.dir}/images`, log: levels.for('images'), insecureRegistries: config.images.insecureRegistries, mirrors: config.images.mirrors, limits: config.limits });
    started.push({ name: 'image store', close: () => store.close() });

    const executor = createExecutor(config.executor, levels.for('executor'), { componentCacheDir: `${config.state.dir}/components` });
    started.push({ name: 'executor', close: () => executor.close() });

    const pool = new PodPool();
    let callStats: CallStats | undefined;
    const metrics = new Metrics(config.limits.metricsMaxSeriesPerMetric);
    metrics.sources.podsByState = () => sandboxesByState(pool);
    metrics.sources.imagePulls = () => [
      { result: 'success', ...store.pullCounts.success },
      { result: 'failure', ...store.pullCounts.failure },
    ];
    metrics.sources.containersByState = () => containersByState(pool);
    metrics.sources.executor = () => executorReading(executor);
    metrics.sources.containers = () => containerReadings(pool, executor);
    // Every verb's changes are durable before it answers (src/state/pod-records.ts).
    // Pod networks (CNI): off unless [cni] enabled; its config watcher decides NetworkReady.
    const network = new PodNetworking({ config: config.cni, limits: config.limits, log: levels.for('pods'), stateDir: config.state.dir });
    const net = network.condition();
    started.push({
      name: 'pod network',
      // The banner says at once why a root node without CNI configuration refuses pods.
      info: { cni: network.enabled ? { confDir: config.cni.confDir, ready: net.ready, ...(net.ready ? {} : { why: net.message }) } : false },
      close: async () => network.close(),
    });
    const committer = new PodCommitter(state);
    const lifecycle = new Lifecycle(pool, committer.commit);
    const deps: RuntimeDeps = {
      pool,
      lifecycle,
      store,
      executor,
      config,
      log: levels.for('pods'),
      version: WORKD_VERSION,
      nodeAddress: nodeAddress(config.dataplane.listen),
      runtimeConfig: { podCidr: '' },
      prepared: new Map(),
      callStats: () => callStats,
      network,
    };
    // A planned shutdown is not a stop: once the CRI and the data plane have drained, nothing more is
    // recorded, so the containers stay RUNNING on disk and the next daemon serves them again.
    started.push({ name: 'containers', close: async () => committer.freeze() });
    // A removed image has no container (RemoveImage refuses one in use), so its compiled module can go.
    store.onRemove((imageId) => {
      deps.prepared.delete(imageId);
      executor.evict(imageId);
    });

    const restored = await restorePods(state, { pool, log, serve: (c) => startGuest(deps, c), startKey: (r) => `${r.imageId} ${startOptionsKey(deps, r)}`, concurrency: config.limits.stateRestoreConcurrency });
    log.info(restored, 'restored pod sandboxes and containers from the state store');

    // Before the CRI socket: a container the kubelet starts must be reachable at once.
    const dataPlane = await listening('the data plane (gRPC over HTTP/2 on TCP and HTTP/3 on UDP)', config.dataplane.listen, startDataPlane({ config: config.dataplane, routes: pool, log: levels.for('dataplane'), stateDir: config.state.dir, limits: config.limits }));
    // A pod with a network of its own is served at its address from sockets opened inside its namespace.
    network.attach({ add: (sb, sockets) => dataPlane.addPod({ routes: podRoutes(sb), sockets }).then(() => undefined), remove: (id) => dataPlane.removePod(id) }, dataPlane.tcpPort);
    if (network.enabled) log.info(await restorePodNetworks(pool, network, levels.for('pods'), (sb) => stopLostSandbox(deps, sb)), 'checked the networks of restored pods');
    metrics.sources.calls = () => callSeries(dataPlane.stats);
    callStats = dataPlane.stats;
    deps.podChanged = (podId) => dataPlane.podChanged(podId);
    started.push({ name: 'data plane', info: { tcpPort: dataPlane.tcpPort, udpPort: dataPlane.udpPort ?? 0, tlsCert: dataPlane.tls?.certPath }, close: () => dataPlane.close(2000) });
    metrics.sources.http2Connections = () => dataPlane.connections().http2;
    if (dataPlane.udpPort !== undefined) metrics.sources.quicConnections = () => dataPlane.connections().http3;

    // Exec, Attach and PortForward answer URLs on this server; port-forward tunnels are data plane connections.
    const backend = createStreamingBackend({
      lookup: streamingLookup(pool),
      servePinned: (stream, routes) =>
        servePinnedConnection({ stream, routes, limits: config.limits, log: levels.for('dataplane'), stats: dataPlane.stats }),
      maxStdinBytes: config.limits.streamingExecStdinMaxBytes,
    });
    const streaming = await listening('the streaming server (exec, attach, port-forward)', config.streaming.listen, startStreamingServer({ listen: config.streaming.listen, limits: config.limits, backend, log: levels.for('streaming') }));
    deps.streaming = { url: (r) => streaming.url(r), target: (id) => backend.target(id) };
    started.push({ name: 'streaming', info: { streamingUrl: streaming.baseUrl }, close: () => streaming.close() });

    if (config.metrics.listen !== '') {
      const ms = await listening('the metrics listener', config.metrics.listen, startMetricsServer({ listen: config.metrics.listen, metrics, levels, log: levels.for('metrics') }));
      started.push({ name: 'metrics', info: { metricsUrl: `${ms.url}/metrics` }, close: () => ms.close() });
    }

    // Pods that are not component pods go to the downstream runtime (containerd), when one is configured.
    const endpoint = config.downstream.endpoint;
    const downstream = endpoint
      ? await startDownstream({
          endpoint,
          workdHandler: config.downstream.workdHandler,
          state,
          log: levels.for('downstream'),
          workdKnows: (id) => pool.findSandbox(id) !== undefined || pool.findContainer(id) !== undefined,
          workdHasImage: (ref) => store.resolve(ref) !== undefined,
          insecureRegistries: config.images.insecureRegistries,
          mirrors: config.images.mirrors,
          limits: config.limits,
          cgroupDriver: config.downstream.cgroupDriver,
        })
      : undefined;
    if (downstream) started.push({ name: 'downstream', info: { downstream: downstream.endpoint }, close: () => downstream.close() });
    const runtimeHandlers = createRuntimeService(deps);
    const imageHandlers = createImageService({ store });

    // Extra local services on the CRI socket (e.g. the admin image import) are added to this list.
    const extraServices: CriService[] = [createAdminService(store)];
    const cri = await startCriServer({
      socket: config.cri.socket,
      socketGroup: config.cri.socketGroup,
      log: levels.for('cri'),
      probe: { maxHeadBytes: config.limits.criProbeMaxHeadBytes, idleMs: config.limits.criProbeIdleMs },
      observe: (method, code, seconds) => metrics.observeCri(method, code, seconds),
      services: [
        { name: RUNTIME_SERVICE, definition: criServiceDefinition('RuntimeService'), handlers: downstream ? downstream.runtime(runtimeHandlers, RUNTIME_UNIMPLEMENTED) : runtimeHandlers, streams: downstream ? downstream.runtimeStreams(createRuntimeStreams(deps)) : createRuntimeStreams(deps), unimplemented: RUNTIME_UNIMPLEMENTED },
        { name: IMAGE_SERVICE, definition: criServiceDefinition('ImageService'), handlers: downstream ? downstream.image(imageHandlers) : imageHandlers, unimplemented: IMAGE_UNIMPLEMENTED },
        ...extraServices,
      ],
    });
    started.push({ name: 'cri', info: { criSocket: cri.socket }, close: () => cri.close() });

    const info: Record<string, unknown> = Object.assign({}, ...started.map((c) => c.info ?? {}));
    const ready: ReadyInfo = {
      criSocket: cri.socket,
      stateDir: config.state.dir,
      listen: config.dataplane.listen,
      tcpPort: 0,
      udpPort: 0,
      version: WORKD_VERSION,
      pid: process.pid,
      ...info,
    };
    let closing: Promise<void> | undefined;
    return { config, pool, state, dataPlane, ready, close: () => (closing ??= closeAll()) };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

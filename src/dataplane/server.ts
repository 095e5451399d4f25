// The data plane: one gRPC server for every running component. The one
// assembly: TLS identity, router, built-in services and the shared gRPC
// handler, and every listener (HTTP/2 on TCP and HTTP/3 on UDP per address:
// the configured one, and any added at run time), with their shutdown.
import { parseListen, type Config } from '../config.js';
import type { Logger } from '../observability/log.js';
import type { RouteTable } from '../pods/routing.js';
import { createBuiltins } from './builtin/index.js';
import { CallStats } from './call-stats.js';
import { Code, failedPrecondition, notFound, unavailable, WorkdError } from '../errors.js';
import { createGrpcHandler, type GrpcHandlerOptions } from './grpc/handler.js';
import { listenHttp2, type Http2Listener } from './http2/listener.js';
import { startHttp3, type Http3Server } from './http3/listener.js';
import type { Limits } from '../limits.js';
import { Router } from './router.js';
import { ConnectionBudget } from './connection-budget.js';
import { loadTlsIdentity } from './tls.js';
import { httpProbeAnswer, PodListener, type PodListenerInfo, type PodListenerSpec } from './pod-listener.js';
import { CertStore } from './certs/store.js';

export interface DataPlaneOptions {
  readonly config: Config['dataplane'];
  readonly routes: RouteTable;
  readonly log: Logger;
  readonly stateDir: string;
  /** Every limit the data plane enforces (config.limits). */
  readonly limits: Limits;
  /** How often health Watch re-checks the route table. */
  readonly healthWatchIntervalMs?: number;
  /** Told of every finished guest call (see grpc/handler.ts). */
  readonly onCallFinished?: GrpcHandlerOptions['onCallFinished'];
}

/** One address the data plane serves: HTTP/2 on TCP and, with TLS and HTTP/3 on, HTTP/3 on UDP at the same port number. */
export interface DataPlaneListener {
  /** The address as asked for (`HOST:PORT`); removeListener takes it. */
  readonly address: string;
  /** Bound host (`::` = dual stack). */
  readonly host: string;
  readonly tcpPort: number;
  /** undefined when HTTP/3 is off (config, or h2c). */
  readonly udpPort: number | undefined;
}

export interface DataPlane {
  /** The configured listener's TCP port (the one picked for `:0`). */
  readonly tcpPort: number;
  /** The configured listener's UDP (HTTP/3) port, when HTTP/3 serves. */
  readonly udpPort: number | undefined;
  /** The certificate in use (generated or configured); undefined with h2c. */
  readonly tls: { readonly certPath: string; readonly selfSigned: boolean } | undefined;
  /** Finished guest calls by domain, service, method and code (metrics read it). */
  readonly stats: CallStats;
  /** Every address served now, the configured one first. */
  listeners(): DataPlaneListener[];
  /** Starts serving another address (e.g. a pod's own IP) with the same handler, TLS and limits. */
  addListener(address: string): Promise<DataPlaneListener>;
  /** Stops serving an address added with addListener: GOAWAY, in-flight calls finish for up to graceMs. */
  removeListener(address: string, graceMs?: number): Promise<void>;
  /**
   * Starts serving one pod sandbox on its own sockets or address (src/dataplane/pod-listener.ts): calls there go to
   * that pod's container only. Its TCP port accepts only while the pod has a running container.
   */
  addPod(spec: PodListenerSpec): Promise<PodListenerInfo>;
  /** The pod's running container may have changed: opens or closes its TCP port to match. Never rejects; unknown pods are ignored. */
  podChanged(podId: string): Promise<void>;
  /** Stops serving a pod added with addPod: GOAWAY, in-flight calls finish for up to graceMs, its sockets closed. A pod not served: nothing to do. */
  removePod(podId: string, graceMs?: number): Promise<void>;
  /** Every pod served on its own sockets. */
  pods(): PodListenerInfo[];
  /** Open connections, by transport, over every listener, and HTTP/3 connections accepted since start. */
  connections(): { http2: number; http3: number; http3Accepted: number };
  /** GOAWAY everywhere, let in-flight calls finish for up to graceMs (default 5 s), then close what is left. */
  close(graceMs?: number): Promise<void>;
}

interface Served extends DataPlaneListener {
  readonly h2: Http2Listener;
  readonly h3: Http3Server | undefined;
}

export async function startDataPlane(opts: DataPlaneOptions): Promise<DataPlane> {
  const tls = opts.config.plaintext
    ? undefined
    : await loadTlsIdentity({ tlsCert: opts.config.tlsCert, tlsKey: opts.config.tlsKey, stateDir: opts.stateDir, log: opts.log });
  // Certificates by SNI (a directory of them, ones issued for served domains) and per-domain client certificates.
  const certs = tls && await CertStore.open({
    fallback: tls, certDir: opts.config.tlsCertDir, clientCa: opts.config.tlsClientCa, stateDir: opts.stateDir, log: opts.log,
    isServed: (host) => { for (const r of opts.routes.runningServices()) if (r.domain === host) return true; return false; },
  });
  const router = new Router(opts.routes);
  const builtins = createBuiltins(opts.routes, { watchIntervalMs: opts.healthWatchIntervalMs });
  const stats = new CallStats();
  const handler = createGrpcHandler({
    router,
    stats,
    limits: opts.limits,
    log: opts.log,
    builtins: builtins.methods,
    onCallFinished: opts.onCallFinished,
    authorize: certs?.requestsClientCerts ? (domain, req) => certs.authorize(domain, req.tls) : undefined,
  });
  // One budget of TCP connections (file descriptors) for every listener.
  const budget = new ConnectionBudget(opts.limits);
  if (budget.max < opts.limits.http2MaxConnections) {
    opts.log.info({ maxConnections: budget.max, fdReserve: opts.limits.fdReserve }, 'data plane: TCP connections capped by the open-file limit');
  }
  // HTTP/3 has no cleartext form: it needs the TLS identity.
  const http3 = opts.config.http3 && tls !== undefined;
  const served = new Map<string, Served>();
  const pods = new Map<string, PodListener>();
  const podEnv = {
    handler,
    tls: certs?.http2(),
    quicTls: certs?.quic,
    cleartext: opts.config.cleartext !== 'off',
    http3,
    limits: opts.limits,
    budget,
    log: opts.log,
    healthWatchIntervalMs: opts.healthWatchIntervalMs,
  };

  async function listen(address: string): Promise<Served> {
    const { port } = parseListen(address);
    // Port 0 picks a free TCP port, but the same UDP port may be another process's: pick again.
    for (let attempt = 1; ; attempt++) {
      try {
        return await listenOnce(address);
      } catch (err) {
        if (port !== 0 || attempt >= 8 || !udpPortTaken(err)) throw err;
      }
    }
  }

  async function listenOnce(address: string): Promise<Served> {
    const { host, port } = parseListen(address);
    // `cleartext = "all"`: probes may reach the node's own listeners too (HTTP/1.1 then answers for the node).
    const cleartext = opts.config.cleartext === 'all' ? { http1: httpProbeAnswer(() => builtins.health.status('', '') === 'SERVING') } : undefined;
    const h2 = await listenHttp2({ handler, host, port, tls: certs?.http2(), cleartext, log: opts.log, limits: opts.limits, budget });
    let h3: Http3Server | undefined;
    if (http3) {
      try {
        // The same port number as TCP, so `alt-svc: h3=":PORT"` names both.
        h3 = await startHttp3({ handler, host, port: h2.port, certPem: tls.cert, keyPem: tls.key, tlsFor: certs?.quic, log: opts.log, limits: opts.limits });
      } catch (err) {
        await h2.close(0);
        throw err;
      }
    }
    const shown = `${host.includes(':') ? `[${host}]` : host}:${h2.port}`;
    opts.log.info({ listen: shown, protocol: tls ? (h3 ? 'h2+h3' : 'h2') : 'h2c', certPath: tls?.certPath }, 'data plane listening');
    return { address, host, tcpPort: h2.port, udpPort: h3?.udpPort, h2, h3 };
  }

  async function unlisten(s: Served, graceMs: number): Promise<void> {
    await Promise.all([s.h2.close(graceMs), s.h3?.close(graceMs)]);
  }

  const first = await listen(opts.config.listen);
  served.set(first.address, first);
  // Clients learn of HTTP/3 from the first HTTP/2 answer (RFC 7838); per-pod listeners share the port number.
  if (first.udpPort !== undefined) handler.setResponseField('alt-svc', `h3=":${first.udpPort}"`);

  let closed: Promise<void> | undefined;
  const view = ({ address, host, tcpPort, udpPort }: Served): DataPlaneListener => ({ address, host, tcpPort, udpPort });
  return {
    tcpPort: first.tcpPort,
    udpPort: first.udpPort,
    tls: tls && { certPath: tls.certPath, selfSigned: tls.selfSigned },
    stats,
    listeners: () => [...served.values()].map(view),
    async addListener(address) {
      if (closed) throw unavailable('the data plane is shut down');
      if (served.has(address)) throw new WorkdError(Code.ALREADY_EXISTS, `the data plane already listens on ${address}`);
      const s = await listen(address);
      served.set(address, s);
      return view(s);
    },
    async removeListener(address, graceMs = 5000) {
      const s = served.get(address);
      if (s === undefined) throw notFound(`the data plane does not listen on ${address}`);
      if (s === first) throw failedPrecondition(`${address} is the configured listener; it closes with the data plane`);
      served.delete(address);
      await unlisten(s, graceMs);
    },
    async addPod(spec) {
      if (closed) throw unavailable('the data plane is shut down');
      const id = spec.routes.podId;
      if (pods.has(id)) throw new WorkdError(Code.ALREADY_EXISTS, `the data plane already serves pod ${id} on its own sockets`);
      const p = new PodListener(podEnv, spec);
      pods.set(id, p);
      try {
        await p.sync();
      } catch (err) {
        pods.delete(id);
        await p.close(0);
        throw err;
      }
      return p.info();
    },
    async podChanged(podId) {
      try {
        await pods.get(podId)?.sync();
      } catch (err) {
        opts.log.error({ pod: podId, err: (err as Error)?.message ?? String(err) }, "data plane: cannot open the pod's own port; it refuses connections until its container starts again");
      }
    },
    async removePod(podId, graceMs = 5000) {
      const p = pods.get(podId);
      if (p === undefined) return;
      pods.delete(podId);
      await p.close(graceMs);
    },
    pods: () => [...pods.values()].map((p) => p.info()),
    connections() {
      let http2 = 0;
      let http3Count = 0;
      let http3Accepted = 0;
      for (const s of served.values()) {
        http2 += s.h2.connections;
        http3Count += s.h3?.connections ?? 0;
        http3Accepted += s.h3?.accepted ?? 0;
      }
      for (const p of pods.values()) {
        const c = p.connections();
        http2 += c.http2;
        http3Count += c.http3;
        http3Accepted += c.http3Accepted;
      }
      return { http2, http3: http3Count, http3Accepted };
    },
    close(graceMs = 5000) {
      closed ??= (async () => {
        builtins.health.close();
        certs?.close();
        await Promise.all([...served.values()].map((s) => unlisten(s, graceMs)).concat([...pods.values()].map((p) => p.close(graceMs))));
        served.clear();
        pods.clear();
      })();
      return closed;
    },
  };
}

function udpPortTaken(err: unknown): boolean {
  return err instanceof WorkdError && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE';
}

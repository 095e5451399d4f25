// A pod's own listener: the data plane serving ONE pod sandbox at its own
// address (sockets opened inside the pod's network namespace, or an address
// bound here), as the pod's server would. The socket picked the pod, so every
// call on it goes to that pod's running container whatever its `:authority`
// names, even when the same component runs in other pods; the pod's health
// answers for that container alone (what the kubelet's grpc probe asks).
//
// While the pod has no running container its TCP port refuses connections (a
// tcpSocket probe must fail, not connect): the listening socket is closed, and
// a new one is asked for when a container runs again (Node cannot stop a socket
// listening without closing it). Open connections live on meanwhile: health
// says NOT_SERVING on them and calls get UNAVAILABLE. The UDP socket (HTTP/3)
// stays for the listener's lifetime.
import type dgram from 'node:dgram';
import type http from 'node:http';
import type net from 'node:net';
import { parseListen } from '../config.js';
import type { Limits } from '../limits.js';
import type { Logger } from '../observability/log.js';
import type { Sandbox } from '../pods/pod.js';
import type { RoutableContainer, RouteTable, ServiceRoute } from '../pods/routing.js';
import { createBuiltins, type Builtins } from './builtin/index.js';
import type { GrpcHandler } from './grpc/handler.js';
import type { ConnectionBudget } from './connection-budget.js';
import { listenHttp2, type Http2Listener, type Http2Tls } from './http2/listener.js';
import { startHttp3, type Http3Server } from './http3/listener.js';
import type { QuicServerOptions } from './quic/transport.js';
import { Router } from './router.js';
import type { UniversalHandler, UniversalRequest, UniversalRequestBody, UniversalResponse } from './universal.js';

/** What a pod listener serves: one pod's container. */
export interface PodRoutes {
  /** The sandbox ID. */
  readonly podId: string;
  /** The pod's component. */
  readonly domain: string;
  readonly service: string;
  /** The pod's container in the component map now (running), if any. */
  running(): RoutableContainer | undefined;
}

/** The PodRoutes of a sandbox of the pod pool. */
export function podRoutes(sandbox: Sandbox): PodRoutes {
  return {
    podId: sandbox.id,
    domain: sandbox.component.domain,
    service: sandbox.component.service,
    running() {
      for (const c of sandbox.containers) if (c.route !== undefined) return c.route;
      return undefined;
    },
  };
}

/** Sockets opened inside the pod's network namespace (a helper there passes them over IPC). */
export interface PodSockets {
  /**
   * A listening TCP server on the pod's address and data-plane port. Asked for
   * each time the pod gets a running container after having none; the data
   * plane owns it from then on and closes it when the pod has none.
   */
  tcp(): Promise<net.Server>;
  /** A bound UDP socket at the same port (HTTP/3), asked for once and kept until the pod is removed. Absent: no HTTP/3. */
  udp?(): Promise<dgram.Socket>;
}

export type PodListenerSpec =
  | { readonly routes: PodRoutes; readonly sockets: PodSockets }
  /** `HOST:PORT` bound here (loopback tests, no namespaces); port 0 picks one once, kept across reopenings. */
  | { readonly routes: PodRoutes; readonly address: string };

export interface PodListenerInfo {
  readonly podId: string;
  /** The TCP socket's host ('' until it first opened). */
  readonly host: string;
  /** undefined until the pod first had a running container. */
  readonly tcpPort: number | undefined;
  /** True while the TCP port accepts (the pod has a running container). */
  readonly accepting: boolean;
  readonly udpPort: number | undefined;
}

/** What every pod listener of a data plane shares. */
export interface PodListenerEnv {
  readonly handler: GrpcHandler;
  /** Certificates by SNI, client certificates (certs/store.ts), as on the node's own listeners. */
  readonly tls: Http2Tls | undefined;
  /** The same for HTTP/3 (quic/transport.ts tlsFor). */
  readonly quicTls?: QuicServerOptions['tlsFor'];
  /** Cleartext (h2c, HTTP/1.1 probes) beside TLS on pod ports. */
  readonly cleartext: boolean;
  readonly http3: boolean;
  readonly limits: Limits;
  readonly budget: ConnectionBudget;
  readonly log: Logger;
  readonly healthWatchIntervalMs?: number;
}

/** One pod's view of the component map: its own service, its own container. */
class PodRouteTable implements RouteTable {
  private last: RoutableContainer | undefined;
  private view: ServiceRoute;

  constructor(private readonly pod: PodRoutes) {
    this.view = this.build(undefined);
  }

  private build(c: RoutableContainer | undefined): ServiceRoute {
    const { domain, service } = this.pod;
    return { serviceKey: `${domain}:${service}`, domain, service, versions: c === undefined ? [] : [{ version: c.version, containers: [c], cursor: 0 }] };
  }

  private current(): ServiceRoute {
    const c = this.pod.running();
    if (c !== this.last) {
      this.last = c;
      this.view = this.build(c);
    }
    return this.view;
  }

  lookup(domain: string, service: string): ServiceRoute | undefined {
    return domain === this.pod.domain && service === this.pod.service ? this.current() : undefined;
  }

  *runningServices(): Iterable<ServiceRoute> {
    const v = this.current();
    if (v.versions.length > 0) yield v;
  }
}

/** The socket picked the pod: every call is the pod's component's, whatever its authority says. */
class PodRouter extends Router {
  constructor(
    routes: RouteTable,
    private readonly domain: string,
  ) {
    super(routes);
  }

  override domainOf(): string {
    return this.domain;
  }
}

const PROBE_TEXT = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };
const IGNORE_BODY: UniversalRequestBody = { data() {}, end() {}, abort() {} };

/**
 * A pod's gRPC handler, with the answer to a kubelet httpGet probe over HTTP/2
 * (scheme HTTPS: the kubelet's Go client negotiates h2): GET or HEAD, any path,
 * is the health of "" as a status code (no body). gRPC itself is POST only.
 */
function withHttpProbe(grpc: UniversalHandler, serving: () => boolean): UniversalHandler {
  return {
    get active() {
      return grpc.active;
    },
    open(req: UniversalRequest, res: UniversalResponse): UniversalRequestBody {
      if (req.method !== 'GET' && req.method !== 'HEAD') return grpc.open(req, res);
      // The status says it all (the kubelet reads only that): headers alone, with END_STREAM.
      res.sendTrailersOnly(serving() ? 200 : 503, PROBE_TEXT);
      return IGNORE_BODY;
    },
  };
}

/** An HTTP/1.x request (a kubelet httpGet probe, cleartext or TLS without h2): the health of "" as a status code. */
export function httpProbeAnswer(serving: () => boolean): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      res.end('this port speaks gRPC; HTTP/1.1 answers GET and HEAD with the health of the service it serves\n');
      return;
    }
    const ok = serving();
    // One answer per connection, as the kubelet asks (it sends Connection: close).
    res.writeHead(ok ? 200 : 503, { ...PROBE_TEXT, connection: 'close' });
    res.end(req.method === 'HEAD' ? undefined : ok ? 'SERVING\n' : 'NOT_SERVING\n');
  };
}

export class PodListener {
  readonly podId: string;
  private readonly builtins: Builtins;
  private readonly handler: UniversalHandler;
  private readonly serving: () => boolean;
  private h2: Http2Listener | undefined;
  private h3: Http3Server | undefined;
  private host = '';
  private chain: Promise<void> = Promise.resolve();
  private removed = false;

  constructor(
    private readonly env: PodListenerEnv,
    private readonly spec: PodListenerSpec,
  ) {
    const pod = spec.routes;
    this.podId = pod.podId;
    this.serving = () => pod.running() !== undefined;
    const routes = new PodRouteTable(pod);
    this.builtins = createBuiltins(routes, {
      watchIntervalMs: env.healthWatchIntervalMs,
      pod: { domain: pod.domain, service: pod.service, serving: this.serving },
    });
    this.handler = withHttpProbe(env.handler.scoped(new PodRouter(routes, pod.domain), this.builtins.methods), this.serving);
    // A malformed address is refused here, before anything is bound.
    if ('address' in spec) this.host = parseListen(spec.address).host;
  }

  info(): PodListenerInfo {
    return { podId: this.podId, host: this.host, tcpPort: this.h2?.port, accepting: this.h2?.accepting ?? false, udpPort: this.h3?.udpPort };
  }

  /** Opens the TCP port when the pod has a running container, closes it when not; rejects when it cannot open it. */
  sync(): Promise<void> {
    const next = this.chain.then(() => this.apply());
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Open connections and HTTP/3 connections accepted since start. */
  connections(): { http2: number; http3: number; http3Accepted: number } {
    return { http2: this.h2?.connections ?? 0, http3: this.h3?.connections ?? 0, http3Accepted: this.h3?.accepted ?? 0 };
  }

  private async apply(): Promise<void> {
    if (this.removed) return;
    const want = this.serving();
    if (want && !this.h2?.accepting) await this.open();
    else if (!want && this.h2?.accepting) await this.h2.stopAccepting();
  }

  private async open(): Promise<void> {
    const env = this.env;
    const sockets = 'sockets' in this.spec ? this.spec.sockets : undefined;
    const tcp = sockets === undefined ? undefined : await sockets.tcp();
    if (this.removed || !this.serving()) {
      // Stopped or removed while the socket was coming: it must not stay listening unserved.
      tcp?.close();
      return;
    }
    if (tcp !== undefined) {
      const a = tcp.address();
      if (typeof a === 'object' && a !== null) this.host = a.address;
    }
    if (this.h2 === undefined) {
      const port = 'address' in this.spec ? parseListen(this.spec.address).port : 0;
      this.h2 = await listenHttp2({
        handler: this.handler,
        host: this.host,
        port,
        tls: env.tls,
        cleartext: env.cleartext ? { http1: httpProbeAnswer(this.serving) } : undefined,
        socket: tcp,
        log: env.log,
        limits: env.limits,
        budget: env.budget,
      });
    } else {
      await this.h2.accept(tcp);
    }
    if (env.http3 && env.tls && this.h3 === undefined && (sockets === undefined || sockets.udp !== undefined)) {
      const udp = await sockets?.udp?.();
      this.h3 = await startHttp3({ handler: this.handler, host: this.host, port: this.h2.port, socket: udp, certPem: env.tls.cert, keyPem: env.tls.key, tlsFor: env.quicTls, log: env.log, limits: env.limits });
    }
    env.log.debug({ pod: this.podId, host: this.host, port: this.h2.port }, 'pod listener: accepting');
  }

  /** Stops serving the pod: GOAWAY everywhere, in-flight calls finish for up to graceMs, every socket closed. */
  async close(graceMs: number): Promise<void> {
    this.removed = true;
    await this.chain;
    this.builtins.health.close();
    await Promise.all([this.h2?.close(graceMs), this.h3?.close(graceMs)]);
  }
}

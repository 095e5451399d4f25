// The data plane: one gRPC server for every running component, on one port.
// Wires the router, the built-in services and the shared gRPC handler to the
// HTTP/2 listener; the HTTP/3 listener attaches to the same handler.
import { parseListen, type Config } from '../config.js';
import type { Logger } from '../observability/log.js';
import type { RouteTable } from '../pods/routing.js';
import { createBuiltins } from './builtin/index.js';
import { CallStats } from './call-stats.js';
import { createGrpcHandler, type GrpcHandler, type GrpcHandlerOptions } from './grpc/handler.js';
import { listenHttp2 } from './http2/listener.js';
import type { Limits } from '../limits.js';
import { Router } from './router.js';
import { loadTlsIdentity, type TlsIdentity } from './tls.js';

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

export interface DataPlane {
  /** The TCP port HTTP/2 listens on (the configured one, or the one picked for `:0`). */
  readonly tcpPort: number;
  /** The host the listener is bound to (`::` = dual stack). */
  readonly host: string;
  /** The TLS identity in use; undefined with `plaintext` (h2c). HTTP/3 reuses it. */
  readonly tls: TlsIdentity | undefined;
  /** The shared gRPC handler; HTTP/3 attaches its streams to it. */
  readonly handler: GrpcHandler;
  /** Finished guest calls by domain, service, method and code (metrics read it). */
  readonly stats: CallStats;
  /** Advertise HTTP/3 on UDP `port` (`alt-svc: h3=":port"`) on every response, or stop with undefined. */
  advertiseHttp3(port: number | undefined): void;
  /** GOAWAY, let in-flight calls finish for up to graceMs (default 5 s), then close what is left. */
  close(graceMs?: number): Promise<void>;
}

export async function startDataPlane(opts: DataPlaneOptions): Promise<DataPlane> {
  const { host, port } = parseListen(opts.config.listen);
  const tls = opts.config.plaintext
    ? undefined
    : await loadTlsIdentity({ tlsCert: opts.config.tlsCert, tlsKey: opts.config.tlsKey, stateDir: opts.stateDir, log: opts.log });
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
  });
  const listener = await listenHttp2({
    handler,
    host,
    port,
    tls: tls && { cert: tls.cert, key: tls.key },
    log: opts.log,
    limits: opts.limits,
  });
  opts.log.info(
    { listen: `${host.includes(':') ? `[${host}]` : host}:${listener.port}`, protocol: tls ? 'h2' : 'h2c', certPath: tls?.certPath },
    'data plane listening',
  );
  let closed: Promise<void> | undefined;
  return {
    tcpPort: listener.port,
    host,
    tls,
    handler,
    stats,
    advertiseHttp3(udpPort) {
      handler.setResponseField('alt-svc', udpPort === undefined ? undefined : `h3=":${udpPort}"`);
    },
    close(graceMs = 5000) {
      closed ??= (async () => {
        builtins.health.close();
        await listener.close(graceMs);
      })();
      return closed;
    },
  };
}

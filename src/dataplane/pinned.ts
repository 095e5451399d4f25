// One cleartext HTTP/2 gRPC connection arriving on any byte stream (a CRI
// PortForward tunnel, or the in-process connection of `exec call`), served by
// the data plane's own gRPC handler but routed through the RouteTable given:
// a table pinned to one container reaches that container and no other replica.
// Calls are counted in the data plane's stats like any other.
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Limits } from '../limits.js';
import type { Logger } from '../observability/log.js';
import type { RouteTable } from '../pods/routing.js';
import { createBuiltins } from './builtin/index.js';
import type { CallStats } from './call-stats.js';
import { createGrpcHandler } from './grpc/handler.js';
import { streamListener } from './http2/adapter.js';
import { Router } from './router.js';

export interface PinnedConnectionOptions {
  readonly stream: Duplex;
  readonly routes: RouteTable;
  readonly limits: Limits;
  readonly log: Logger;
  readonly stats?: CallStats;
}

/** Serves h2c on `stream`; resolves when the connection is closed. */
export function servePinnedConnection(o: PinnedConnectionOptions): Promise<void> {
  const builtins = createBuiltins(o.routes);
  const handler = createGrpcHandler({ router: new Router(o.routes), limits: o.limits, log: o.log, builtins: builtins.methods, stats: o.stats });
  const l = o.limits;
  // The listener's HTTP/2 bounds, for a connection that did not come through it.
  const server = http2.createServer({
    settings: { maxConcurrentStreams: l.http2MaxConcurrentStreams, maxHeaderListSize: l.http2MaxHeaderListSize, enablePush: false, initialWindowSize: l.http2StreamWindowBytes },
    maxSessionMemory: l.http2MaxSessionMemoryMiB,
    maxSessionRejectedStreams: l.http2MaxRejectedStreams,
    maxSessionInvalidFrames: l.http2MaxInvalidFrames,
    maxHeaderListPairs: l.http2MaxHeaderPairs,
  });
  const ctx = { handler, protocol: 'h2c', log: o.log };
  server.on('stream', streamListener(ctx));
  return new Promise<void>((done) => {
    server.on('session', (session) => {
      session.on('error', (err) => o.log.debug({ err: err.message }, 'pinned http2 session error'));
      session.once('close', () => {
        builtins.health.close();
        done();
      });
    });
    o.stream.once('error', () => o.stream.destroy());
    server.emit('connection', o.stream);
  });
}

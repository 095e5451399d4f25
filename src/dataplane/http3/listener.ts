// The HTTP/3 listener: QUIC on UDP beside the HTTP/2 listener's TCP port,
// each connection served by an Http3ServerConnection attached to the same
// gRPC handler as HTTP/2. Bounded per node (connections), per connection
// (requests, field section size) and in time (idle timeout).
import type dgram from 'node:dgram';
import type { Logger } from '../../observability/log.js';
import type { UniversalHandler } from '../universal.js';
import { Http3ServerConnection } from './server-connection.js';
import { H3Code } from './error-codes.js';
import { listenQuic, type QuicServerOptions } from '../quic/transport.js';
import type { Limits } from '../../limits.js';

export interface Http3ServerOptions {
  readonly handler: UniversalHandler;
  /** The UDP port: the same number as the TCP (HTTP/2) listener; 0 picks one. */
  readonly port: number;
  readonly certPem: string | Buffer;
  readonly keyPem: string | Buffer;
  /** Certificates by SNI and client CAs per server name (certs/store.ts); absent: certPem/keyPem for all. */
  readonly tlsFor?: QuicServerOptions['tlsFor'];
  readonly log: Logger;
  /** Bind address (`::` = dual stack). */
  readonly host: string;
  /** The node's limits (config.limits); HTTP/3 uses the `http3*` and `quic*` ones. */
  readonly limits: Limits;
  /** An already-bound UDP socket to serve instead of binding host:port (a pod's, from its network namespace); closed with the server. */
  readonly socket?: dgram.Socket;
}

export interface Http3Server {
  readonly udpPort: number;
  /** Connections open now. */
  readonly connections: number;
  /** Connections accepted since start. */
  readonly accepted: number;
  /** GOAWAY on every connection, in-flight calls finish for up to graceMs (default 5 s), then close. */
  close(graceMs?: number): Promise<void>;
}

export async function startHttp3(opts: Http3ServerOptions): Promise<Http3Server> {
  const limits = opts.limits;
  const host = opts.host;
  const quic = await listenQuic({
    host,
    port: opts.port,
    certPem: opts.certPem,
    keyPem: opts.keyPem,
    tlsFor: opts.tlsFor,
    alpn: ['h3'],
    idleTimeoutMs: limits.http3IdleTimeoutMs,
    maxConnections: limits.http3MaxConnections,
    maxConnectionsPerPeer: limits.http3MaxConnectionsPerPeer,
    retryThreshold: limits.http3RetryThreshold,
    halfOpenTimeoutMs: limits.http3HalfOpenTimeoutMs,
    maxStreamsBidi: limits.http3MaxConcurrentRequests,
    maxStreamsUni: limits.http3MaxPeerUniStreams,
    windows: limits,
    log: opts.log,
    socket: opts.socket,
  });
  const conns = new Set<Http3ServerConnection>();
  let accepted = 0;
  let closing: Promise<void> | undefined;
  quic.onConnection = (q) => {
    if (closing) return q.close(H3Code.H3_NO_ERROR, 'server shutting down');
    let c: Http3ServerConnection;
    try {
      c = new Http3ServerConnection(q, { handler: opts.handler, limits, log: opts.log });
    } catch (err) {
      // No stream credit for our control stream: the peer cannot speak HTTP/3 with us.
      opts.log.debug({ err, remote: q.remoteAddress }, 'http3: cannot set up the connection');
      return q.close(H3Code.H3_STREAM_CREATION_ERROR, 'cannot open the control stream');
    }
    accepted++;
    conns.add(c);
    c.onClosed = () => conns.delete(c);
  };
  opts.log.info({ listen: `${host.includes(':') ? `[${host}]` : host}:${quic.port}`, protocol: 'h3' }, 'data plane listening');
  return {
    udpPort: quic.port,
    get connections() {
      return conns.size;
    },
    get accepted() {
      return accepted;
    },
    close(graceMs = 5000) {
      closing ??= (async () => {
        await Promise.all([...conns].map((c) => c.shutdown(graceMs)));
        await quic.close();
      })();
      return closing;
    },
  };
}

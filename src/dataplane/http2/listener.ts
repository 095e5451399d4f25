// The HTTP/2 listener: TLS with ALPN h2, or cleartext h2c when asked. Bounded
// per session (concurrent streams, memory, rejected streams and invalid frames,
// which is how node answers RST_STREAM and other frame floods).
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { Logger } from '../../observability/log.js';
import type { UniversalHandler } from '../universal.js';
import { openStreams, serveStream, type StreamContext } from './adapter.js';
import { ConnectionBudget } from '../connection-budget.js';


import { DEFAULT_LIMITS, type Limits } from '../../limits.js';

export interface Http2ListenOptions {
  readonly handler: UniversalHandler;
  readonly host: string;
  readonly port: number;
  /** PEM certificate and key; absent = cleartext h2c. */
  readonly tls?: { cert: Buffer; key: Buffer };
  readonly log: Logger;
  /** The node's limits (config.limits); HTTP/2 uses the `http2*` ones. Defaults: DEFAULT_LIMITS. */
  readonly limits?: Limits;
  /** Shared by every listener of the node: connections node-wide and per peer (one of its own when absent). */
  readonly budget?: ConnectionBudget;
}

export interface Http2Listener {
  readonly port: number;
  /** Connections open now. */
  readonly connections: number;
  /** Stops accepting, sends GOAWAY, lets in-flight streams finish for up to graceMs, then destroys what is left. */
  close(graceMs: number): Promise<void>;
}

export async function listenHttp2(opts: Http2ListenOptions): Promise<Http2Listener> {
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const protocol = opts.tls ? 'h2' : 'h2c';
  const common: http2.ServerOptions = {
    settings: {
      maxConcurrentStreams: limits.http2MaxConcurrentStreams,
      maxHeaderListSize: limits.http2MaxHeaderListSize,
      enablePush: false,
      // The default lets one 4 MiB message flow without stalling on WINDOW_UPDATE round trips.
      initialWindowSize: limits.http2StreamWindowBytes,
    },
    maxSessionMemory: limits.http2MaxSessionMemoryMiB,
    maxSessionRejectedStreams: limits.http2MaxRejectedStreams,
    maxSessionInvalidFrames: limits.http2MaxInvalidFrames,
    maxHeaderListPairs: limits.http2MaxHeaderPairs,
  };
  const server = opts.tls
    ? http2.createSecureServer({
        ...common,
        cert: opts.tls.cert,
        key: opts.tls.key,
        allowHTTP1: false,
        ALPNProtocols: ['h2'],
        handshakeTimeout: limits.http2FirstRequestTimeoutMs,
      })
    : http2.createServer(common);
  const sessions = new Set<http2.ServerHttp2Session>();
  const handler = opts.handler;
  const budget = opts.budget ?? new ConnectionBudget(limits);

  // Every TCP connection takes a place in the budget before any TLS or HTTP/2 work, and gives it back when it closes.
  server.on('connection', (socket: Socket) => {
    const peer = socket.remoteAddress ?? '';
    if (!budget.acquire(peer)) {
      opts.log.debug({ remote: peer, max: budget.max }, 'http2: connection refused (node or peer at its connection limit)');
      socket.destroy();
      return;
    }
    socket.once('close', () => budget.release(peer));
  });
  // Idle: no frames for idle_timeout_ms. A session with a stream open (a long call, a health Watch) is left alone;
  // node re-arms the timer on its next frame.
  server.setTimeout(limits.http2IdleTimeoutMs);
  server.on('timeout', (session: http2.ServerHttp2Session) => {
    if (openStreams(session) > 0) return;
    session.close();
    session.destroy();
  });

  server.on('session', (session) => {
    sessions.add(session);
    // The first request's headers must arrive in time (a connection that never asks, or trickles its headers).
    const firstRequest = setTimeout(() => {
      opts.log.debug({ remote: session.socket?.remoteAddress }, 'http2: no request headers in time; closing the connection');
      session.destroy();
    }, limits.http2FirstRequestTimeoutMs);
    firstRequest.unref();
    session.once('stream', () => clearTimeout(firstRequest));
    session.once('close', () => clearTimeout(firstRequest));
    // The connection window starts at 64 KiB; widen it like the per-stream one.
    try {
      session.setLocalWindowSize(limits.http2ConnectionWindowBytes);
    } catch {
      // The session may already be closing.
    }
    session.on('close', () => sessions.delete(session));
    session.on('error', (err) => opts.log.debug({ err: err.message }, 'http2 session error'));
  });
  const streams: StreamContext = { handler, protocol, log: opts.log };
  server.on('stream', (stream, headers) => serveStream(streams, stream, headers));
  server.on('sessionError', (err) => opts.log.debug({ err: err.message }, 'http2 session error'));
  server.on('unknownProtocol', (socket: Socket) => {
    // A TLS client that did not negotiate h2 (HTTP/1.1 or no ALPN): nothing to serve it.
    socket.destroy();
  });
  server.on('tlsClientError', (err) => opts.log.debug({ err: err.message }, 'TLS handshake failed'));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => opts.log.error({ err: err.message }, 'http2 listener error'));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;

  let closing: Promise<void> | null = null;
  return {
    port,
    get connections() {
      return sessions.size;
    },
    close(graceMs: number) {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sessions) s.close();
        const timer = setTimeout(() => {
          for (const s of sessions) s.destroy();
        }, graceMs);
        timer.unref();
        server.once('close', () => clearTimeout(timer));
      });
      return closing;
    },
  };
}

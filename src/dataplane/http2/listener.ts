// The HTTP/2 listener: TLS with ALPN h2, or cleartext h2c when asked, and
// optionally both on one port (the kubelet's probes speak cleartext to a pod's
// address): the first byte of a connection tells them apart, 0x16 being a TLS
// handshake record. Bounded per session (concurrent streams, memory, rejected
// streams and invalid frames, which is how node answers RST_STREAM and other
// frame floods).
//
// The servers of node:http2 never listen themselves: one net.Server accepts
// and hands each connection over (as net does inside them), so a listener can
// stop accepting (its port then refuses connections) while its open sessions
// carry on, and accept again later on a new socket.
import http from 'node:http';
import http2 from 'node:http2';
import net, { type Socket } from 'node:net';
import type { SecureContext, SecureContextOptions } from 'node:tls';
import type { Logger } from '../../observability/log.js';
import type { UniversalHandler } from '../universal.js';
import { openStreams, startedStreams, streamListener, type StreamContext } from './adapter.js';
import { ConnectionBudget } from '../connection-budget.js';
import { DEFAULT_LIMITS, type Limits } from '../../limits.js';

const TLS_HANDSHAKE_RECORD = 0x16;
/** Looks at the sessions per idle timeout: one is closed between 1 and 1 + 1/IDLE_CHECKS timeouts after its last call. */
const IDLE_CHECKS = 4;

/** What the idle check saw of a session: streams started by then, and checks since in a row with none open or started. */
interface IdleMark {
  started: number;
  quiet: number;
}
/** The first byte of the HTTP/2 connection preface (`PRI * HTTP/2.0`). */
const H2_PREFACE_FIRST = 0x50;

export interface Http2ListenOptions {
  readonly handler: UniversalHandler;
  readonly host: string;
  readonly port: number;
  /** TLS; absent = cleartext h2c. */
  readonly tls?: Http2Tls;
  /**
   * Cleartext beside TLS on the same port: HTTP/2 with prior knowledge, and
   * HTTP/1.x requests (cleartext, or TLS without ALPN h2) answered by `http1`
   * (closed when absent).
   */
  readonly cleartext?: { readonly http1?: (req: http.IncomingMessage, res: http.ServerResponse) => void };
  /** Accept on this listening server's socket (a pod's, opened in its network namespace) instead of binding host:port. */
  readonly socket?: net.Server;
  readonly log: Logger;
  /** The node's limits (config.limits); HTTP/2 uses the `http2*` ones. Defaults: DEFAULT_LIMITS. */
  readonly limits?: Limits;
  /** Shared by every listener of the node: connections node-wide and per peer (one of its own when absent). */
  readonly budget?: ConnectionBudget;
}

export interface Http2Tls {
  /** The default certificate and key (PEM): for clients that send no server name, or one with no certificate of its own. */
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Picks the context for the server name a client sends (certs/store.ts). */
  readonly sniCallback?: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;
  /** Ask every client for a certificate (it may send none; calls are checked per domain). */
  readonly requestCert?: boolean;
  /** Gets the server, to give it a new default certificate when that changes; returns the undo. */
  readonly attach?: (server: { setSecureContext(o: SecureContextOptions): void }) => () => void;
}

export interface Http2Listener {
  /** The port accepted on last (kept while not accepting). */
  readonly port: number;
  /** Connections open now. */
  readonly connections: number;
  /** True while the port accepts connections. */
  readonly accepting: boolean;
  /** Stops accepting: the socket is closed, so the port refuses connections; open sessions carry on. */
  stopAccepting(): Promise<void>;
  /** Accepts again: on `socket` (a listening server) or by binding the listener's host and port anew. */
  accept(socket?: net.Server): Promise<void>;
  /** Stops accepting, sends GOAWAY, lets in-flight streams finish for up to graceMs, then destroys what is left. */
  close(graceMs: number): Promise<void>;
}

export async function listenHttp2(opts: Http2ListenOptions): Promise<Http2Listener> {
  const limits = opts.limits ?? DEFAULT_LIMITS;
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
  const secure = opts.tls
    ? http2.createSecureServer({
        ...common,
        cert: opts.tls.cert,
        key: opts.tls.key,
        ...(opts.tls.sniCallback !== undefined ? { SNICallback: opts.tls.sniCallback } : {}),
        ...(opts.tls.requestCert === true ? { requestCert: true, rejectUnauthorized: false } : {}),
        allowHTTP1: false,
        ALPNProtocols: ['h2'],
        handshakeTimeout: limits.http2FirstRequestTimeoutMs,
      })
    : undefined;
  const detach = secure !== undefined ? opts.tls?.attach?.(secure) : undefined;
  const clear = !opts.tls || opts.cleartext ? http2.createServer(common) : undefined;
  const http1 = opts.cleartext?.http1;
  const h1 = http1 === undefined ? undefined : http.createServer({ requestTimeout: limits.http2FirstRequestTimeoutMs, headersTimeout: limits.http2FirstRequestTimeoutMs }, http1);
  const engines = [secure, clear].filter((s): s is http2.Http2Server | http2.Http2SecureServer => s !== undefined);
  // With one protocol on the port a connection goes straight to its server; with both, its first byte decides.
  const sniff = engines.length + (h1 ? 1 : 0) > 1;
  /** Open sessions, each with what the idle check saw of it last. */
  const sessions = new Map<http2.ServerHttp2Session, IdleMark>();
  const handler = opts.handler;
  const budget = opts.budget ?? new ConnectionBudget(limits);

  function dispatch(socket: Socket, first: number): void {
    if (first === TLS_HANDSHAKE_RECORD && secure) secure.emit('connection', socket);
    else if (first === H2_PREFACE_FIRST && clear) clear.emit('connection', socket);
    else if (h1) h1.emit('connection', socket);
    else if (clear && !secure) clear.emit('connection', socket);
    else socket.destroy();
  }

  // Every TCP connection takes a place in the budget before any TLS or HTTP/2 work, and gives it back when it closes.
  function onConnection(socket: Socket): void {
    const peer = socket.remoteAddress ?? '';
    if (!budget.acquire(peer)) {
      opts.log.debug({ remote: peer, max: budget.max }, 'http2: connection refused (node or peer at its connection limit)');
      socket.destroy();
      return;
    }
    socket.once('close', () => budget.release(peer));
    if (!sniff) return void engines[0]!.emit('connection', socket);
    // The first byte must come within the first-request time, as the TLS handshake and the first headers must.
    const timer = setTimeout(() => socket.destroy(), limits.http2FirstRequestTimeoutMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.on('error', () => {});
    socket.once('readable', () => {
      clearTimeout(timer);
      const b = socket.read(1) as Buffer | null;
      if (b === null) return void socket.destroy();
      socket.unshift(b);
      dispatch(socket, b[0]!);
    });
  }

  for (const server of engines) {
    const protocol = server === secure ? 'h2' : 'h2c';
    server.on('session', (session) => {
      sessions.set(session, { started: 0, quiet: 0 });
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
    server.on('stream', streamListener(streams));
    server.on('sessionError', (err) => opts.log.debug({ err: err.message }, 'http2 session error'));
  }
  // Idle: no call open and none started for idle_timeout_ms (gRPC's MAX_CONNECTION_IDLE: PINGs do not count). A
  // session with a stream open (a long call, a health Watch) is left alone. One check per listener, every
  // 1/IDLE_CHECKS of the timeout, rather than node's per-session timeout, which node re-arms on every frame (about
  // ten times a unary call).
  const idleCheck = setInterval(() => {
    for (const [session, mark] of sessions) {
      const started = startedStreams(session);
      if (openStreams(session) > 0 || started !== mark.started) {
        mark.started = started;
        mark.quiet = 0;
      } else if (++mark.quiet >= IDLE_CHECKS) {
        session.close();
        session.destroy();
      }
    }
  }, Math.max(1, Math.ceil(limits.http2IdleTimeoutMs / IDLE_CHECKS)));
  idleCheck.unref();

  secure?.on('unknownProtocol', (socket: Socket) => {
    // A TLS client that did not negotiate h2 (HTTP/1.1 or no ALPN): only the HTTP/1.x answer, if any, serves it.
    if (h1) h1.emit('connection', socket);
    else socket.destroy();
  });
  secure?.on('tlsClientError', (err) => opts.log.debug({ err: err.message }, 'TLS handshake failed'));
  h1?.on('clientError', (_err, socket: Socket) => socket.destroy());

  // Every accepted socket until it closes, so close() can wait for them and destroy what is left.
  const sockets = new Set<Socket>();
  const idle: Array<() => void> = [];
  let acceptor: net.Server | undefined;
  let port = opts.port;

  async function accept(socket?: net.Server): Promise<void> {
    if (acceptor !== undefined) throw new Error('http2 listener: already accepting');
    const server = net.createServer({ pauseOnConnect: sniff, noDelay: true }, (s) => {
      sockets.add(s);
      s.once('close', () => {
        sockets.delete(s);
        if (sockets.size === 0) for (const f of idle.splice(0)) f();
      });
      onConnection(s);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const done = () => {
        server.off('error', reject);
        resolve();
      };
      if (socket !== undefined) server.listen(socket, done);
      else server.listen({ host: opts.host, port }, done);
    });
    server.on('error', (err) => opts.log.error({ err: err.message }, 'http2 listener error'));
    const address = server.address();
    if (typeof address === 'object' && address !== null) port = address.port;
    acceptor = server;
  }

  function stopAccepting(): Promise<void> {
    const server = acceptor;
    acceptor = undefined;
    if (server === undefined) return Promise.resolve();
    // The listening socket closes at once; the callback waits for connections, which live on.
    server.close();
    return Promise.resolve();
  }

  await accept(opts.socket);

  let closing: Promise<void> | null = null;
  return {
    get port() {
      return port;
    },
    get connections() {
      return sessions.size;
    },
    get accepting() {
      return acceptor !== undefined;
    },
    stopAccepting,
    accept(socket?: net.Server) {
      if (closing) return Promise.reject(new Error('http2 listener: closed'));
      return accept(socket);
    },
    close(graceMs: number) {
      closing ??= new Promise<void>((resolve) => {
        void stopAccepting();
        detach?.();
        clearInterval(idleCheck);
        for (const s of sessions.keys()) s.close();
        h1?.closeIdleConnections();
        if (sockets.size === 0) return resolve();
        const timer = setTimeout(() => {
          for (const s of sessions.keys()) s.destroy();
          for (const s of sockets) s.destroy();
        }, graceMs);
        timer.unref();
        idle.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      return closing;
    },
  };
}

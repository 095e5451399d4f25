// The node-local streaming server the CRI's Exec, Attach and PortForward
// answer with (as the kubelet's k8s.io/kubelet/pkg/cri/streaming server):
// the verb stores its request under a one-time token and returns
// http://HOST:PORT/{exec,attach,portforward}/TOKEN; the kubelet (or crictl)
// connects there and upgrades to SPDY/3.1 or to a WebSocket.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { listenHttp } from '../util/listen-http.js';
import type { Limits } from '../limits.js';
import type { Logger } from '../observability/log.js';
import { PORT_FORWARD_PROTOCOL, SPDY_REMOTECOMMAND_PROTOCOLS, WS_TUNNELED_PORT_FORWARD } from './protocols.js';
import { headerValues, isSpdyUpgrade, refuseUpgrade, serveSpdyPortForward, serveSpdyRemoteCommand, spdyHandshake, type SpdyTimeouts } from './httpstream.js';
import type { CommandIO, CommandResult, StreamOptions } from './remotecommand.js';
import { TokenCache } from './tokens.js';
import { WS_PORTFORWARD_PROTOCOLS, WS_REMOTECOMMAND_PROTOCOLS, serveWsPortForward, serveWsRemoteCommand, type PortForwarder } from './websocket.js';

/** A request the CRI verb validated, waiting for its connection. */
export type StreamRequest =
  | { readonly kind: 'exec'; readonly containerId: string; readonly cmd: readonly string[]; readonly opts: StreamOptions }
  | { readonly kind: 'attach'; readonly containerId: string; readonly opts: StreamOptions }
  | { readonly kind: 'portforward'; readonly podSandboxId: string; readonly ports: readonly number[] };

/** What the sessions act on (the runtime provides it). */
export interface StreamingBackend {
  exec(containerId: string, cmd: readonly string[], io: CommandIO): Promise<CommandResult>;
  attach(containerId: string, io: CommandIO): Promise<CommandResult>;
  portForward(podSandboxId: string, port: number, stream: Duplex, signal: AbortSignal): Promise<void>;
}

export type StreamingLimits = Pick<
  Limits,
  'streamingTokenTtlMs' | 'streamingMaxPendingRequests' | 'streamingIdleTimeoutMs' | 'streamingStreamCreationTimeoutMs' | 'streamingSpdyMaxFrameBytes'
>;

export interface StreamingOptions {
  /** HOST:PORT to listen on (port 0 picks a free one). */
  readonly listen: string;
  readonly limits: StreamingLimits;
  readonly backend: StreamingBackend;
  readonly log: Logger;
}

export interface StreamingServer {
  /** Base URL, e.g. http://127.0.0.1:34567 */
  readonly baseUrl: string;
  /** Stores the request and returns the URL the client connects to. */
  url(req: StreamRequest): string;
  /** Sessions running now. */
  readonly sessions: number;
  close(): Promise<void>;
}

type Negotiated = IncomingMessage & { workdProtocol?: string };

const PATH = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]{1,64})$/;

export async function startStreamingServer(o: StreamingOptions): Promise<StreamingServer> {
  const tokens = new TokenCache<StreamRequest>(o.limits.streamingTokenTtlMs, o.limits.streamingMaxPendingRequests);
  const t: SpdyTimeouts = {
    idleTimeoutMs: o.limits.streamingIdleTimeoutMs,
    streamCreationTimeoutMs: o.limits.streamingStreamCreationTimeoutMs,
    maxFrameBytes: o.limits.streamingSpdyMaxFrameBytes,
  };
  // The subprotocol is chosen in `upgrade` (before the token is spent) and handed to ws on the request.
  // ws is loaded with the first WebSocket session (~40 ms of CPU a daemon start would otherwise pay).
  let wss: WebSocketServer | undefined;
  let loading: Promise<{ wss: WebSocketServer; createWebSocketStream: typeof import('ws').createWebSocketStream }> | undefined;
  const webSockets = () =>
    (loading ??= import('ws').then((ws) => {
      wss = new ws.WebSocketServer({
        noServer: true,
        perMessageDeflate: false,
        handleProtocols: (_offered, req) => (req as Negotiated).workdProtocol ?? false,
      });
      return { wss, createWebSocketStream: ws.createWebSocketStream };
    }));
  const live = new Set<Duplex>();
  let sessions = 0;

  const http: Server = createServer((req, res) => {
    res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('streaming requests must upgrade to SPDY/3.1 or to a WebSocket\n');
  });

  const run = async (what: string, body: () => Promise<void>) => {
    sessions++;
    try {
      await body();
    } catch (err) {
      o.log.warn({ session: what, err }, 'streaming session failed');
    } finally {
      sessions--;
    }
  };

  const forwarder = (podSandboxId: string): PortForwarder => (port, stream, signal) => o.backend.portForward(podSandboxId, port, stream, signal);

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    live.add(socket);
    socket.once('close', () => live.delete(socket));
    socket.on('error', () => socket.destroy());
    const m = PATH.exec(new URL(req.url ?? '/', 'http://x').pathname);
    if (!m) return refuseUpgrade(socket, 404, 'Not Found', 'no such streaming endpoint (expected /exec/TOKEN, /attach/TOKEN or /portforward/TOKEN)');
    const [, kind, token] = m as unknown as [string, StreamRequest['kind'], string];
    const isWs = (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
    if (!isWs && !isSpdyUpgrade(req)) return refuseUpgrade(socket, 400, 'Bad Request', 'unable to upgrade: missing upgrade headers in request (Upgrade: SPDY/3.1 or websocket)');

    // Negotiate before the token is spent, so a client falling back from one protocol to the other can retry.
    const offered = isWs ? headerValues(req, 'sec-websocket-protocol') : [];
    const wsSupported = kind === 'portforward' ? [...WS_PORTFORWARD_PROTOCOLS, WS_TUNNELED_PORT_FORWARD] : WS_REMOTECOMMAND_PROTOCOLS;
    let protocol: string | undefined;
    if (isWs) {
      protocol = offered.length === 0 ? '' : offered.find((p) => wsSupported.includes(p));
      if (protocol === undefined) {
        return refuseUpgrade(socket, 403, 'Forbidden', `unable to upgrade: client offers WebSocket subprotocols ${JSON.stringify(offered)}, server accepts ${JSON.stringify(wsSupported)}`);
      }
    } else {
      protocol = spdyHandshake(req, socket, kind === 'portforward' ? [PORT_FORWARD_PROTOCOL] : SPDY_REMOTECOMMAND_PROTOCOLS);
      if (protocol === undefined) return;
    }

    const sr = tokens.consume(token);
    if (!sr || sr.kind !== kind) return refuseUpgrade(socket, 404, 'Not Found', `streaming token not found or expired: ask for a new ${kind} URL`);
    o.log.debug({ kind, protocol, transport: isWs ? 'websocket' : 'spdy' }, 'streaming session starting');

    if (!isWs) {
      const p = protocol;
      if (sr.kind === 'portforward') void run('portforward', () => serveSpdyPortForward(socket, head, p, forwarder(sr.podSandboxId), t));
      else void run(sr.kind, () => serveSpdyRemoteCommand(socket, head, p, sr.opts, (io) => runCommand(sr, io), t));
      return;
    }
    const p = protocol;
    (req as Negotiated).workdProtocol = p;
    void webSockets().then(({ wss, createWebSocketStream }) => wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      if (sr.kind === 'portforward') {
        if (p === WS_TUNNELED_PORT_FORWARD) {
          const tunnel = createWebSocketStream(ws);
          void run('portforward', () => serveSpdyPortForward(tunnel, Buffer.alloc(0), PORT_FORWARD_PROTOCOL, forwarder(sr.podSandboxId), t));
          return;
        }
        const ports = sr.ports.length > 0 ? sr.ports : portsFromQuery(req);
        void run('portforward', () => serveWsPortForward(ws, p, ports, forwarder(sr.podSandboxId)));
        return;
      }
      void run(sr.kind, () => serveWsRemoteCommand(ws, p, sr.opts, (io) => runCommand(sr, io)));
    }), (err: unknown) => {
      o.log.warn({ err }, 'streaming: cannot load the WebSocket server');
      socket.destroy();
    });
  });

  const runCommand = (sr: Exclude<StreamRequest, { kind: 'portforward' }>, io: CommandIO): Promise<CommandResult> =>
    (sr.kind === 'exec' ? o.backend.exec(sr.containerId, sr.cmd, io) : o.backend.attach(sr.containerId, io)).catch((err: unknown) => ({
      error: err instanceof Error ? err.message : String(err),
    }));

  const baseUrl = await listenHttp(http, o.listen);
  o.log.info({ url: baseUrl }, 'streaming server listening');

  return {
    baseUrl,
    url(req) {
      const token = tokens.insert(req);
      return `${baseUrl}/${req.kind}/${token}`;
    },
    get sessions() {
      return sessions;
    },
    async close() {
      for (const s of live) s.destroy();
      for (const c of wss?.clients ?? []) c.terminate();
      await new Promise<void>((done) => http.close(() => done()));
    },
  };
}

function portsFromQuery(req: IncomingMessage): number[] {
  const q = new URL(req.url ?? '/', 'http://x').searchParams.getAll('port');
  return q.flatMap((v) => v.split(',')).map(Number).filter((n) => Number.isInteger(n) && n > 0 && n < 65536);
}

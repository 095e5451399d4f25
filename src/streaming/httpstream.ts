// The SPDY side of the streaming protocols (k8s.io/apimachinery
// httpstream + httpstream/spdy, the kubelet's remotecommand/httpstream.go and
// portforward/httpstream.go): protocol negotiation on the HTTP/1.1 upgrade,
// then streams the client opens, each naming its role in a `streamtype`
// header.
//
// remotecommand: one stream per requested std stream plus `error` (and
// `resize` for a tty from v3 on); the session starts once all have arrived.
// portforward.k8s.io: a `data` and an `error` stream per forwarded
// connection, paired by `requestid`, both carrying `port`.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { SpdyConnection, type SpdyStream } from './spdy/connection.js';
import { RstStatus } from './spdy/frames.js';
import {
  HEADER_ACCEPTED_PROTOCOL_VERSIONS,
  HEADER_PORT,
  HEADER_PROTOCOL_VERSION,
  HEADER_REQUEST_ID,
  HEADER_STREAM_TYPE,
  StreamType,
  UPGRADE_SPDY,
  hasResize,
  jsonStatus,
} from './protocols.js';
import { ResizeDecoder, encodeStatus, type CommandIO, type CommandRunner, type StreamOptions } from './remotecommand.js';
import type { PortForwarder } from './websocket.js';

export interface SpdyTimeouts {
  /** Connection closed after this long without a frame. */
  readonly idleTimeoutMs: number;
  /** How long the client has to open the streams a session needs. */
  readonly streamCreationTimeoutMs: number;
  /** The largest SPDY frame the client may send. */
  readonly maxFrameBytes: number;
}

/** The values of a possibly repeated, comma-joined header. */
export function headerValues(req: IncomingMessage, name: string): string[] {
  const raw = req.headers[name];
  const all = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return all.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

/**
 * httpstream.Handshake: the first protocol the client lists that we support;
 * '' when the client lists none (the v1 fallback); undefined when none match.
 */
export function negotiate(clientProtocols: readonly string[], supported: readonly string[]): string | undefined {
  if (clientProtocols.length === 0) return '';
  return clientProtocols.find((p) => supported.includes(p));
}

/** Whether the request asks for an upgrade to SPDY/3.1. */
export function isSpdyUpgrade(req: IncomingMessage): boolean {
  return /(^|,)\s*upgrade\s*(,|$)/i.test(req.headers.connection ?? '') && (req.headers.upgrade ?? '').toLowerCase() === UPGRADE_SPDY.toLowerCase();
}

/** Answers a refused upgrade on the raw socket and closes it. */
export function refuseUpgrade(socket: Duplex, status: number, reason: string, message: string, extra: Record<string, string> = {}): void {
  const body = `${message}\n`;
  const headers = Object.entries({ 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close', ...extra })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(`HTTP/1.1 ${status} ${reason}\r\n${headers}\r\n${body}`);
}

/** Negotiates the stream protocol; on failure answers 403 with the accepted versions, as the kubelet does. */
export function spdyHandshake(req: IncomingMessage, socket: Duplex, supported: readonly string[]): string | undefined {
  const offered = headerValues(req, HEADER_PROTOCOL_VERSION);
  const chosen = negotiate(offered, supported);
  if (chosen === undefined) {
    refuseUpgrade(socket, 403, 'Forbidden', `unable to upgrade: unable to negotiate protocol: client supports ${JSON.stringify(offered)}, server accepts ${JSON.stringify(supported)}`, {
      [HEADER_ACCEPTED_PROTOCOL_VERSIONS]: supported.join(', '),
    });
  }
  return chosen;
}

/** Completes the upgrade: 101 Switching Protocols, then a SPDY session on the socket. */
export function acceptSpdy(socket: Duplex, head: Buffer, protocol: string, onStream: (s: SpdyStream) => void, t: SpdyTimeouts): SpdyConnection {
  const version = protocol === '' ? '' : `X-Stream-Protocol-Version: ${protocol}\r\n`;
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${UPGRADE_SPDY}\r\n${version}\r\n`);
  return new SpdyConnection(socket, { server: true, onStream, idleTimeoutMs: t.idleTimeoutMs, maxFrameBytes: t.maxFrameBytes }, head);
}

function endStream(s: SpdyStream | undefined): Promise<void> {
  if (!s || s.writableEnded || s.destroyed) return Promise.resolve();
  return new Promise((done) => s.end(() => done()));
}

/** Runs an exec or attach session over SPDY; resolves when the connection is closed. */
export async function serveSpdyRemoteCommand(
  socket: Duplex,
  head: Buffer,
  protocol: string,
  opts: StreamOptions,
  run: CommandRunner,
  t: SpdyTimeouts,
): Promise<void> {
  const expected = 1 + Number(opts.stdin) + Number(opts.stdout) + Number(opts.stderr) + Number(opts.tty && hasResize(protocol));
  const byType = new Map<string, SpdyStream>();
  let ready!: () => void;
  const allThere = new Promise<void>((done) => (ready = done));
  const conn = acceptSpdy(
    socket,
    head,
    protocol,
    (stream) => {
      const type = stream.header(HEADER_STREAM_TYPE) ?? '';
      stream.reply();
      if (!(Object.values(StreamType) as string[]).includes(type) || type === StreamType.DATA || byType.has(type)) return;
      byType.set(type, stream);
      if (byType.size === expected) ready();
    },
    t,
  );
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((done) => (timer = setTimeout(() => done('timeout'), t.streamCreationTimeoutMs)));
  const first = await Promise.race([allThere.then(() => 'ready' as const), timedOut, conn.done.then(() => 'closed' as const)]);
  clearTimeout(timer);
  if (first !== 'ready') {
    conn.close();
    return;
  }

  const abort = new AbortController();
  void conn.done.then(() => abort.abort());
  const io: CommandIO = {
    stdin: byType.get(StreamType.STDIN),
    stdout: byType.get(StreamType.STDOUT),
    stderr: byType.get(StreamType.STDERR),
    tty: opts.tty,
    signal: abort.signal,
  };
  const resizeStream = byType.get(StreamType.RESIZE);
  if (resizeStream) {
    const decoder = new ResizeDecoder((size) => io.onResize?.(size));
    resizeStream.on('data', (c: Buffer) => decoder.push(c));
  }
  // A client that ends the session resets or closes its streams; stdout going away is the sign for attach.
  for (const s of [io.stdout, io.stderr]) s?.once('close', () => abort.abort());
  const result = await run(io);
  await Promise.all([endStream(byType.get(StreamType.STDOUT)), endStream(byType.get(StreamType.STDERR))]);
  const errorStream = byType.get(StreamType.ERROR)!;
  const status = encodeStatus(result, jsonStatus(protocol));
  if (status.length > 0 && !errorStream.destroyed) errorStream.write(status);
  await endStream(errorStream);
  conn.close();
}

/** The JSON the kubelet writes on a port's error stream when forwarding fails. */
export function portForwardError(message: string, closeConnection: boolean): Buffer {
  return Buffer.from(JSON.stringify(closeConnection ? { closeConnection, message } : { message }) + '\n');
}

interface Pair {
  data?: SpdyStream;
  error?: SpdyStream;
  timer?: NodeJS.Timeout;
}

/** Runs port forwarding over SPDY until the client closes the connection. */
export async function serveSpdyPortForward(socket: Duplex, head: Buffer, protocol: string, forward: PortForwarder, t: SpdyTimeouts): Promise<void> {
  const pairs = new Map<string, Pair>();
  const abort = new AbortController();
  const run = async (requestId: string, p: Required<Omit<Pair, 'timer'>>) => {
    const port = Number(p.data.header(HEADER_PORT));
    try {
      await forward(port, p.data, abort.signal);
    } catch (err) {
      if (!p.error.destroyed) p.error.write(portForwardError(`error forwarding port ${port}: ${(err as Error).message}`, false));
    } finally {
      pairs.delete(requestId);
      await Promise.all([endStream(p.data), endStream(p.error)]);
    }
  };
  const conn = acceptSpdy(
    socket,
    head,
    protocol,
    (stream) => {
      const portText = stream.header(HEADER_PORT) ?? '';
      const type = stream.header(HEADER_STREAM_TYPE) ?? '';
      const port = Number(portText);
      if (!/^\d+$/.test(portText) || port < 1 || port > 65535 || (type !== StreamType.DATA && type !== StreamType.ERROR)) {
        stream.reset(RstStatus.PROTOCOL_ERROR);
        return;
      }
      stream.reply();
      // Clients too old to send requestid open error then data with consecutive odd IDs.
      const requestId = stream.header(HEADER_REQUEST_ID) ?? String(type === StreamType.ERROR ? stream.id : stream.id - 2);
      let pair = pairs.get(requestId);
      if (!pair) {
        pair = {};
        pairs.set(requestId, pair);
        const created = pair;
        pair.timer = setTimeout(() => {
          if (created.data && created.error) return;
          created.error?.end(portForwardError(`timed out waiting for the data and error streams of request ${requestId}`, false));
          created.data?.reset();
          pairs.delete(requestId);
        }, t.streamCreationTimeoutMs);
      }
      if ((type === StreamType.DATA ? pair.data : pair.error) !== undefined) {
        stream.end(portForwardError(`${type} stream of request ${requestId} is already assigned`, false));
        return;
      }
      if (type === StreamType.DATA) pair.data = stream;
      else pair.error = stream;
      if (pair.data && pair.error) {
        clearTimeout(pair.timer);
        void run(requestId, { data: pair.data, error: pair.error });
      }
    },
    t,
  );
  await conn.done;
  abort.abort();
  for (const p of pairs.values()) clearTimeout(p.timer);
}

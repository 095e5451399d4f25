// Shared by the QUIC transport tests: a loopback server with an echo or
// custom handler, and helpers that turn stream callbacks into promises.
import { listenQuic, connectQuic, type QuicConnection, type QuicServer, type QuicServerOptions, type QuicStream, type QuicClientOptions } from '../../src/dataplane/quic/transport.js';
import type { TestCert } from './tls.js';
import { DEFAULT_LIMITS } from '../../src/limits.js';
import { quiche, buildConfig, CID_LEN, MAX_SEND_PAYLOAD } from '../../src/dataplane/quic/native.js';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';

export async function startServer(cert: TestCert, over: Partial<QuicServerOptions> = {}): Promise<QuicServer> {
  return listenQuic({
    host: '::',
    port: 0,
    certPem: cert.certPem,
    keyPem: cert.keyPem,
    alpn: ['h3'],
    idleTimeoutMs: 10_000,
    maxConnections: 16,
    retryThreshold: DEFAULT_LIMITS.http3RetryThreshold,
    halfOpenTimeoutMs: DEFAULT_LIMITS.http3HalfOpenTimeoutMs,
    maxStreamsBidi: 100,
    maxStreamsUni: 16,
    windows: DEFAULT_LIMITS,
    ...over,
  });
}

export function connect(server: QuicServer, over: Partial<QuicClientOptions> = {}): Promise<QuicConnection> {
  return connectQuic({ host: '127.0.0.1', port: server.port, servername: 'localhost', alpn: ['h3'], verifyPeer: false, idleTimeoutMs: 10_000, ...over });
}

/** Every peer stream echoes what it receives, FIN included. */
export function echo(conn: QuicConnection): void {
  conn.onStream = (s) => {
    if (!s.bidirectional) return;
    s.onData = (chunk, fin) => s.write(chunk, fin);
  };
}

/** Resolves with everything the stream delivers up to its FIN; rejects on reset. */
export function readAll(s: QuicStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Uint8Array[] = [];
    let fins = 0;
    s.onData = (chunk, fin) => {
      parts.push(chunk);
      if (fin) {
        fins++;
        if (fins > 1) reject(new Error(`stream ${s.id}: FIN delivered twice`));
        resolve(Buffer.concat(parts));
      }
    };
    s.onReset = (code) => reject(Object.assign(new Error(`stream ${s.id} reset with ${code}`), { resetCode: code }));
  });
}

export function closed(conn: QuicConnection): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => {
    conn.onClose = (code, reason) => resolve({ code, reason });
  });
}

/** Rejects if `p` does not settle within `ms` (keeps a broken transport from hanging the suite). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * `n` first-flight datagrams of distinct would-be clients (each a real QUIC v1
 * Initial with a ClientHello, padded to 1200 bytes, from quiche's client), for
 * a raw UDP sender that never answers: what an Initial flood sends.
 */
export function clientInitials(port: number, n: number): Buffer[] {
  const config = buildConfig({ verifyPeer: false, alpn: ['h3'], idleTimeoutMs: 10_000, maxStreamsBidi: 10, maxStreamsUni: 10, windows: DEFAULT_LIMITS });
  const out: Buffer[] = [];
  const buf = Buffer.alloc(MAX_SEND_PAYLOAD);
  for (let i = 0; i < n; i++) {
    const c = quiche.Connection.connect('localhost', randomBytes(CID_LEN), { host: '0.0.0.0', port: 1 }, { host: '127.0.0.1', port }, config);
    const r = c.send(buf);
    if (r === null) throw new Error('quiche produced no Initial');
    out.push(Buffer.from(buf.subarray(0, r[0])));
  }
  return out;
}

/** A UDP socket on 127.0.0.1 that counts the bytes it sends and receives (anti-amplification checks). */
export async function rawSender(): Promise<{ socket: dgram.Socket; sent: number; received: number; datagramsIn: number; send(d: Buffer, port: number): Promise<void>; close(): Promise<void> }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const s = {
    socket,
    sent: 0,
    received: 0,
    datagramsIn: 0,
    send(d: Buffer, port: number) {
      s.sent += d.length;
      return new Promise<void>((resolve, reject) => socket.send(d, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    },
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
  socket.on('message', (m) => {
    s.received += m.length;
    s.datagramsIn++;
  });
  return s;
}

/** Sends `initials` round and round from `sockets` raw senders until stopped (an Initial flood). */
/**
 * Replays `initials` at `port` until stopped. Without `perSecond` it sends as fast as this loop
 * can (for a server on the same loop); with it, the flood keeps that rate, so a daemon in another
 * process is tested against a stated flood rather than against whatever CPU the test leaves it.
 */
export async function startFlood(port: number, initials: Buffer[], sockets = 8, perSecond?: number): Promise<{ sent(): number; stop(): Promise<void> }> {
  const senders = await Promise.all(Array.from({ length: sockets }, () => rawSender()));
  let stop = false;
  let n = 0;
  const t0 = performance.now();
  const loop = (async () => {
    for (; !stop; n++) {
      await senders[n % senders.length].send(initials[n % initials.length], port);
      if (n % 50 !== 49) continue;
      // Let the server's socket be read between bursts (both may run on this loop).
      const ahead = perSecond === undefined ? 1 : ((n + 1) / perSecond) * 1000 - (performance.now() - t0);
      await new Promise((r) => setTimeout(r, Math.max(1, ahead)));
    }
  })();
  return {
    sent: () => n,
    async stop() {
      stop = true;
      await loop;
      for (const s of senders) await s.close();
    },
  };
}

// Shared by the QUIC transport tests: a loopback server with an echo or
// custom handler, and helpers that turn stream callbacks into promises.
import { listenQuic, connectQuic, type QuicConnection, type QuicServer, type QuicServerOptions, type QuicStream, type QuicClientOptions } from '../../src/dataplane/quic/transport.js';
import type { TestCert } from './tls.js';
import { DEFAULT_LIMITS } from '../../src/limits.js';

export async function startServer(cert: TestCert, over: Partial<QuicServerOptions> = {}): Promise<QuicServer> {
  return listenQuic({
    host: '::',
    port: 0,
    certPem: cert.certPem,
    keyPem: cert.keyPem,
    alpn: ['h3'],
    idleTimeoutMs: 10_000,
    maxConnections: 16,
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

// The QUIC client: one socket and one connection over the same loop as the
// server. Resolves once the handshake is complete (ALPN known).
import { randomFillSync } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { invalidArgument, unavailable } from '../../errors.js';
import type { QuicClientOptions, QuicConnection } from './transport.js';
import { Endpoint } from './endpoint.js';
import { Connection } from './quic-connection.js';
import { quiche, buildConfig, isLoopback, CID_LEN, MAX_SEND_PAYLOAD, LOOPBACK_SEND_PAYLOAD, errorMessage, type QuicheConfig } from './native.js';
import { DEFAULT_LIMITS } from '../../limits.js';

const DEFAULT_IDLE_MS = 30_000;

class ClientEndpoint extends Endpoint {
  conn: Connection | null = null;

  protected packet(buf: Buffer, address: string, port: number): void {
    this.conn?.receive(buf, address, port);
  }

  remove(conn: Connection): void {
    if (!conn.detach()) return;
    this.conns.delete(conn);
    void this.closeSocket();
  }
}

export async function connectQuic(opts: QuicClientOptions): Promise<QuicConnection> {
  if (opts.alpn.length === 0) throw invalidArgument('QUIC client: at least one ALPN protocol is required');
  let address = opts.host;
  let family = isIP(address);
  if (family === 0) {
    const r = await lookup(opts.host);
    address = r.address;
    family = r.family;
  }
  const maxSendPayload = isLoopback(address) ? LOOPBACK_SEND_PAYLOAD : MAX_SEND_PAYLOAD;
  let config: QuicheConfig;
  try {
    config = buildConfig({
      verifyPeer: opts.verifyPeer,
      caPem: opts.caPem,
      alpn: opts.alpn,
      idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_MS,
      // The peer (an HTTP/3 server) opens a few unidirectional streams of its own.
      maxStreamsBidi: 100,
      maxStreamsUni: 100,
      maxSendPayload,
      // What the server may send us before we read it: the same windows a server grants.
      windows: DEFAULT_LIMITS,
    });
  } catch (err) {
    throw invalidArgument(`QUIC client: CA certificate rejected: ${errorMessage(err)}`);
  }
  const ep = new ClientEndpoint(family === 6 ? 'udp6' : 'udp4', opts.log, maxSendPayload);
  await ep.bind(family === 6 ? '::' : '0.0.0.0', 0);
  await ep.connectTo(address, opts.port);
  const local = { host: family === 6 ? '::' : '0.0.0.0', port: ep.localPort };
  const remote = { host: address, port: opts.port };
  const scid = randomFillSync(Buffer.allocUnsafe(CID_LEN));
  let q;
  try {
    q = quiche.Connection.connect(opts.servername, scid, local, remote, config);
  } catch (err) {
    await ep.closeSocket();
    throw unavailable(`QUIC client: cannot start a connection to ${opts.host}:${opts.port}: ${errorMessage(err)}`);
  }
  return new Promise<QuicConnection>((resolve, reject) => {
    const conn = new Connection(ep, q, false, scid, remote, local, (c) => {
      c.onClose = null;
      resolve(c);
    });
    ep.conn = conn;
    ep.conns.add(conn);
    // Until established, onClose is ours: the handshake failed or timed out.
    conn.onClose = () => {
      const info = conn.closeInfo;
      const why = info === null ? 'closed' : `${info.byPeer ? 'peer' : 'local'} ${info.isApp ? 'application' : 'transport'} error 0x${info.errorCode.toString(16)}${info.reason === '' ? '' : ` (${info.reason})`}`;
      reject(unavailable(`QUIC handshake with ${opts.host}:${opts.port} failed: ${why}`));
    };
    conn.markDirty();
  });
}

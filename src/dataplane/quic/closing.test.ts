// A client that closes right after connecting, before the server's
// HANDSHAKE_DONE arrives: quiche 0.18 can then no longer send the close and
// instead emits ACK-only Handshake packets on every send() (see
// Connection.flush). These tests drive our Connection against a raw quiche
// server over an in-memory "socket", so the server's answer can be withheld
// and the send ring can be full.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeTestCert, type TestCert } from '../../../test/helpers/tls.js';
import { Endpoint } from './endpoint.js';
import { Connection } from './quic-connection.js';
import { quiche, buildConfig, isLoopback, CID_LEN, MAX_SEND_PAYLOAD, type QuicheConnection } from './native.js';
import { DEFAULT_LIMITS } from '../../limits.js';

let cert: TestCert;
before(async () => {
  cert = await makeTestCert();
});
after(async () => {
  await cert.cleanup();
});

const CLIENT = { host: '127.0.0.1', port: 40001 };
const SERVER = { host: '127.0.0.1', port: 40002 };
/** Like the real ring: once this many datagrams are out, no slot is free. */
const RING = 1024;

/** Keeps what the connection sends instead of putting it on the wire. */
class MemoryEndpoint extends Endpoint {
  ringFull = false;
  readonly sent: Buffer[] = [];
  private readonly slot = Buffer.allocUnsafe(MAX_SEND_PAYLOAD);

  constructor() {
    super('udp4', undefined, MAX_SEND_PAYLOAD);
  }

  protected packet(): void {}

  remove(conn: Connection): void {
    conn.detach();
    this.conns.delete(conn);
  }

  override sendSlot(): Buffer | null {
    return this.ringFull || this.sent.length >= RING ? null : this.slot;
  }

  override commitSend(slot: Buffer, len: number): void {
    this.sent.push(Buffer.from(slot.subarray(0, len)));
  }

  override sendOwned(data: Buffer, len: number): void {
    this.sent.push(Buffer.from(data.subarray(0, len)));
  }

  take(): Buffer[] {
    return this.sent.splice(0);
  }
}

const turn = () => new Promise<void>((r) => setImmediate(r));

/**
 * A client Connection established against a raw quiche server that has not
 * seen the client's Finished: the client's handshake is complete but not
 * confirmed, and its Handshake PTO timer is running.
 */
async function unconfirmedClient(): Promise<{
  ep: MemoryEndpoint;
  conn: Connection;
  server: QuicheConnection;
  finished: Buffer[];
  closes: Array<{ code: number; reason: string }>;
}> {
  const base = { alpn: ['h3'], idleTimeoutMs: 10_000, maxStreamsBidi: 10, maxStreamsUni: 10, windows: DEFAULT_LIMITS };
  const server = quiche.Connection.accept(randomBytes(CID_LEN), null, SERVER, CLIENT, buildConfig({ ...base, verifyPeer: false, certPem: cert.certPem, keyPem: cert.keyPem }));
  const ep = new MemoryEndpoint();
  const scid = randomBytes(CID_LEN);
  const q = quiche.Connection.connect('localhost', scid, CLIENT, SERVER, buildConfig({ ...base, verifyPeer: false }));
  const conn = new Connection(ep, q, false, scid, SERVER, CLIENT, () => {});
  ep.conns.add(conn);
  const closes: Array<{ code: number; reason: string }> = [];
  conn.onClose = (code, reason) => closes.push({ code, reason });
  conn.markDirty();
  await turn();
  for (const d of ep.take()) server.recv(d, { from: CLIENT, to: SERVER });
  const buf = Buffer.allocUnsafe(MAX_SEND_PAYLOAD);
  for (let r = server.send(buf); r !== null; r = server.send(buf)) conn.receive(Buffer.from(buf.subarray(0, r[0])), SERVER.host, SERVER.port);
  await turn();
  assert.equal(conn.established, true);
  // The client's Finished: the server gets it only with what follows, so
  // its answer (HANDSHAKE_DONE) never reaches the client.
  const finished = ep.take();
  return { ep, conn, server, finished, closes };
}

test('a client closing before its handshake is confirmed, with the send ring full, still sends its close', async () => {
  const { ep, conn, server, finished, closes } = await unconfirmedClient();
  try {
    ep.ringFull = true;
    conn.close(0x10, 'bye');
    // Long enough for the Handshake PTO (a few ms on loopback) to fire.
    await sleep(50);
    ep.ringFull = false;
    conn.markDirty();
    await turn();
    const sent = ep.take();
    for (const d of [...finished, ...sent]) {
      try {
        server.recv(d, { from: CLIENT, to: SERVER });
      } catch {
        // the server may drop what it cannot use yet
      }
    }
    const err = server.peerError();
    assert.ok(err !== null, `the server saw no close in ${sent.length} datagrams after the Finished`);
    assert.deepEqual({ isApp: err.isApp, code: err.errorCode, reason: Buffer.from(err.reason).toString() }, { isApp: true, code: 0x10, reason: 'bye' });
    assert.ok(sent.length <= 4, `a close is a datagram or two, not ${sent.length}`);
    assert.deepEqual(closes, [{ code: 0x10, reason: 'bye' }]);
  } finally {
    await ep.closeSocket();
  }
});

test('if quiche gets stuck sending while closing, the connection is dropped instead of flooding the peer', async () => {
  const { ep, conn, closes } = await unconfirmedClient();
  try {
    // The state quiche 0.18 cannot leave: a Handshake PTO processed after
    // an application close() that has not been sent yet.
    conn.quic.close(true, 0x10, Buffer.from('bye'));
    await sleep(50);
    conn.quic.onTimeout();
    conn.egress();
    assert.ok(ep.take().length <= 64, 'a bounded number of datagrams');
    assert.equal(closes.length, 1, 'the app is told the connection is gone');
    assert.equal(conn.removed, true);
  } finally {
    await ep.closeSocket();
  }
});

test('isLoopback: 127/8, ::1 and IPv4-mapped loopback only', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopback(h), true, h);
  for (const h of ['10.0.0.1', '::ffff:10.0.0.1', 'fe80::1', '::', '0.0.0.0', '128.0.0.1']) assert.equal(isLoopback(h), false, h);
});

// Our QUIC server against an independent client: ngtcp2's gtlsclient
// (Debian package ngtcp2-client), which speaks HTTP/3 with nghttp3.
//
// Regression test for defect 1 of @matrixai/quic's JavaScript layer: a real
// HTTP/3 client sends its control and QPACK streams (and its first request)
// in the same flight as its TLS Finished; that package crashed on them. Our
// transport must announce them all via onStream and keep serving.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { makeTestCert, type TestCert } from '../../../test/helpers/tls.js';
import type { QuicConnection, QuicServer, QuicStream } from './transport.js';
import { startServer, connect, echo, readAll, within, clientInitials, startFlood } from '../../../test/helpers/quic.js';

const GTLSCLIENT = 'gtlsclient';

let cert: TestCert;
before(async () => {
  const probe = spawnSync(GTLSCLIENT, ['--help'], { stdio: 'ignore' });
  assert.ok(probe.error === undefined, `${GTLSCLIENT} not found: install Debian's ngtcp2-client package`);
  cert = await makeTestCert();
});
after(async () => {
  await cert?.cleanup();
});

// A minimal HTTP/3 answer, byte for byte, so this test needs no HTTP/3 code:
// the server control stream (type 0x00) with an empty SETTINGS frame, and on
// the request stream HEADERS {:status 200} (QPACK static index 25) + DATA.
const CONTROL_STREAM = Uint8Array.of(0x00, 0x04, 0x00);
function response(body: string): Buffer {
  const b = Buffer.from(body);
  return Buffer.concat([Buffer.of(0x01, 0x03, 0x00, 0x00, 0xc0 | 25), Buffer.of(0x00, b.length), b]);
}

interface Seen {
  /** Peer streams announced during the same turn as the connection itself. */
  inHandshakeFlight: number;
  uniTypes: number[];
  requests: number;
  requestBytes: number;
}

/** Serves every request stream a 200 once its FIN arrives; records what the client opened. */
function h3ish(server: QuicServer, seen: Seen): void {
  server.onConnection = (conn: QuicConnection) => {
    let handshakeTurn = true;
    queueMicrotask(() => (handshakeTurn = false));
    conn.openUni().write(CONTROL_STREAM);
    conn.onStream = (s: QuicStream) => {
      if (handshakeTurn) seen.inHandshakeFlight++;
      let first = true;
      s.onData = (chunk, fin) => {
        if (!s.bidirectional) {
          if (first && chunk.length > 0) {
            seen.uniTypes.push(chunk[0]);
            first = false;
          }
          return;
        }
        seen.requestBytes += chunk.length;
        if (fin) {
          seen.requests++;
          s.write(response('hello'), true);
        }
      };
    };
  };
}

function runClient(port: number, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(GTLSCLIENT, ['--exit-on-all-streams-close', '--timeout=5s', ...args, '127.0.0.1', String(port), `https://localhost:${port}/example.com:foo.Bar@1.0.0/Echo`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (code) => {
      clearTimeout(kill);
      resolve({ code, out });
    });
  });
}

test('gtlsclient (h3): control + QPACK streams in the handshake-completing flight are announced, the request is answered', async () => {
  const server = await startServer(cert);
  const seen: Seen = { inHandshakeFlight: 0, uniTypes: [], requests: 0, requestBytes: 0 };
  h3ish(server, seen);
  const r = await runClient(server.port, ['--no-quic-dump']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /Negotiated ALPN is h3/);
  assert.match(r.out, /\[:status: 200\]/, r.out);
  assert.match(r.out, /body 5 bytes/, r.out);
  // Control (0x00), QPACK encoder (0x02) and decoder (0x03) streams.
  assert.deepEqual([...seen.uniTypes].sort(), [0x00, 0x02, 0x03]);
  assert.equal(seen.requests, 1);
  // The scenario that crashed @matrixai/quic: those streams (and the GET)
  // came with the client's Finished and were processed in that same turn.
  assert.ok(seen.inHandshakeFlight >= 3, `streams in the handshake-completing flight: ${seen.inHandshakeFlight}`);
  // The server is still fine for the next client.
  server.onConnection = echo;
  const c = await within(connect(server), 5000, 'connect after gtlsclient');
  const s = c.openBidi();
  const back = readAll(s);
  s.write(Buffer.from('still serving'), true);
  assert.equal((await within(back, 5000, 'echo')).toString(), 'still serving');
  c.close(0, '');
  await within(server.close(), 10_000, 'server close');
});

test('gtlsclient (h3): 50 concurrent POSTs of 256 KiB each arrive whole over one connection', async () => {
  const server = await startServer(cert);
  const seen: Seen = { inHandshakeFlight: 0, uniTypes: [], requests: 0, requestBytes: 0 };
  h3ish(server, seen);
  const body = join(cert.dir, 'body.bin');
  await writeFile(body, randomBytes(256 * 1024));
  const r = await runClient(server.port, ['--no-quic-dump', '--no-http-dump', '-m', 'POST', '-d', body, '-n', '50']);
  assert.equal(r.code, 0, r.out);
  assert.equal(seen.requests, 50);
  // Each request stream carries HEADERS + DATA frames around the 256 KiB body.
  assert.ok(seen.requestBytes >= 50 * 256 * 1024, `request bytes ${seen.requestBytes}`);
  assert.ok(seen.requestBytes < 50 * (256 * 1024 + 1024), `request bytes ${seen.requestBytes}`);
  await within(server.close(), 10_000, 'server close');
});

test('gtlsclient is refused with CONNECTION_REFUSED in an Initial packet when the server is full', async () => {
  const server = await startServer(cert, { maxConnections: 1 });
  server.onConnection = echo;
  const ours = await connect(server);
  const child = spawn(GTLSCLIENT, ['--exit-on-all-streams-close', '--timeout=3s', '127.0.0.1', String(server.port), `https://localhost:${server.port}/`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await new Promise((r) => child.on('close', r));
  clearTimeout(kill);
  assert.match(out, /frm rx \d+ Initial CONNECTION_CLOSE\(0x1c\) error_code=CONNECTION_REFUSED\(0x2\).*reason=\[too many connections\]/, out.slice(-3000));
  assert.doesNotMatch(out, /QUIC handshake has completed/);
  ours.close(0, '');
  await within(server.close(), 10_000, 'server close');
});

test('an unknown QUIC version gets a Version Negotiation packet; the server keeps serving', async () => {
  const server = await startServer(cert);
  server.onConnection = echo;
  const r = await runClient(server.port, ['-v', '0x1a2a3a4a']);
  assert.match(r.out, /version=0x00000000 type=VN/, r.out.slice(-3000));
  assert.match(r.out, /ERR_RECV_VERSION_NEGOTIATION/);
  const c = await within(connect(server), 5000, 'connect after VN');
  c.close(0, '');
  await within(server.close(), 10_000, 'server close');
});

test('gtlsclient gets a stateless Retry (threshold 0), echoes its token, and is served', async () => {
  const server = await startServer(cert, { retryThreshold: 0 });
  const seen: Seen = { inHandshakeFlight: 0, uniTypes: [], requests: 0, requestBytes: 0 };
  h3ish(server, seen);
  const r = await runClient(server.port, []);
  assert.equal(r.code, 0, r.out.slice(-3000));
  assert.match(r.out, /pkt rx pkn=0 dcid=0x[0-9a-f]+ scid=0x[0-9a-f]{40} version=0x00000001 type=Retry/, r.out.slice(0, 3000));
  // ngtcp2 checks that the handshake names the Retry's source ID (RFC 9000 §7.3).
  assert.match(r.out, /remote transport_parameters retry_source_connection_id=0x[0-9a-f]{40}/);
  assert.match(r.out, /\[:status: 200\]/);
  assert.equal(server.stats.retriesSent, 1);
  await within(server.close(), 10_000, 'server close');
});

test('during an Initial flood past the threshold, gtlsclient (a real HTTP/3 client) is sent a Retry and its request answered', async () => {
  const server = await startServer(cert, { maxConnections: 200, retryThreshold: 20, halfOpenTimeoutMs: 5000 });
  const seen: Seen = { inHandshakeFlight: 0, uniTypes: [], requests: 0, requestBytes: 0 };
  h3ish(server, seen);
  const flood = await startFlood(server.port, clientInitials(server.port, 1500));
  try {
    const end = Date.now() + 10_000;
    while (server.stats.retriesSent < 200 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    const r = await runClient(server.port, []);
    assert.equal(r.code, 0, r.out.slice(-3000));
    assert.match(r.out, /type=Retry/);
    assert.match(r.out, /\[:status: 200\]/);
    assert.equal(seen.requests, 1);
    assert.ok(server.stats.halfOpen <= 21, `half-open during the flood: ${server.stats.halfOpen}`);
  } finally {
    await flood.stop();
  }
  await within(server.close(), 10_000, 'server close');
});

// Fuzzing the daemon's transports live: random HTTP/2 frame sequences (some
// well-formed gRPC requests among them) on connections that are then dropped,
// and random UDP datagrams at the HTTP/3 port (QUIC packet intake). After each
// batch the same daemon process must still answer a real gRPC client.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import * as grpc from '@grpc/grpc-js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { connectRawH2, frame, grpcRequestHeaders } from '../helpers/raw-h2-frames.js';
import { RUNS, check, fc } from './fuzz.js';

/** Live runs cost a connection each: a tenth of the pure parsers' count, at least 20. */
const LIVE_RUNS = Math.max(20, Math.floor(RUNS / 10));
// A daemon and hundreds of TLS handshakes: minutes on a loaded machine, so on demand only (`npm run fuzz`).
const skip = process.env.FUZZ_LIVE === '1' ? false : 'set FUZZ_LIVE=1 (npm run fuzz does)';
let d: TestDaemon;

before(async () => {
  if (!skip) d = await startDaemon({ logLevel: 'warn' });
});
after(async () => {
  await d?.stop();
});

function healthCheck(): Promise<void> {
  const client = new grpc.Client(`127.0.0.1:${d.ready.tcpPort}`, grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false }), {
    'grpc.ssl_target_name_override': 'localhost',
    'grpc.default_authority': 'localhost',
  });
  return new Promise<void>((resolve, reject) => {
    client.makeUnaryRequest('/grpc.health.v1.Health/Check', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), { deadline: Date.now() + 10_000 }, (err) =>
      err ? reject(err) : resolve(),
    );
  }).finally(() => client.close());
}

function assertAlive(pid: number): void {
  assert.equal(d.process.exitCode, null, `the daemon exited; logs:\n${d.logs().slice(-3000)}`);
  assert.equal(d.ready.pid, pid);
  process.kill(pid, 0);
}

const h2Frame = fc.oneof(
  fc.record({ type: fc.integer({ min: 0, max: 10 }), flags: fc.integer({ min: 0, max: 255 }), stream: fc.constantFrom(0, 1, 3, 5, 2, 0x7fffffff), payload: fc.uint8Array({ maxLength: 64 }) }).map((f) => frame(f.type, f.flags, f.stream, f.payload)),
  fc.constantFrom(1, 3, 5).map((id) => frame(0x1, 0x4, id, grpcRequestHeaders('example.com', '/grpc.health.v1.Health/Check', 'https'))),
  fc.tuple(fc.constantFrom(1, 3, 5), fc.uint8Array({ maxLength: 40 })).map(([id, b]) => frame(0x0, 0, id, Buffer.concat([Buffer.from([0, 0, 0, 0, b.length]), b]))),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => Buffer.from(b)),
);

test('HTTP/2: random frame sequences on dropped connections leave the daemon serving', { skip }, async () => {
  const pid = d.ready.pid;
  await check(
    fc.asyncProperty(fc.array(h2Frame, { maxLength: 12 }), fc.boolean(), async (frames, reset) => {
      const conn = await connectRawH2(d.ready.tcpPort, '127.0.0.1', { tls: true });
      conn.send(...frames);
      await new Promise((r) => setTimeout(r, 5));
      if (reset) conn.tcp.resetAndDestroy();
      else conn.socket.destroy();
    }),
    LIVE_RUNS,
  );
  await new Promise((r) => setTimeout(r, 300));
  assertAlive(pid);
  await healthCheck();
});

test('QUIC: random datagrams at the HTTP/3 port leave the daemon serving', { skip }, async () => {
  const port = d.ready.udpPort as number | undefined;
  assert.ok(port, 'the daemon serves HTTP/3 on UDP');
  const pid = d.ready.pid;
  const sock = dgram.createSocket('udp4');
  try {
    // Long-header Initials (0xc0 | version 1), short headers and garbage, any length up to a full datagram.
    const datagram = fc.oneof(
      fc.tuple(fc.uint8Array({ minLength: 0, maxLength: 1300 }), fc.integer({ min: 0, max: 255 })).map(([b, first]) => Buffer.concat([Buffer.from([0xc0 | (first & 0x3f), 0, 0, 0, 1]), b])),
      fc.uint8Array({ minLength: 1, maxLength: 1400 }).map((b) => Buffer.from(b)),
    );
    await check(
      fc.asyncProperty(fc.array(datagram, { minLength: 1, maxLength: 8 }), async (dgs) => {
        for (const g of dgs) await new Promise<void>((r) => sock.send(g, port, '127.0.0.1', () => r()));
      }),
      LIVE_RUNS,
    );
    await new Promise((r) => setTimeout(r, 300));
    assertAlive(pid);
    await healthCheck();
  } finally {
    sock.close();
  }
});

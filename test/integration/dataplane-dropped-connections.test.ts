// Regression (issue 12 item 1): a peer that opens streams holding half a gRPC
// message and then drops its connection must not take the daemon down. Before
// the fix, ending those streams answered them on a stream node had already
// closed, and ERR_HTTP2_INVALID_STREAM from ServerHttp2Stream.respond killed the
// process. The client here speaks HTTP/2 frame by frame over node:net / node:tls
// (no HTTP/2 library); after each drop the same daemon process (same PID) must
// still answer a gRPC call from @grpc/grpc-js on another connection.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import http2 from 'node:http2';
import { Http3Client } from '../../src/dataplane/http3/client.js';
import { frameHeader, FrameType as H3FrameType } from '../../src/dataplane/http3/frames.js';
import { encodeFieldSection } from '../../src/dataplane/http3/qpack/encoder.js';
import type { QuicStream } from '../../src/dataplane/quic/transport.js';
import { connectRawH2, Flag, frame, FrameType, goaway, grpcRequestHeaders, rstStream, type RawH2Connection } from '../helpers/raw-h2-frames.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// A length prefix announcing 100 bytes, then only three of them.
const PARTIAL_MESSAGE = Buffer.from([0x00, 0x00, 0x00, 0x00, 0x64, 0x01, 0x02, 0x03]);
// grpc.health.v1.HealthCheckResponse{status: SERVING}
const SERVING = Buffer.from([0x08, 0x01]);

/** Opens `streams` gRPC calls on `conn`, each holding a partial message, and waits for the server to have read them. */
async function holdPartialMessages(conn: RawH2Connection, streams: number, scheme: 'http' | 'https', path = '/foo.Bar/Echo'): Promise<void> {
  for (let i = 0; i < streams; i++) {
    const id = 1 + 2 * i;
    conn.send(frame(FrameType.HEADERS, Flag.END_HEADERS, id, grpcRequestHeaders('example.com', path, scheme)), frame(FrameType.DATA, 0, id, PARTIAL_MESSAGE));
  }
  // The server has nothing to answer until the messages complete: give it time to read the frames.
  await sleep(200);
}

function healthCheck(address: string, creds: grpc.ChannelCredentials): Promise<Buffer> {
  const client = new grpc.Client(address, creds, { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' });
  return new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
      { deadline: Date.now() + 10_000 },
      (err, res) => (err ? reject(err) : resolve(res!)),
    );
  }).finally(() => client.close());
}

async function assertAlive(d: TestDaemon, pid: number, creds: grpc.ChannelCredentials): Promise<void> {
  await sleep(300);
  assert.equal(d.process.exitCode, null, `the daemon exited; logs:\n${d.logs().slice(-3000)}`);
  assert.equal(d.process.signalCode, null);
  assert.equal(d.process.pid, pid);
  assert.doesNotThrow(() => process.kill(pid, 0), 'the daemon process still exists');
  const res = await healthCheck(`127.0.0.1:${d.ready.tcpPort}`, creds);
  assert.deepEqual(res, SERVING);
}

const STREAMS = [1, 3, 5];
type Drop = (conn: RawH2Connection) => void;
// node's own client, dropping a session, resets its streams with NO_ERROR and closes: that
// ends each server stream's readable side before it closes, which is what crashed the daemon.
const DROPS: Array<[string, Drop]> = [
  ['RST_STREAM(NO_ERROR) on each stream, then close', (c) => {
    c.send(...STREAMS.map((id) => rstStream(id, 0)));
    c.socket.destroy();
  }],
  ['RST_STREAM(NO_ERROR) on each stream, connection kept', (c) => c.send(...STREAMS.map((id) => rstStream(id, 0)))],
  ['RST_STREAM(CANCEL) on each stream, then close', (c) => {
    c.send(...STREAMS.map((id) => rstStream(id, 8)));
    c.socket.end();
  }],
  ['TCP reset', (c) => c.tcp.resetAndDestroy()],
  ['FIN', (c) => c.socket.end()],
  ['GOAWAY then FIN', (c) => {
    c.send(goaway(0, 0));
    c.socket.end();
  }],
];

for (const mode of ['h2c', 'h2 (TLS)'] as const) {
  describe(`a dropped ${mode} connection with streams holding partial messages`, () => {
    const tls = mode !== 'h2c';
    const scheme = tls ? 'https' : 'http';
    const creds = tls ? grpc.credentials.createSsl(null, null, null, { checkServerIdentity: () => undefined, rejectUnauthorized: false }) : grpc.credentials.createInsecure();
    let d: TestDaemon;
    let pid: number;

    before(async () => {
      d = await startDaemon({ args: tls ? [] : ['--plaintext'], logLevel: 'info' });
      pid = d.ready.pid;
      assert.equal(d.process.pid, pid);
    });
    after(async () => {
      await d?.stop();
    });

    for (const [name, drop] of DROPS) {
      test(`${name}: the daemon keeps its PID and serves another connection`, async () => {
        const conn = await connectRawH2(d.ready.tcpPort, '127.0.0.1', { tls });
        await holdPartialMessages(conn, STREAMS.length, scheme);
        drop(conn);
        await assertAlive(d, pid, creds);
        conn.socket.destroy();
      });
    }

    test('many connections dropped at once, on routed and built-in paths alike', async () => {
      const conns = await Promise.all(Array.from({ length: 20 }, () => connectRawH2(d.ready.tcpPort, '127.0.0.1', { tls })));
      await Promise.all(conns.map((c, i) => holdPartialMessages(c, 5, scheme, i % 2 === 0 ? '/foo.Bar/Echo' : '/grpc.health.v1.Health/Check')));
      for (const [i, c] of conns.entries()) DROPS[i % DROPS.length]![1](c);
      await assertAlive(d, pid, creds);
      for (const c of conns) c.socket.destroy();
    });

    test("node:http2's own client destroying its session mid-upload", async () => {
      const s = http2.connect(`${scheme}://127.0.0.1:${d.ready.tcpPort}`, { rejectUnauthorized: false });
      s.on('error', () => {});
      for (let i = 0; i < 3; i++) {
        const req = s.request({ ':method': 'POST', ':path': '/foo.Bar/Echo', ':authority': 'example.com', 'content-type': 'application/grpc', te: 'trailers' });
        req.on('error', () => {});
        req.write(PARTIAL_MESSAGE);
      }
      await sleep(200);
      s.destroy();
      await assertAlive(d, pid, creds);
    });
  });
}

// The same over HTTP/3. No independent HTTP/3 client can leave a request half-sent (gtlsclient
// sends whole bodies and no gRPC content-type), so the frames are written by hand on a raw
// QUIC stream of our client's transport: HEADERS, then DATA holding half a message.
describe('dropped HTTP/3 connections with request streams holding partial messages', () => {
  let d: TestDaemon;
  let pid: number;

  before(async () => {
    d = await startDaemon({ logLevel: 'info', configToml: '[dataplane.http3]\nidle_timeout_ms = 1000\n' });
    pid = d.ready.pid;
  });
  after(async () => {
    await d?.stop();
  });

  async function h3Connect(): Promise<Http3Client> {
    return Http3Client.connect({ host: '127.0.0.1', port: d.ready.udpPort, servername: 'localhost', idleTimeoutMs: 5000 });
  }

  function openPartial(client: Http3Client, path: string): QuicStream {
    const stream = client.quic.openBidi();
    const block = encodeFieldSection([':method', 'POST', ':scheme', 'https', ':authority', 'example.com', ':path', path, 'content-type', 'application/grpc', 'te', 'trailers']);
    stream.write(Buffer.concat([frameHeader(H3FrameType.HEADERS, block.length), block, frameHeader(H3FrameType.DATA, PARTIAL_MESSAGE.length), PARTIAL_MESSAGE]));
    return stream;
  }

  async function assertH3Alive(): Promise<void> {
    await sleep(300);
    assert.equal(d.process.exitCode, null, `the daemon exited; logs:\n${d.logs().slice(-3000)}`);
    assert.equal(d.process.pid, pid);
    const c = await h3Connect();
    try {
      const r = await c.grpcCall({ authority: 'localhost', path: '/grpc.health.v1.Health/Check', messages: [Buffer.alloc(0)] });
      assert.equal(r.code, 0, r.message);
      assert.deepEqual(Buffer.from(r.messages[0]!), SERVING);
    } finally {
      c.close();
    }
  }

  const H3_DROPS: Array<[string, (c: Http3Client, streams: QuicStream[]) => Promise<void> | void]> = [
    ['CONNECTION_CLOSE', (c) => c.close()],
    ['RESET_STREAM on each stream, then CONNECTION_CLOSE', (c, streams) => {
      for (const s of streams) s.reset(0x10c);
      c.close();
    }],
    ['FIN inside the message on each stream, then CONNECTION_CLOSE at once', (c, streams) => {
      for (const s of streams) s.write(new Uint8Array(0), true);
      c.close();
    }],
    // The peer vanishes: the server finds out at its idle timeout (1 s here).
    ['the client vanishes without a close', async (c) => {
      (c.quic as unknown as { abandon(): void }).abandon();
      await sleep(2500);
    }],
  ];

  for (const [name, drop] of H3_DROPS) {
    test(`${name}: the daemon keeps its PID and serves another connection`, async () => {
      const c = await h3Connect();
      const streams = ['/foo.Bar/Echo', '/foo.Bar/Echo', '/grpc.health.v1.Health/Check'].map((p) => openPartial(c, p));
      await sleep(200);
      await drop(c, streams);
      await assertH3Alive();
      // HTTP/2 on the same daemon is unaffected too.
      const res = await healthCheck(`127.0.0.1:${d.ready.tcpPort}`, grpc.credentials.createSsl(null, null, null, { checkServerIdentity: () => undefined, rejectUnauthorized: false }));
      assert.deepEqual(res, SERVING);
    });
  }
});

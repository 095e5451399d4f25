// QUIC transport micro-benchmark: our lean loop over the quiche binding
// (src/dataplane/quic) against @matrixai/quic's own JavaScript layer
// (QUICServer/QUICClient, web streams) over the same binding, in one run,
// client and server in this one process for both, loopback, self-signed cert:
//   echo    sequential round trips, a new bidirectional stream each, 64 bytes
//   echo32  the same with 32 round trips in flight
//   bulk    a 10 MiB download on one stream (request, then FIN-terminated body)
// Printed as figures and as the ratio ours / package; plain UDP ping-pong of
// the same 64 bytes between two node:dgram sockets is printed as the floor.
//
//   npx tsc -p . && node dist/bench/http3/quic-transport.js [--echo 3000] [--pkg-echo 300] [--rounds 3]
import dgram from 'node:dgram';
import { parseArgs } from 'node:util';
import { webcrypto, createHmac, timingSafeEqual } from 'node:crypto';
import { QUICServer, QUICClient, events } from '@matrixai/quic';
// @matrixai/quic's own logger (its dependency): INFO by default, which would
// charge it for console output per stream.
import Logger, { LogLevel } from '@matrixai/logger';
import { listenQuic, connectQuic, type QuicConnection } from '../../src/dataplane/quic/transport.js';
import { makeTestCert, type TestCert } from '../../test/helpers/tls.js';
import { DEFAULT_LIMITS } from '../../src/limits.js';

const { values: args } = parseArgs({
  options: {
    echo: { type: 'string', default: '3000' },
    'pkg-echo': { type: 'string', default: '300' },
    rounds: { type: 'string', default: '3' },
  },
});
const ECHO_N = Number(args.echo);
const PKG_ECHO_N = Number(args['pkg-echo']);
const ROUNDS = Number(args.rounds);
const BULK = 10 * 1024 * 1024;
const PAYLOAD = Buffer.alloc(64, 0x61);
const BODY = Buffer.alloc(BULK, 0x62);
/** A bulk transfer slower than this is reported as such, not waited for. */
const BULK_LIMIT_MS = 60_000;

interface Figures {
  echoPerSec: number;
  echo32PerSec: number;
  bulkMiBps: number;
}

/** Runs `n` calls of `once` with `depth` in flight; returns calls per second. */
async function concurrent(n: number, depth: number, once: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < n) {
      next++;
      await once();
    }
  };
  await Promise.all(Array.from({ length: depth }, lane));
  return n / ((performance.now() - t) / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function ours(cert: TestCert): Promise<Figures> {
  const server = await listenQuic({
    host: '::', port: 0, certPem: cert.certPem, keyPem: cert.keyPem, alpn: ['h3'],
    idleTimeoutMs: 30_000, maxConnections: 10, retryThreshold: DEFAULT_LIMITS.http3RetryThreshold, halfOpenTimeoutMs: DEFAULT_LIMITS.http3HalfOpenTimeoutMs, maxStreamsBidi: 1000, maxStreamsUni: 10, windows: DEFAULT_LIMITS,
  });
  server.onConnection = (c: QuicConnection) => {
    c.onStream = (s) => {
      s.onData = (chunk, fin) => {
        if (chunk.length === 1 && chunk[0] === 0x42) s.write(BODY, true); // bulk request
        else s.write(chunk, fin);
      };
    };
  };
  const client = await connectQuic({ host: '127.0.0.1', port: server.port, servername: 'localhost', alpn: ['h3'], verifyPeer: false });
  const echoOnce = () =>
    new Promise<void>((resolve) => {
      const s = client.openBidi();
      s.onData = (_c, fin) => fin && resolve();
      s.write(PAYLOAD, true);
    });
  for (let i = 0; i < 200; i++) await echoOnce(); // warm-up
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    for (let i = 0; i < ECHO_N; i++) await echoOnce();
    rates.push(ECHO_N / ((performance.now() - t) / 1000));
  }
  const rates32: number[] = [];
  for (let r = 0; r < ROUNDS; r++) rates32.push(await concurrent(ECHO_N * 2, 32, echoOnce));
  const bulk: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    const got = await new Promise<number>((resolve) => {
      let n = 0;
      const s = client.openBidi();
      s.onData = (c, fin) => {
        n += c.length;
        if (fin) resolve(n);
      };
      s.write(Uint8Array.of(0x42), true);
    });
    if (got !== BULK) throw new Error(`ours: bulk got ${got} bytes`);
    bulk.push(BULK / 1048576 / ((performance.now() - t) / 1000));
  }
  client.close(0, '');
  await server.close();
  return { echoPerSec: median(rates), echo32PerSec: median(rates32), bulkMiBps: median(bulk) };
}

async function pkg(cert: TestCert): Promise<Figures> {
  const quiet = new Logger('bench', LogLevel.ERROR);
  const key = webcrypto.getRandomValues(new Uint8Array(32)).buffer;
  const sign = async (k: ArrayBuffer, data: ArrayBuffer) => {
    const d = createHmac('sha256', Buffer.from(k)).update(Buffer.from(data)).digest();
    return d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength) as ArrayBuffer;
  };
  const server = new QUICServer({
    crypto: {
      key,
      ops: {
        sign,
        verify: async (k, data, sig) => timingSafeEqual(Buffer.from(await sign(k, data)), Buffer.from(sig)),
      },
    },
    config: { key: cert.keyPem, cert: cert.certPem, verifyPeer: false, applicationProtos: ['h3'], maxIdleTimeout: 30_000 },
    logger: quiet,
  });
  server.addEventListener(events.EventQUICServerConnection.name, (evt: Event) => {
    const conn = (evt as events.EventQUICServerConnection).detail;
    conn.addEventListener(events.EventQUICConnectionStream.name, (e: Event) => {
      const s = (e as events.EventQUICConnectionStream).detail;
      void (async () => {
        const parts: Uint8Array[] = [];
        for await (const c of s.readable) parts.push(c);
        const req = Buffer.concat(parts);
        const w = s.writable.getWriter();
        await w.write(req.length === 1 && req[0] === 0x42 ? BODY : req);
        await w.close();
      })().catch(() => {});
    });
  });
  await server.start({ host: '::', port: 0 });
  const client = await QUICClient.createQUICClient({
    host: '127.0.0.1',
    port: server.port,
    crypto: { ops: { randomBytes: async (data: ArrayBuffer) => void webcrypto.getRandomValues(new Uint8Array(data)) } },
    config: { verifyPeer: false, applicationProtos: ['h3'], maxIdleTimeout: 30_000 },
    logger: quiet,
  });
  const request = async (body: Uint8Array): Promise<number> => {
    const s = client.connection.newStream('bidi');
    const w = s.writable.getWriter();
    await w.write(body);
    await w.close();
    let n = 0;
    for await (const c of s.readable) n += c.length;
    return n;
  };
  for (let i = 0; i < 20; i++) await request(PAYLOAD);
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    for (let i = 0; i < PKG_ECHO_N; i++) await request(PAYLOAD);
    rates.push(PKG_ECHO_N / ((performance.now() - t) / 1000));
  }
  const rates32: number[] = [];
  for (let r = 0; r < ROUNDS; r++) rates32.push(await concurrent(PKG_ECHO_N * 2, 32, () => request(PAYLOAD)));
  const bulk: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    const got = await Promise.race([request(Uint8Array.of(0x42)), new Promise<number>((res) => setTimeout(() => res(-1), BULK_LIMIT_MS))]);
    if (got === -1) {
      bulk.push(BULK / 1048576 / (BULK_LIMIT_MS / 1000)); // an upper bound
      console.log(`  package bulk did not finish within ${BULK_LIMIT_MS / 1000} s`);
      break;
    }
    if (got !== BULK) throw new Error(`package: bulk got ${got} bytes`);
    bulk.push(BULK / 1048576 / ((performance.now() - t) / 1000));
  }
  await client.destroy({ force: true });
  await server.stop({ force: true });
  return { echoPerSec: median(rates), echo32PerSec: median(rates32), bulkMiBps: median(bulk) };
}

/** Round trips per second of bare UDP datagrams: what any loop over node:dgram cannot beat. */
async function rawUdp(): Promise<number> {
  const a = dgram.createSocket('udp4');
  const b = dgram.createSocket('udp4');
  await new Promise<void>((r) => a.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => b.bind(0, '127.0.0.1', () => r()));
  b.on('message', (m, rinfo) => b.send(m, rinfo.port, rinfo.address));
  const n = ECHO_N * 2;
  const t = performance.now();
  await new Promise<void>((resolve) => {
    let got = 0;
    a.on('message', () => {
      if (++got === n) resolve();
      else a.send(PAYLOAD, b.address().port, '127.0.0.1');
    });
    a.send(PAYLOAD, b.address().port, '127.0.0.1');
  });
  const rate = n / ((performance.now() - t) / 1000);
  a.close();
  b.close();
  return rate;
}

const cert = await makeTestCert();
try {
  const floor = await rawUdp();
  const a = await ours(cert);
  const b = await pkg(cert);
  const row = (name: string, x: number, y: number, unit: string) =>
    console.log(`${name.padEnd(28)} ${x.toFixed(1).padStart(10)} ${y.toFixed(1).padStart(10)}  ${unit.padEnd(8)} ${(x / y).toFixed(1).padStart(6)}x`);
  console.log(`QUIC transport, loopback, client+server in one process, median of ${ROUNDS}`);
  console.log(`${''.padEnd(28)} ${'ours'.padStart(10)} ${'package'.padStart(10)}  ${''.padEnd(8)} ${'ratio'.padStart(7)}`);
  row('echo (new stream, 64 B)', a.echoPerSec, b.echoPerSec, 'rt/s');
  console.log(`${'  (plain UDP ping-pong floor'.padEnd(28)} ${floor.toFixed(1).padStart(10)}  rt/s: ours at ${((100 * a.echoPerSec) / floor).toFixed(0)}% of it)`);
  row('echo, 32 in flight', a.echo32PerSec, b.echo32PerSec, 'rt/s');
  row('10 MiB download', a.bulkMiBps, b.bulkMiBps, 'MiB/s');
} finally {
  await cert.cleanup();
}

// Bad input and load against the real daemon's data plane: malformed framing,
// wrong content types, a flood of RST_STREAM, 10,000 concurrent calls, and a
// graceful shutdown. After each, the daemon must still serve, with memory bounded.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { criClient, type CriClient } from '../helpers/cri-client.js';
import { msg, rssBytes, serviceClient, sleep, startComponent, text, unary } from './dataplane-fixture.js';

const BAR = 'example.com:foo.Bar@1.0.0';
let d: TestDaemon;
let cri: CriClient;
let address: string;
const clients: grpc.Client[] = [];

before(async () => {
  d = await startDaemon({ args: ['--plaintext'], logLevel: 'info' });
  cri = criClient(d.criSocket);
  address = `127.0.0.1:${d.ready.tcpPort}`;
  await startComponent(cri, BAR);
});

after(async () => {
  for (const c of clients) c.close();
  cri?.close();
  await d?.stop();
});

function bar(options: grpc.ChannelOptions = {}) {
  const c = serviceClient(address, 'foo.Bar', { authority: 'example.com', options });
  clients.push(c);
  return c;
}

async function stillServes(): Promise<void> {
  assert.equal(d.process.exitCode, null, 'the daemon is still running');
  const c = bar({ 'grpc.use_local_subchannel_pool': 1 });
  const r = await unary(c, 'Echo', msg('still serving'));
  assert.equal(r.err, null);
  assert.equal(text(r.res!), 'still serving');
}

function connect(): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://${address}`);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

interface Raw {
  status: number;
  grpcStatus?: number;
  grpcMessage?: string;
  body: Buffer;
}

function raw(s: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = s.request({ ':method': 'POST', ':path': '/foo.Bar/Echo', ':authority': 'example.com', 'content-type': 'application/grpc', te: 'trailers', ...headers });
    let h: http2.IncomingHttpHeaders = {};
    let t: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (x) => (h = x));
    req.on('trailers', (x) => (t = x));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('close', () => {
      const src = t['grpc-status'] !== undefined ? t : h;
      resolve({
        status: Number(h[':status']),
        grpcStatus: src['grpc-status'] === undefined ? undefined : Number(src['grpc-status']),
        grpcMessage: src['grpc-message'] === undefined ? undefined : decodeURIComponent(String(src['grpc-message'])),
        body: Buffer.concat(chunks),
      });
    });
    req.end(body);
  });
}

describe('malformed requests get the right error and harm nothing', () => {
  test('malformed length prefix: INTERNAL naming the flag', async () => {
    const s = await connect();
    const r = await raw(s, {}, Buffer.from([0x80, 0, 0, 0, 2, 0x0a, 0x00]));
    s.close();
    assert.equal(r.grpcStatus, grpc.status.INTERNAL);
    assert.match(r.grpcMessage!, /malformed length prefix: compressed flag is 0x80/);
  });

  test('truncated message: INTERNAL with the byte counts', async () => {
    const s = await connect();
    const r = await raw(s, {}, Buffer.from([0, 0, 0, 1, 0, 0x0a, 0x02, 0x68]));
    s.close();
    assert.equal(r.grpcStatus, grpc.status.INTERNAL);
    assert.match(r.grpcMessage!, /truncated message: received 3 of 256 bytes/);
  });

  test('wrong content-type: HTTP 415 with a reason; a huge declared length: RESOURCE_EXHAUSTED before any body', async () => {
    const s = await connect();
    const r = await raw(s, { 'content-type': 'application/json' }, Buffer.from('{"text":"x"}'));
    assert.equal(r.status, 415);
    assert.match(r.body.toString(), /is not application\/grpc/);
    const big = await raw(s, {}, Buffer.from([0, 0x7f, 0xff, 0xff, 0xff]));
    assert.equal(big.grpcStatus, grpc.status.RESOURCE_EXHAUSTED);
    s.close();
    await stillServes();
  });
});

describe('HTTP/2 flow control', () => {
  test('a 3 MiB message each way, including to a client whose stream window is 1 KiB', async () => {
    const big = 'f'.repeat(3 * 1024 * 1024);
    const r = await unary(bar(), 'Echo', msg(big));
    assert.equal(r.err, null);
    assert.equal(text(r.res!).length, big.length);
    const s = await new Promise<http2.ClientHttp2Session>((resolve, reject) => {
      const x = http2.connect(`http://${address}`, { settings: { initialWindowSize: 1024 } });
      x.once('connect', () => resolve(x));
      x.once('error', reject);
    });
    const m = msg(big);
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(m.length, 1);
    const res = await raw(s, {}, Buffer.concat([prefix, m]));
    s.close();
    assert.equal(res.grpcStatus, 0);
    assert.equal(res.body.length, 5 + m.length);
    assert.ok(res.body.subarray(5).equals(m));
  });
});

describe('floods and load', () => {
  test('a flood of RST_STREAM (streams opened and reset at once, 5,000) leaves the daemon serving', async (t) => {
    const rssBefore = await rssBytes(d.process.pid!);
    const s = await connect();
    s.on('error', () => {});
    const body = Buffer.concat([Buffer.from([0, 0, 0, 0, msg('x').length]), msg('x')]);
    let opened = 0;
    for (let i = 0; i < 5000 && !s.destroyed && !s.closed; i++) {
      const req = s.request({ ':method': 'POST', ':path': '/foo.Bar/Spin', ':authority': 'example.com', 'content-type': 'application/grpc' });
      req.on('error', () => {});
      // Half the streams reach the guest before the reset; half are reset right after HEADERS.
      if (i % 2 === 0) req.end(body);
      req.close(http2.constants.NGHTTP2_CANCEL);
      opened++;
      if (i % 500 === 499) await sleep(1);
    }
    await sleep(500);
    s.destroy();
    t.diagnostic(`opened and reset ${opened} streams; session ${s.destroyed ? 'destroyed' : 'open'}`);
    assert.ok(opened > 100, `opened ${opened} streams before the server pushed back`);
    await stillServes();
    const grown = (await rssBytes(d.process.pid!)) - rssBefore;
    t.diagnostic(`daemon RSS grew ${Math.round(grown / 1048576)} MiB`);
    assert.ok(grown < 200 * 1024 * 1024, `RSS grew ${Math.round(grown / 1048576)} MiB`);
  });

  test('10,000 concurrent calls: each answered OK or with an explicit limit (RESOURCE_EXHAUSTED), memory bounded', async (t) => {
    const rssBefore = await rssBytes(d.process.pid!);
    const channels = Array.from({ length: 4 }, () => bar({ 'grpc.use_local_subchannel_pool': 1 }));
    const codes = new Map<number, number>();
    let peak = 0;
    const sampler = setInterval(() => {
      void rssBytes(d.process.pid!).then((r) => (peak = Math.max(peak, r)));
    }, 50);
    const calls = Array.from({ length: 10_000 }, async (_, i) => {
      const r = await unary(channels[i % channels.length]!, 'Echo', msg(`call ${i}`), new grpc.Metadata(), { deadline: Date.now() + 60_000 });
      if (r.err === null) assert.equal(text(r.res!), `call ${i}`);
      codes.set(r.err?.code ?? 0, (codes.get(r.err?.code ?? 0) ?? 0) + 1);
    });
    await Promise.all(calls);
    clearInterval(sampler);
    t.diagnostic(`status codes: ${JSON.stringify([...codes])}; peak daemon RSS ${Math.round(peak / 1048576)} MiB (+${Math.round((peak - rssBefore) / 1048576)} MiB)`);
    const unexpected = [...codes.keys()].filter((c) => c !== grpc.status.OK && c !== grpc.status.RESOURCE_EXHAUSTED);
    assert.deepEqual(unexpected, [], `status codes seen: ${JSON.stringify([...codes])}`);
    assert.ok((codes.get(0) ?? 0) >= 1000, `at least 1,000 calls succeeded: ${JSON.stringify([...codes])}`);
    assert.ok(peak - rssBefore < 400 * 1024 * 1024, `peak RSS grew ${Math.round((peak - rssBefore) / 1048576)} MiB`);
    await stillServes();
  });
});

describe('graceful shutdown', () => {
  test('SIGTERM: GOAWAY, an in-flight call still gets its answer, new connections are refused', async () => {
    const c = bar({ 'grpc.use_local_subchannel_pool': 1 });
    assert.equal((await unary(c, 'Echo', msg('warm'))).err, null);
    // Spin loops until stopped: its caller's deadline (wall time) ends it 1 s from now, within the daemon's 2 s
    // grace period. (Not its CPU limit: that counts the call's thread CPU time, which a loaded node gives a
    // deprioritised loop slowly.) Cut off at SIGTERM, it would fail with UNAVAILABLE at once.
    const inflight = unary(c, 'Spin', msg(''), new grpc.Metadata(), { deadline: Date.now() + 1000 });
    await sleep(100);
    const stopped = d.stop();
    const r = await inflight;
    assert.equal(r.err!.code, grpc.status.DEADLINE_EXCEEDED, `in-flight call ended by its deadline, not cut off: ${r.err!.code} ${r.err!.details}`);
    await stopped;
    await assert.rejects(connect());
  });
});

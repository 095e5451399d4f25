// gRPC over HTTP/3 through the real daemon: `workd serve` with WebAssembly
// guests created through the CRI (the data plane's fixture), called by our
// HTTP/3 client and by `workd call --http3`, and compared with grpc-js over
// HTTP/2 on the same port number.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { startDaemon, WORKD_BIN, type TestDaemon } from '../helpers/daemon.js';
import { criClient, type CriClient } from '../helpers/cri-client.js';
import { msg, serviceClient, startComponent, text, unary } from './dataplane-fixture.js';
import { Http3Client } from '../../src/dataplane/http3/client.js';
import { connectHttp3 } from '../../src/dataplane/client/http3.js';
import { listServices } from '../../src/dataplane/client/reflection.js';
import { Code } from '../../src/errors.js';

const run = promisify(execFile);
let d: TestDaemon;
let cri: CriClient;
let h3: Http3Client;
const AUTH = 'example.com';

before(async () => {
  d = await startDaemon({ logLevel: 'info' });
  cri = criClient(d.criSocket);
  await startComponent(cri, 'example.com:foo.Bar@1.2.3');
  await startComponent(cri, 'example.com:foo.Bar@1.3.0');
  h3 = await Http3Client.connect({ host: '127.0.0.1', port: d.ready.udpPort, servername: 'localhost' });
});

after(async () => {
  h3?.close();
  cri?.close();
  await d?.stop();
});

const call = (method: string, text = '', extra: Partial<Parameters<Http3Client['unary']>[0]> = {}) =>
  h3.unary({ authority: AUTH, path: `/foo.Bar/${method}`, message: msg(text), ...extra });

test('HTTP/3 listens on UDP at the TCP port number', () => {
  assert.ok(d.ready.udpPort > 0);
  assert.equal(d.ready.udpPort, d.ready.tcpPort);
});

test('routing: highest version by default, a version pin by metadata', async () => {
  assert.equal(text(Buffer.from((await call('Which')).response!)), 'example.com:foo.Bar@1.3.0');
  assert.equal(text(Buffer.from((await call('Which', '', { metadata: { 'workd-version': '~1.2' } })).response!)), 'example.com:foo.Bar@1.2.3');
});

test('echo, gzip-compressed requests, text and binary metadata back as trailers', async () => {
  const big = 'y'.repeat(20_000);
  assert.equal(text(Buffer.from((await call('Echo', big, { compress: 'gzip' })).response!)), big);
  const r = await call('Meta', '', { metadata: [['x-user', 'bob'], ['x-trace-bin', Uint8Array.of(0, 1, 255)]] });
  assert.equal(r.code, Code.OK, r.message);
  assert.equal(r.trailers['x-user-echo'], 'bob');
  assert.equal(Buffer.from(String(r.trailers['x-trace-bin']), 'base64').toString('hex'), '0001ff');
});

test('statuses: guest error with a UTF-8 message, deadline, missing method, unknown service', async () => {
  const fail = await call('Fail');
  assert.deepEqual([fail.code, fail.message], [Code.FAILED_PRECONDITION, 'nope: ü']);
  assert.equal((await call('Spin', '', { timeoutMs: 300 })).code, Code.DEADLINE_EXCEEDED);
  assert.equal((await call('Missing')).code, Code.UNIMPLEMENTED);
  assert.equal((await h3.unary({ authority: AUTH, path: '/foo.Nope/Which', message: msg('') })).code, Code.UNIMPLEMENTED);
});

test('health and reflection over HTTP/3', async () => {
  const health = await h3.unary({ authority: AUTH, path: '/grpc.health.v1.Health/Check', message: Buffer.from('0a07666f6f2e426172', 'hex') });
  assert.equal(Buffer.from(health.response!).toString('hex'), '0801', 'SERVING');
  const t = await connectHttp3({ address: `127.0.0.1:${d.ready.udpPort}`, authority: AUTH, insecure: true });
  try {
    const services = await listServices(t, {});
    assert.ok(services.includes('foo.Bar') && services.includes('grpc.health.v1.Health'), services.join(','));
  } finally {
    await t.close();
  }
});

test('the same answers as grpc-js over HTTP/2, alt-svc pointing at HTTP/3', async () => {
  const creds = grpc.credentials.createSsl(readFileSync(join(d.stateDir, 'tls', 'cert.pem')));
  const c = serviceClient(`127.0.0.1:${d.ready.tcpPort}`, 'foo.Bar', { authority: AUTH, credentials: creds, options: { 'grpc.ssl_target_name_override': 'localhost' } });
  try {
    for (const [method, body] of [['Which', ''], ['Echo', 'same'], ['Fail', ''], ['Missing', '']] as const) {
      const [a, b] = await Promise.all([unary(c, method, msg(body)), call(method, body)]);
      assert.equal(b.code, a.err?.code ?? 0, method);
      assert.equal(b.message, a.err?.details ?? '', method);
      if (!a.err) assert.equal(text(Buffer.from(b.response!)), text(a.res!), method);
    }
    const md = await new Promise<grpc.Metadata>((resolve) => {
      const callObj = c.Which!(msg(''), () => {});
      callObj.on('metadata', resolve);
    });
    assert.deepEqual(md.get('alt-svc'), [`h3=":${d.ready.udpPort}"`]);
  } finally {
    c.close();
  }
});

test('workd call --http3', async () => {
  const { stdout } = await run(process.execPath, [WORKD_BIN, 'call', '--http3', '--insecure', '--authority', AUTH, '-d', '{"text":"hi h3"}', `127.0.0.1:${d.ready.udpPort}`, 'foo.Bar/Echo'], { timeout: 30_000 });
  assert.deepEqual(JSON.parse(stdout), { text: 'hi h3' });
  const failed = await run(process.execPath, [WORKD_BIN, 'call', '--http3', '--insecure', '--authority', AUTH, `127.0.0.1:${d.ready.udpPort}`, 'foo.Bar/Fail'], { timeout: 30_000 }).catch((e: { code: number; stderr: string }) => e);
  assert.equal((failed as { code: number }).code, 64 + Code.FAILED_PRECONDITION);
  assert.match((failed as { stderr: string }).stderr, /FAILED_PRECONDITION[\s\S]*nope: ü/);
});

test('shutdown with a call in flight over HTTP/3: it finishes', async () => {
  const d2 = await startDaemon({ logLevel: 'info' });
  const cri2 = criClient(d2.criSocket);
  try {
    await startComponent(cri2, 'example.com:foo.Bar@1.0.0');
    const c = await Http3Client.connect({ host: '127.0.0.1', port: d2.ready.udpPort, servername: 'localhost' });
    const big = 'z'.repeat(3_000_000);
    const inflight = c.unary({ authority: AUTH, path: '/foo.Bar/Echo', message: msg(big) });
    await new Promise((r) => setTimeout(r, 20));
    const stopping = d2.stop();
    const r = await inflight;
    assert.equal(r.code, Code.OK, `${r.message}\n${d2.logs().split('\n').filter((l) => /http3|h3|shut|clos/i.test(l)).join('\n')}`);
    assert.equal(text(Buffer.from(r.response!)).length, big.length);
    await stopping;
    c.close();
  } finally {
    cri2.close();
    await d2.stop();
  }
});

test('the config file sets the HTTP/3 limits: with [dataplane.http3] max_connections = 1 a second connection is refused, the first keeps working', async () => {
  const small = await startDaemon({ configToml: '[dataplane.http3]\nmax_connections = 1\nidle_timeout_ms = 5000\n', logLevel: 'info' });
  const smallCri = criClient(small.criSocket);
  let first: Http3Client | undefined;
  try {
    await startComponent(smallCri, 'example.com:foo.Bar@1.0.0');
    first = await Http3Client.connect({ host: '127.0.0.1', port: small.ready.udpPort, servername: 'localhost' });
    await assert.rejects(Http3Client.connect({ host: '127.0.0.1', port: small.ready.udpPort, servername: 'localhost' }), /peer transport error 0x2 \(too many connections\)/);
    const r = await first.unary({ authority: AUTH, path: '/foo.Bar/Echo', message: msg('still here') });
    assert.equal(r.code, Code.OK, r.message);
    assert.equal(text(Buffer.from(r.response!)), 'still here');
  } finally {
    first?.close();
    smallCri.close();
    await small.stop();
  }
});

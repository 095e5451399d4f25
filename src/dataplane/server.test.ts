// The data plane end to end over loopback with real clients (@grpc/grpc-js and
// raw node:http2), serving the JavaScript `foo.Bar` test service through a
// plain-object RouteTable. The daemon-level tests live in test/integration/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import zlib from 'node:zlib';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { defaultConfig } from '../config.js';
import { createLogger } from '../observability/log.js';
import { startDataPlane, type DataPlane } from './server.js';
import { StaticRouteTable } from '../../test/helpers/static-routes.js';
import { addFloats, echo, echoDescriptorSet, echoPackage, echoRuntime } from '../../test/fixtures/echo/echo.js';
import { encodeMessage } from './grpc/framing.js';
import { grpcStatus, rawRequest } from '../../test/helpers/raw-h2.js';
import { PROTO_ROOT } from './builtin/protos.js';
import { DEFAULT_LIMITS, fixedLimit, withLimits } from '../limits.js';

const MAX = 256 * 1024;
let dp: DataPlane;
let dir: string;
let cancelled = 0;
const routes = new StaticRouteTable();
const set = echoDescriptorSet();
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const Bar = (grpc.loadPackageDefinition(echoPackage) as any).foo.Bar as typeof grpc.Client;
const clients: grpc.Client[] = [];

function client(authority = 'example.com', options: grpc.ChannelOptions = {}) {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const c = new Bar(`127.0.0.1:${dp.tcpPort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': authority, ...options }) as any;
  clients.push(c);
  return c;
}

function unary<T>(c: any, method: string, req: object, md = new grpc.Metadata(), opts: grpc.CallOptions = {}) {
  return new Promise<{ err: grpc.ServiceError | null; res?: T; trailers?: grpc.Metadata }>((resolve) => {
    let trailers: grpc.Metadata | undefined;
    const call = c[method](req, md, opts, (err: grpc.ServiceError | null, res: T) => setImmediate(() => resolve({ err, res, trailers })));
    call.on('status', (s: grpc.StatusObject) => (trailers = s.metadata));
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'workd-dp-'));
  for (const [version, n] of [['1.2.3', 1], ['1.3.0', 2]] as const) {
    for (let i = 0; i < n; i++) {
      const id = `example.com:foo.Bar@${version}#${i}`;
      routes.add('example.com', 'foo.Bar', { id, version, runtime: echoRuntime(id, `${version}/`, { onCancelled: () => cancelled++ }), descriptorSet: set });
    }
  }
  const other = 'other.org:foo.Bar@0.1.0#0';
  routes.add('other.org', 'foo.Bar', { id: other, version: '0.1.0', runtime: echoRuntime(other, 'other/'), descriptorSet: set });
  routes.declare('example.com', 'foo.Sleeping');
  const config = { ...defaultConfig().dataplane, listen: '127.0.0.1:0', plaintext: true };
  dp = await startDataPlane({ config, routes, log: createLogger('silent'), stateDir: dir, healthWatchIntervalMs: 50, limits: withLimits({ maxMessageBytes: MAX }) });
});

after(async () => {
  for (const c of clients) c.close();
  await dp.close(100);
  await rm(dir, { recursive: true, force: true });
});

describe('routing', () => {
  test('a call reaches the highest running version of the authority\'s component', async () => {
    const r = await unary<{ value: number }>(client(), 'AddFloats', { x: 3.5, y: -1.25 });
    assert.equal(r.err, null);
    assert.equal(r.res!.value, 2.25);
    assert.match(String(r.trailers!.get('served-by')[0]), /^example\.com:foo\.Bar@1\.3\.0#[01]$/);
  });

  test('the authority picks the domain (port ignored, case folded)', async () => {
    const r = await unary<{ text: string }>(client('OTHER.org:9999'), 'Echo', { text: 'hi' });
    assert.equal(r.res!.text, 'other/hi');
  });

  test('workd-version pins an exact version or a range', async () => {
    const md = new grpc.Metadata();
    md.set('workd-version', '1.2.3');
    assert.equal((await unary<{ text: string }>(client(), 'Echo', { text: 'a' }, md)).res!.text, '1.2.3/a');
    md.set('workd-version', '^1.2');
    assert.equal((await unary<{ text: string }>(client(), 'Echo', { text: 'b' }, md)).res!.text, '1.3.0/b');
    md.set('workd-version', '~1.2.0');
    assert.equal((await unary<{ text: string }>(client(), 'Echo', { text: 'c' }, md)).res!.text, '1.2.3/c');
    md.set('workd-version', '^2');
    const r = await unary(client(), 'Echo', { text: 'd' }, md);
    assert.equal(r.err!.code, grpc.status.UNAVAILABLE);
    assert.match(r.err!.details, /no running version of example\.com:foo\.Bar matches workd-version "\^2"/);
  });

  test('two containers of one version share the load', async () => {
    const c = client();
    const seen = new Set<string>();
    await Promise.all(Array.from({ length: 20 }, async () => {
      const r = await unary(c, 'AddFloats', { x: 1, y: 1 });
      seen.add(String(r.trailers!.get('served-by')[0]));
    }));
    assert.deepEqual([...seen].sort(), ['example.com:foo.Bar@1.3.0#0', 'example.com:foo.Bar@1.3.0#1']);
  });

  test('unknown domain, unknown service and unknown method are UNIMPLEMENTED; no running container is UNAVAILABLE', async () => {
    let r = await unary(client('nowhere.net'), 'Echo', { text: 'x' });
    assert.equal(r.err!.code, grpc.status.UNIMPLEMENTED);
    assert.match(r.err!.details, /unknown service foo\.Bar at nowhere\.net/);
    const s = await rawRequest(await session(), { ':path': '/foo.Sleeping/Echo', ':authority': 'example.com' }, encodeMessage(new Uint8Array(0)));
    assert.equal(grpcStatus(s).code, grpc.status.UNAVAILABLE);
    assert.match(grpcStatus(s).message, /foo\.Sleeping has no running container/);
    const m = await rawRequest(await session(), { ':path': '/foo.Bar/Subtract', ':authority': 'example.com' }, encodeMessage(new Uint8Array(0)));
    assert.equal(grpcStatus(m).code, grpc.status.UNIMPLEMENTED);
    assert.match(grpcStatus(m).message, /unknown method Subtract of service foo\.Bar/);
    r = await unary(client('example.com'), 'Echo', { text: 'x' }, new grpc.Metadata(), {});
    assert.equal(r.err, null);
  });
});

describe('gRPC semantics', () => {
  test('guest status codes and UTF-8 messages reach the client', async () => {
    for (const code of [1, 2, 3, 5, 7, 9, 10, 11, 13, 15, 16]) {
      const r = await unary(client(), 'Echo', { text: `status:${code}` });
      assert.equal(r.err!.code, code);
      assert.equal(r.err!.details, `asked for ${code}`);
    }
  });

  test('grpc-timeout: DEADLINE_EXCEEDED, and the guest\'s work is cancelled', async () => {
    const before = cancelled;
    const r = await unary(client(), 'Echo', { text: 'sleep:10000' }, new grpc.Metadata(), { deadline: Date.now() + 200 });
    assert.equal(r.err!.code, grpc.status.DEADLINE_EXCEEDED);
    // The client may time out on its own clock first; the server must still cancel the guest.
    for (let i = 0; i < 50 && cancelled === before; i++) await new Promise((res) => setTimeout(res, 20));
    assert.equal(cancelled, before + 1);
    // And a server-side deadline (the client does not enforce it itself): raw request with grpc-timeout.
    const raw = await rawRequest(await session(), { ':path': '/foo.Bar/Echo', ':authority': 'example.com', 'grpc-timeout': '100m' }, encodeMessage(echo.requestSerialize({ text: 'sleep:10000' })));
    assert.equal(grpcStatus(raw).code, grpc.status.DEADLINE_EXCEEDED);
    assert.match(grpcStatus(raw).message, /deadline of 100ms exceeded/);
  });

  test('custom metadata goes to the guest and back, text and -bin', async () => {
    const md = new grpc.Metadata();
    md.set('x-user', 'alice');
    md.set('x-trace-bin', Buffer.from([0, 1, 2, 250, 255]));
    const r = await unary(client(), 'Echo', { text: 'm' }, md);
    assert.equal(r.err, null);
    assert.deepEqual(r.trailers!.get('x-user'), ['alice']);
    assert.deepEqual(r.trailers!.get('x-trace-bin'), [Buffer.from([0, 1, 2, 250, 255])]);
  });

  test('gzip and deflate both ways (grpc-encoding / grpc-accept-encoding)', async () => {
    for (const [alg, name] of [[2, 'gzip'], [1, 'deflate']] as const) {
      const r = await unary<{ text: string; blob: Buffer }>(client('example.com', { 'grpc.default_compression_algorithm': alg }), 'Echo', { text: name, blob: Buffer.alloc(50_000, 1) });
      assert.equal(r.err, null, name);
      assert.equal(r.res!.blob.length, 50_000);
      const body = encodeMessage(name === 'gzip' ? zlib.gzipSync(echo.requestSerialize({ text: 'z' })) : zlib.deflateSync(echo.requestSerialize({ text: 'z' })), true);
      const raw = await rawRequest(await session(), { ':path': '/foo.Bar/Echo', ':authority': 'example.com', 'grpc-encoding': name, 'grpc-accept-encoding': `identity,${name}` }, body);
      assert.equal(raw.headers['grpc-encoding'], name);
      assert.equal(raw.body[0], 1, 'response message has the compressed flag');
      const msg = raw.body.subarray(5);
      const plain = name === 'gzip' ? zlib.gunzipSync(msg) : zlib.inflateSync(msg);
      assert.equal((echo.responseDeserialize(plain) as { text: string }).text, '1.3.0/z');
    }
  });

  test('an unknown grpc-encoding is UNIMPLEMENTED and lists the supported ones', async () => {
    const raw = await rawRequest(await session(), { ':path': '/foo.Bar/Echo', ':authority': 'example.com', 'grpc-encoding': 'br' }, encodeMessage(new Uint8Array(0)));
    assert.equal(grpcStatus(raw).code, grpc.status.UNIMPLEMENTED);
    assert.equal(raw.headers['grpc-accept-encoding'], 'identity,deflate,gzip');
  });

  test('messages over the limit are RESOURCE_EXHAUSTED, both directions, and the server keeps serving', async () => {
    let r = await unary(client(), 'Echo', { text: 'x', blob: Buffer.alloc(MAX + 1) });
    assert.equal(r.err!.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(r.err!.details, /larger than the limit of 262144 bytes/);
    r = await unary(client(), 'Echo', { text: `big:${MAX + 10}` });
    assert.equal(r.err!.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(r.err!.details, /response message of \d+ bytes is larger than the limit/);
    // A small gzip bomb inflating past the limit.
    const bomb = encodeMessage(zlib.gzipSync(Buffer.alloc(MAX * 8)), true);
    const raw = await rawRequest(await session(), { ':path': '/foo.Bar/Echo', ':authority': 'example.com', 'grpc-encoding': 'gzip' }, bomb);
    assert.equal(grpcStatus(raw).code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal((await unary(client(), 'AddFloats', { x: 1, y: 2 })).err, null);
  });
});

let sess: http2.ClientHttp2Session | undefined;
async function session(): Promise<http2.ClientHttp2Session> {
  if (sess && !sess.closed && !sess.destroyed) return sess;
  sess = http2.connect(`http://127.0.0.1:${dp.tcpPort}`);
  sess.on('error', () => {});
  after(() => sess?.close());
  return sess;
}

describe('bad input', () => {
  const path = { ':path': '/foo.Bar/Echo', ':authority': 'example.com' };
  test('wrong content-type is HTTP 415; GET is HTTP 405', async () => {
    const r = await rawRequest(await session(), { ...path, 'content-type': 'application/json' }, Buffer.from('{}'));
    assert.equal(r.headers[':status'], 415);
    assert.match(r.body.toString(), /content-type "application\/json" is not application\/grpc/);
    const g = await new Promise<http2.IncomingHttpHeaders>(async (resolve) => {
      const req = (await session()).request({ ...path, ':method': 'GET' });
      req.on('response', resolve);
      req.resume();
      req.end();
    });
    assert.equal(g[':status'], 405);
  });

  test('grpc-message is cut to the CRI\'s bound (a long authority echoed in the error), head and tail kept', async () => {
    const domain = `${'d'.repeat(20_000)}.example`;
    const r = await rawRequest(await session(), { ':path': '/foo.Bar/Echo', ':authority': domain }, encodeMessage(new Uint8Array(0)));
    const { code, message } = grpcStatus(r);
    assert.equal(code, grpc.status.UNIMPLEMENTED);
    assert.ok(Buffer.byteLength(message) <= fixedLimit('statusMessageBytes'), `${Buffer.byteLength(message)} bytes`);
    assert.match(message, /^unknown service foo\.Bar at d+ \[… \d+ bytes cut …\] d+\.example:foo\.Bar on this node$/);
  });

  test('a malformed length prefix is INTERNAL naming the flag', async () => {
    const r = await rawRequest(await session(), path, Buffer.from([9, 0, 0, 0, 0]));
    assert.equal(grpcStatus(r).code, grpc.status.INTERNAL);
    assert.match(grpcStatus(r).message, /malformed length prefix: compressed flag is 0x09/);
  });

  test('a truncated message is INTERNAL', async () => {
    const r = await rawRequest(await session(), path, Buffer.from([0, 0, 0, 0, 10, 1, 2, 3]));
    assert.equal(grpcStatus(r).code, grpc.status.INTERNAL);
    assert.match(grpcStatus(r).message, /truncated message: received 3 of 10 bytes/);
  });

  test('no message, two messages, or a compressed flag without grpc-encoding are INTERNAL', async () => {
    let r = await rawRequest(await session(), path, []);
    assert.match(grpcStatus(r).message, /received no request message/);
    const one = encodeMessage(echo.requestSerialize({ text: 'a' }));
    r = await rawRequest(await session(), path, [one, one]);
    assert.match(grpcStatus(r).message, /more than one request message/);
    r = await rawRequest(await session(), path, encodeMessage(Buffer.from('x'), true));
    assert.match(grpcStatus(r).message, /compressed flag set but no grpc-encoding/);
    assert.equal(grpcStatus(r).code, grpc.status.INTERNAL);
  });

  test('a malformed grpc-timeout and a malformed path are refused with a clear message', async () => {
    let r = await rawRequest(await session(), { ...path, 'grpc-timeout': '5 seconds' }, encodeMessage(new Uint8Array(0)));
    assert.equal(grpcStatus(r).code, grpc.status.INTERNAL);
    assert.match(grpcStatus(r).message, /malformed grpc-timeout "5 seconds"/);
    r = await rawRequest(await session(), { ...path, ':path': '/justone' }, encodeMessage(new Uint8Array(0)));
    assert.equal(grpcStatus(r).code, grpc.status.UNIMPLEMENTED);
    assert.match(grpcStatus(r).message, /malformed path/);
  });

  test('streams reset mid-call cancel the guest and the server keeps serving', async () => {
    const s = await session();
    const before = cancelled;
    for (let i = 0; i < 20; i++) {
      const req = s.request({ ...path, ':method': 'POST', 'content-type': 'application/grpc' });
      req.on('error', () => {});
      req.end(encodeMessage(echo.requestSerialize({ text: 'sleep:10000' })));
      setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), 50);
    }
    for (let i = 0; i < 100 && cancelled < before + 20; i++) await new Promise((res) => setTimeout(res, 20));
    assert.equal(cancelled, before + 20);
    assert.equal((await unary(client(), 'AddFloats', { x: 1, y: 2 })).err, null);
  });
});

describe('memory bounds', () => {
  test('streams holding unfinished messages are refused past the node-wide budget, and give it back when they end', async () => {
    const small = await startDataPlane({
      config: { ...defaultConfig().dataplane, listen: '127.0.0.1:0', plaintext: true },
      routes,
      log: createLogger('silent'),
      stateDir: dir,
      limits: withLimits({ maxMessageBytes: MAX, maxBufferedRequestBytes: 100_000 }),
    });
    const s = http2.connect(`http://127.0.0.1:${small.tcpPort}`);
    s.on('error', () => {});
    const open = (n: number) => {
      const req = s.request({ ':method': 'POST', ':path': '/foo.Bar/Echo', ':authority': 'example.com', 'content-type': 'application/grpc' });
      req.on('error', () => {});
      const status = new Promise<string | undefined>((resolve) => {
        req.on('response', (h) => h['grpc-status'] !== undefined && resolve(String(h['grpc-status'])));
        req.on('trailers', (t) => resolve(String(t['grpc-status'])));
        req.on('close', () => resolve(undefined));
      });
      // Most of an 80 KB message, never finished.
      req.write(Buffer.concat([Buffer.from([0, 0, 0x01, 0x38, 0x80]), Buffer.alloc(n)]));
      return { req, status };
    };
    const first = open(60_000);
    await new Promise((r) => setTimeout(r, 100));
    const second = open(60_000);
    assert.equal(await second.status, String(grpc.status.RESOURCE_EXHAUSTED));
    first.req.close(http2.constants.NGHTTP2_CANCEL);
    await first.status;
    // The first stream's bytes are released: a whole call fits again.
    const r = await rawRequest(s, { ':path': '/foo.Bar/Echo', ':authority': 'example.com' }, encodeMessage(echo.requestSerialize({ text: 'fits', blob: Buffer.alloc(70_000) })));
    assert.equal(grpcStatus(r).code, 0);
    s.close();
    await small.close(100);
  });
});

describe('listening', () => {
  test('[::]:0 picks a free port and serves IPv4 and IPv6 clients (dual stack); close ends lingering streams after the grace period', async () => {
    const ds = await startDataPlane({ config: { ...defaultConfig().dataplane, listen: '[::]:0', plaintext: true }, routes, log: createLogger('silent'), stateDir: dir, limits: DEFAULT_LIMITS });
    assert.ok(ds.tcpPort > 0);
    assert.deepEqual(ds.listeners().map((l) => l.host), ['::']);
    const lingering: http2.ClientHttp2Session[] = [];
    for (const host of ['127.0.0.1', '[::1]']) {
      const s = http2.connect(`http://${host}:${ds.tcpPort}`);
      s.on('error', () => {});
      lingering.push(s);
      const r = await rawRequest(s, { ':path': '/foo.Bar/Echo', ':authority': 'example.com' }, encodeMessage(echo.requestSerialize({ text: host })));
      assert.equal(grpcStatus(r).code, 0, host);
      // A request that never ends keeps a call in flight.
      const open = s.request({ ':method': 'POST', ':path': '/foo.Bar/Echo', ':authority': 'example.com', 'content-type': 'application/grpc' });
      open.on('error', () => {});
      open.write(Buffer.from([0, 0, 0, 0, 9]));
    }
    await new Promise((r) => setTimeout(r, 50));
    await ds.close(200);
    for (const s of lingering) s.destroy();
  });
});

describe('HTTP/3 advertisement', () => {
  test('with TLS, HTTP/3 listens at the TCP port number and alt-svc names it on every response; h2c has neither', async () => {
    const body = encodeMessage(echo.requestSerialize({ text: 'alt' }));
    const path = { ':path': '/foo.Bar/Echo', ':authority': 'example.com' };
    assert.equal(dp.udpPort, undefined);
    assert.equal((await rawRequest(await session(), path, body)).headers['alt-svc'], undefined);
    const tdir = await mkdtemp(join(tmpdir(), 'workd-dp-tls-'));
    const tp = await startDataPlane({ config: { ...defaultConfig().dataplane, listen: '127.0.0.1:0' }, routes, log: createLogger('silent'), stateDir: tdir, limits: DEFAULT_LIMITS });
    const s = http2.connect(`https://127.0.0.1:${tp.tcpPort}`, { rejectUnauthorized: false });
    s.on('error', () => {});
    try {
      assert.equal(tp.udpPort, tp.tcpPort);
      assert.equal((await rawRequest(s, path, body)).headers['alt-svc'], `h3=":${tp.udpPort}"`);
      const err = await rawRequest(s, { ...path, ':path': '/foo.Nope/Echo' }, body);
      assert.equal(err.headers['alt-svc'], `h3=":${tp.udpPort}"`, 'trailers-only answers carry it too');
    } finally {
      s.destroy();
      await tp.close(100);
      await rm(tdir, { recursive: true, force: true });
    }
  });
});

describe('listeners added and removed at run time', () => {
  test('a second address serves the same routes; removing it closes only it', async () => {
    const body = encodeMessage(echo.requestSerialize({ text: 'second' }));
    const path = { ':path': '/foo.Bar/Echo', ':authority': 'example.com' };
    const added = await dp.addListener('127.0.0.2:0');
    assert.equal(added.host, '127.0.0.2');
    assert.deepEqual(dp.listeners().map((l) => l.address), ['127.0.0.1:0', '127.0.0.2:0']);
    await assert.rejects(dp.addListener('127.0.0.2:0'), /already listens/);
    const s = http2.connect(`http://127.0.0.2:${added.tcpPort}`);
    s.on('error', () => {});
    assert.equal(grpcStatus(await rawRequest(s, path, body)).code, 0);
    assert.ok(dp.connections().http2 >= 1);
    s.close();
    await dp.removeListener('127.0.0.2:0', 100);
    assert.deepEqual(dp.listeners().map((l) => l.address), ['127.0.0.1:0']);
    await assert.rejects(dp.removeListener('127.0.0.2:0'), /does not listen/);
    await assert.rejects(dp.removeListener('127.0.0.1:0'), /configured listener/);
    const gone = http2.connect(`http://127.0.0.2:${added.tcpPort}`);
    await new Promise<void>((resolve) => gone.once('error', () => resolve()));
    gone.destroy();
    assert.equal(grpcStatus(await rawRequest(await session(), path, body)).code, 0, 'the configured listener still serves');
  });
});

describe('built-in services', () => {
  const opts = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_ROOT] };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const health = (grpc.loadPackageDefinition(protoLoader.loadSync('grpc/health/v1/health.proto', opts)) as any).grpc.health.v1.Health;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const reflV1 = (grpc.loadPackageDefinition(protoLoader.loadSync('grpc/reflection/v1/reflection.proto', opts)) as any).grpc.reflection.v1.ServerReflection;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const reflV1a = (grpc.loadPackageDefinition(protoLoader.loadSync('grpc/reflection/v1alpha/reflection.proto', opts)) as any).grpc.reflection.v1alpha.ServerReflection;

  test('health Check: node, component services by name and domain:name, unknown is NOT_FOUND', async () => {
    const h = new health(`127.0.0.1:${dp.tcpPort}`, grpc.credentials.createInsecure());
    clients.push(h);
    const check = (service: string) => unary<{ status: string }>(h, 'Check', { service });
    assert.equal((await check('')).res!.status, 'SERVING');
    assert.equal((await check('foo.Bar')).res!.status, 'SERVING');
    assert.equal((await check('example.com:foo.Bar')).res!.status, 'SERVING');
    assert.equal((await check('example.com:foo.Sleeping')).res!.status, 'NOT_SERVING');
    assert.equal((await check('grpc.health.v1.Health')).res!.status, 'SERVING');
    assert.equal((await check('nope.Nope')).err!.code, grpc.status.NOT_FOUND);
  });

  test('health List: the node, its own services and every running component by domain:service', async () => {
    const h = new health(`127.0.0.1:${dp.tcpPort}`, grpc.credentials.createInsecure());
    clients.push(h);
    const r = await unary<{ statuses: Record<string, { status: string }> }>(h, 'List', {});
    const statuses = Object.fromEntries(Object.entries(r.res!.statuses).map(([k, v]) => [k, v.status]));
    assert.equal(statuses[''], 'SERVING');
    assert.equal(statuses['grpc.health.v1.Health'], 'SERVING');
    assert.equal(statuses['example.com:foo.Bar'], 'SERVING');
    assert.equal(statuses['other.org:foo.Bar'], 'SERVING');
    assert.equal(statuses['example.com:foo.Sleeping'], undefined, 'only services with running containers are listed');
  });

  test('health Watch follows a service starting and stopping', async () => {
    const h = new health(`127.0.0.1:${dp.tcpPort}`, grpc.credentials.createInsecure());
    clients.push(h);
    const seen: string[] = [];
    const call = h.Watch({ service: 'late.org:foo.Bar' });
    call.on('error', () => {});
    const waitFor = async (n: number) => {
      for (let i = 0; i < 100 && seen.length < n; i++) await new Promise((res) => setTimeout(res, 10));
    };
    call.on('data', (m: { status: string }) => seen.push(m.status));
    await waitFor(1);
    const id = 'late.org:foo.Bar@1.0.0#0';
    routes.add('late.org', 'foo.Bar', { id, version: '1.0.0', runtime: echoRuntime(id), descriptorSet: set });
    await waitFor(2);
    routes.remove('late.org', 'foo.Bar', id);
    await waitFor(3);
    call.cancel();
    assert.deepEqual(seen, ['SERVICE_UNKNOWN', 'SERVING', 'NOT_SERVING']);
  });

  for (const [name, ctor] of [['v1', () => reflV1], ['v1alpha', () => reflV1a]] as const) {
    test(`reflection ${name}: list services, then describe a method from its file and imports`, async () => {
      const r = new (ctor())(`127.0.0.1:${dp.tcpPort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'example.com' });
      clients.push(r);
      const stream = r.ServerReflectionInfo();
      stream.on('error', () => {});
      const responses: any[] = [];
      const next = () => new Promise<any>((resolve) => {
        const have = responses.length;
        const poll = () => (responses.length > have ? resolve(responses[have]) : setTimeout(poll, 5));
        poll();
      });
      stream.on('data', (m: unknown) => responses.push(m));
      stream.write({ host: '', list_services: '' });
      const list = await next();
      assert.deepEqual(list.list_services_response.service.map((s: { name: string }) => s.name), [
        'foo.Bar', 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection',
      ]);
      stream.write({ file_containing_symbol: 'foo.Bar.AddFloats' });
      const files = (await next()).file_descriptor_response.file_descriptor_proto as Buffer[];
      const { fromBinary } = await import('@bufbuild/protobuf');
      const { FileDescriptorProtoSchema } = await import('@bufbuild/protobuf/wkt');
      const names = files.map((f) => fromBinary(FileDescriptorProtoSchema, f).name);
      assert.deepEqual(names, ['google/protobuf/timestamp.proto', 'foo/echo.proto']);
      const main = fromBinary(FileDescriptorProtoSchema, files[1]!);
      assert.equal(main.service[0]!.method[0]!.inputType, '.foo.Point');
      stream.write({ file_by_filename: main.name });
      assert.equal((await next()).file_descriptor_response.file_descriptor_proto.length, 2);
      stream.write({ file_containing_symbol: 'no.Such' });
      assert.equal((await next()).error_response.error_code, grpc.status.NOT_FOUND);
      stream.write({ file_containing_symbol: 'grpc.health.v1.Health' });
      const hf = fromBinary(FileDescriptorProtoSchema, (await next()).file_descriptor_response.file_descriptor_proto[0]);
      assert.equal(hf.package, 'grpc.health.v1');
      assert.equal(hf.name, 'grpc/health/v1/health.proto');
      const ended = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
      stream.end();
      assert.equal((await ended).code, grpc.status.OK);
    });
  }
});

void addFloats;

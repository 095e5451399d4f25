// The component examples (examples/component-*: one shop.proto, a JavaScript
// component built with componentize-js and a core module in WebAssembly text
// wrapped into a component), built by `npm run examples`' own code, imported
// through the CRI, started as containers and called over the data plane: by
// grpc-js and by Python's grpcio (gRPC C core) over HTTP/2 with TLS, and over
// HTTP/3 by `workd call --http3` and by quic-go's own HTTP/3 client
// (test/fixtures/h3grpc; neither gRPC library speaks HTTP/3).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startDaemon, WORKD_BIN, type TestDaemon } from '../helpers/daemon.js';
import { criClient, importImage, runComponent, type CriClient } from '../helpers/cri-client.js';

const run = promisify(execFile);
const ROOT = join(WORKD_BIN, '..', '..');
const PROTO = join(ROOT, 'examples', 'component-common', 'shop.proto');
const PYTHON = '/usr/bin/python3';
const haveGrpcio = spawnSync(PYTHON, ['-c', 'import grpc'], { stdio: 'ignore' }).status === 0;
const EXAMPLES = ['component-js', 'component-wat'];

interface Example { name: string; component: string; domain: string }
let d: TestDaemon;
let cri: CriClient;
// Kept across the daemon restart of the last test.
const stateDir = join(mkdtempSync(join(tmpdir(), 'workd-component-examples-')), 'state');
const examples: Example[] = [];

before(async () => {
  const { compileExample, packageExample } = (await import(pathToFileURL(join(ROOT, 'scripts', 'examples.mjs')).href)) as {
    compileExample(name: string): Promise<{ name: string; component: string }>;
    packageExample(ex: unknown): Promise<{ outDir: string }>;
  };
  d = await startDaemon({ logLevel: 'info', stateDir });
  cri = criClient(d.criSocket);
  for (const name of EXAMPLES) {
    const ex = await compileExample(name);
    const { outDir } = await packageExample(ex);
    const image = await importImage(cri, outDir);
    // Each example has a domain of its own, so both serve shop.v1.Orders on one node.
    await runComponent(cri, ex.component, image);
    examples.push({ name, component: ex.component, domain: ex.component.split(':')[0]! });
  }
});

after(async () => {
  cri?.close();
  await d?.stop();
  rmSync(join(stateDir, '..'), { recursive: true, force: true });
});

const ORDER = {
  customer: 'ada',
  items: [
    { sku: 'tea', quantity: 2, unit_cents: '150' },
    { sku: 'cup', quantity: 1, unit_cents: '100' },
  ],
  coupon: 'TEN',
  labels: { gift: 'yes', floor: '3' },
  currency: 'EUR',
  ship_to: { city: 'Oslo', country: 'NO' },
};

/** What every example must answer for ORDER (int64 as strings, as proto-loader gives them with longs: String). */
const ANSWER = {
  lines: [
    { sku: 'tea', total_cents: '300' },
    { sku: 'cup', total_cents: '100' },
  ],
  total_cents: '360',
  discount_cents: '40',
  currency: 'EUR',
  labels: { gift: 'yes', floor: '3' },
  ship_to: 'Oslo, NO',
  calls: 1,
};

test('grpc-js over HTTP/2 (TLS): nested, repeated, optional, map and enum fields, a trailer, pristine state, an error status', async () => {
  const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true });
  const Orders = (grpc.loadPackageDefinition(def) as any).shop.v1.Orders as typeof grpc.Client;
  const creds = grpc.credentials.createSsl(readFileSync(join(d.stateDir, 'tls', 'cert.pem')));
  for (const ex of examples) {
    const client = new Orders(`127.0.0.1:${d.ready.tcpPort}`, creds, { 'grpc.default_authority': ex.domain, 'grpc.ssl_target_name_override': 'localhost' }) as any;
    try {
      const quote = (req: unknown) =>
        new Promise<{ res?: any; err?: grpc.ServiceError; trailers?: grpc.Metadata }>((resolve) => {
          let done: { res?: any; err?: grpc.ServiceError } | undefined;
          let trailers: grpc.Metadata | undefined;
          const settle = () => done && trailers && resolve({ ...done, trailers });
          const call = client.Quote(req, new grpc.Metadata(), (err: grpc.ServiceError | null, res: any) => {
            done = { res, err: err ?? undefined };
            settle();
          });
          call.on('status', (s: grpc.StatusObject) => {
            trailers = s.metadata;
            settle();
          });
        });
      for (let i = 0; i < 3; i++) {
        const { res, err, trailers } = await quote(ORDER);
        assert.equal(err, undefined, `${ex.name}: ${err?.message}`);
        const { discount_cents, ...rest } = res;
        assert.deepEqual({ ...rest, discount_cents }, ANSWER, ex.name);
        assert.deepEqual(trailers?.get('x-lines'), ['2'], ex.name);
      }
      const none = await quote({ ...ORDER, coupon: undefined, items: [ORDER.items[0]] });
      assert.equal(none.res.discount_cents, undefined, `${ex.name}: no coupon, no discount`);
      assert.equal(none.res.total_cents, '300');
      const bad = await quote({ customer: 'bob' });
      assert.equal(bad.err?.code, grpc.status.INVALID_ARGUMENT, ex.name);
      assert.equal(bad.err?.details, 'an order needs at least one item');
    } finally {
      client.close();
    }
  }
});

const PY = String.raw`
import grpc, sys, json
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
addr, cert, authority, ds_path = sys.argv[1:5]
fds = descriptor_pb2.FileDescriptorSet.FromString(open(ds_path, 'rb').read())
pool = descriptor_pool.DescriptorPool()
for f in fds.file: pool.Add(f)
def cls(n):
    d = pool.FindMessageTypeByName(n)
    return message_factory.GetMessageClass(d) if hasattr(message_factory, 'GetMessageClass') else message_factory.MessageFactory(pool).GetPrototype(d)
Req, Res = cls('shop.v1.QuoteRequest'), cls('shop.v1.QuoteResponse')
ch = grpc.secure_channel(addr, grpc.ssl_channel_credentials(open(cert, 'rb').read()),
    options=[('grpc.default_authority', authority), ('grpc.ssl_target_name_override', 'localhost')])
quote = ch.unary_unary('/shop.v1.Orders/Quote', request_serializer=lambda m: m.SerializeToString(), response_deserializer=Res.FromString)
r = Req(customer='ada', coupon='TEN', currency=1)
for sku, q, c in [('tea', 2, 150), ('cup', 1, 100)]:
    it = r.items.add(); it.sku = sku; it.quantity = q; it.unit_cents = c
r.labels['gift'] = 'yes'; r.labels['floor'] = '3'
r.ship_to.city = 'Oslo'; r.ship_to.country = 'NO'
res, call = quote.with_call(r, timeout=20)
out = {'lines': [[l.sku, l.total_cents] for l in res.lines], 'total': res.total_cents, 'discount': res.discount_cents if res.HasField('discount_cents') else None,
       'currency': res.currency, 'labels': dict(res.labels), 'ship_to': res.ship_to, 'calls': res.calls,
       'trailers': [[k, v] for k, v in call.trailing_metadata() if k.startswith('x-')]}
try:
    quote(Req(customer='bob'), timeout=20)
    out['error'] = None
except grpc.RpcError as e:
    out['error'] = [e.code().name, e.details()]
print(json.dumps(out))
`;

test('grpcio (gRPC C core) over HTTP/2 (TLS) gets the same answers and the error status', { skip: !haveGrpcio && 'python3-grpcio (Debian) is not installed' }, async () => {
  const dsPath = join(d.dir, 'shop.binpb');
  const { compileProtoFilesToBinary } = await import('../../src/images/proto-compile.js');
  (await import('node:fs')).writeFileSync(dsPath, compileProtoFilesToBinary([PROTO]));
  for (const ex of examples) {
    const { stdout } = await run(PYTHON, ['-c', PY, `127.0.0.1:${d.ready.tcpPort}`, join(d.stateDir, 'tls', 'cert.pem'), ex.domain, dsPath], { timeout: 60_000 });
    assert.deepEqual(JSON.parse(stdout), {
      lines: [['tea', 300], ['cup', 100]],
      total: 360,
      discount: 40,
      currency: 1,
      labels: { gift: 'yes', floor: '3' },
      ship_to: 'Oslo, NO',
      calls: 1,
      trailers: [['x-lines', '2']],
      error: ['INVALID_ARGUMENT', 'an order needs at least one item'],
    }, ex.name);
  }
});

test('over HTTP/3 (workd call --http3, QUIC on loopback) the same answers and the error status', async () => {
  for (const ex of examples) {
    const call = (body: unknown) =>
      run(process.execPath, [WORKD_BIN, 'call', '--http3', '--insecure', '--authority', ex.domain, '-d', JSON.stringify(body), `127.0.0.1:${d.ready.udpPort}`, 'shop.v1.Orders/Quote'], { timeout: 60_000 })
        .then((r) => ({ code: 0, out: r.stdout, err: r.stderr }))
        .catch((e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }));
    const ok = await call({ customer: 'ada', items: [{ sku: 'tea', quantity: 2, unitCents: '150' }], labels: { gift: 'yes' }, currency: 'USD', shipTo: { city: 'Oslo', country: 'NO' } });
    assert.equal(ok.code, 0, `${ex.name}: ${ok.err}`);
    assert.deepEqual(JSON.parse(ok.out), { lines: [{ sku: 'tea', totalCents: '300' }], totalCents: '300', currency: 'USD', labels: { gift: 'yes' }, shipTo: 'Oslo, NO', calls: 1 });
    const bad = await call({ customer: 'bob' });
    assert.equal(bad.code, 64 + 3, `${ex.name}: ${bad.err}`);
    assert.match(bad.err, /an order needs at least one item/);
  }
});

test("quic-go's own HTTP/3 client (Debian's, not ours) gets the same answers and the error status", async () => {
  const { buildQuicGoProgram } = await import('../../bench/http3/quic-go.js');
  const client = buildQuicGoProgram(join(ROOT, 'test', 'fixtures', 'h3grpc', 'main.go'), 'h3grpc');
  try {
    const { compileProtoFilesToBinary, parseDescriptorSet } = await import('../../src/images/proto-compile.js');
    const { fromBinary, fromJson, toBinary, toJson } = await import('@bufbuild/protobuf');
    const reg = parseDescriptorSet(compileProtoFilesToBinary([PROTO])).registry;
    const Req = reg.getMessage('shop.v1.QuoteRequest')!;
    const Res = reg.getMessage('shop.v1.QuoteResponse')!;
    const framed = (json: unknown) => {
      const m = toBinary(Req, fromJson(Req, json as never));
      const out = Buffer.alloc(5 + m.length);
      out.writeUInt32BE(m.length, 1);
      out.set(m, 5);
      return out.toString('hex');
    };
    for (const ex of examples) {
      const call = async (json: unknown) => {
        const { stdout } = await run(client.bin, ['-url', `https://127.0.0.1:${d.ready.udpPort}/shop.v1.Orders/Quote`, '-authority', ex.domain, '-ca', join(d.stateDir, 'tls', 'cert.pem'), '-body-hex', framed(json)], { timeout: 60_000 });
        return JSON.parse(stdout) as { proto: string; status: number; headers: Record<string, string[]>; body: string; trailers: Record<string, string[]> };
      };
      const ok = await call({ customer: 'ada', items: [{ sku: 'tea', quantity: 2, unitCents: '150' }, { sku: 'cup', quantity: 1, unitCents: '100' }], coupon: 'TEN', labels: { gift: 'yes', floor: '3' }, currency: 'EUR', shipTo: { city: 'Oslo', country: 'NO' } });
      assert.equal(ok.status, 200, ex.name);
      assert.equal(ok.proto, 'HTTP/3.0', ex.name);
      assert.deepEqual(ok.headers['content-type'], ['application/grpc'], ex.name);
      const body = Buffer.from(ok.body, 'hex');
      assert.equal(body[0], 0, `${ex.name}: an uncompressed message`);
      assert.equal(body.readUInt32BE(1), body.length - 5, `${ex.name}: one whole message`);
      assert.deepEqual(toJson(Res, fromBinary(Res, body.subarray(5))), {
        lines: [{ sku: 'tea', totalCents: '300' }, { sku: 'cup', totalCents: '100' }],
        totalCents: '360', discountCents: '40', currency: 'EUR', labels: { gift: 'yes', floor: '3' }, shipTo: 'Oslo, NO', calls: 1,
      }, ex.name);
      // A trailers-only answer: the status is in the one HEADERS frame quic-go 0.29 reads.
      const bad = await call({ customer: 'bob' });
      assert.equal(bad.status, 200, ex.name);
      assert.equal(bad.body, '', ex.name);
      assert.deepEqual([bad.headers['grpc-status'], bad.headers['grpc-message']], [['3'], ['an order needs at least one item']], ex.name);
    }
  } finally {
    client.cleanup();
  }
});

test('a restarted daemon serves both examples again from the transpile cache in its state dir, without transpiling them', async () => {
  assert.equal(readdirSync(join(stateDir, 'components')).filter((f) => f.endsWith('.transpiled')).length, EXAMPLES.length, 'one cache entry per image');
  const ms = (rs: Array<Record<string, unknown>>) => rs.filter((r) => typeof r.cached === 'boolean').map((r) => `${r.bytes} B: ${Math.round(Number(r.transpileMs) + Number(r.compileMs))} ms`).join(', ');
  const before = ms(d.logRecords());
  cri.close();
  assert.equal((await d.stop('SIGTERM')).code, 0);
  const t0 = performance.now();
  d = await startDaemon({ logLevel: 'info', stateDir });
  cri = criClient(d.criSocket);
  const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true });
  const Orders = (grpc.loadPackageDefinition(def) as any).shop.v1.Orders as typeof grpc.Client;
  const creds = grpc.credentials.createSsl(readFileSync(join(stateDir, 'tls', 'cert.pem')));
  for (const ex of examples) {
    const client = new Orders(`127.0.0.1:${d.ready.tcpPort}`, creds, { 'grpc.default_authority': ex.domain, 'grpc.ssl_target_name_override': 'localhost' }) as any;
    try {
      const res = await new Promise<any>((resolve, reject) => client.Quote(ORDER, (err: grpc.ServiceError | null, r: any) => (err ? reject(err) : resolve(r))));
      assert.deepEqual(res, ANSWER, ex.name);
    } finally {
      client.close();
    }
  }
  const prepared = d.logRecords().filter((r) => typeof r.cached === 'boolean');
  assert.deepEqual(prepared.map((r) => r.cached), EXAMPLES.map(() => true), 'both images prepared from the cache');
  console.log(`prepare at first start (transpile + compile): ${before}; after the restart (cache + compile): ${ms(prepared)}; restart to both answered ${(performance.now() - t0).toFixed(0)} ms`);
});

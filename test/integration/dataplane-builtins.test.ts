// TLS (ALPN h2, self-signed certificate generated on first start), the node's
// health and reflection services as clients that are not ours see them
// (@grpc/grpc-js with proto-loader, nghttp), and `workd call`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { startDaemon, WORKD_BIN, type TestDaemon } from '../helpers/daemon.js';
import { criClient, type CriClient } from '../helpers/cri-client.js';
import { PROTO_ROOT } from '../../src/dataplane/builtin/protos.js';
import { msg, serviceClient, startComponent, text, unary } from './dataplane-fixture.js';

const run = promisify(execFile);
const BAR = 'example.com:foo.Bar@1.2.3';
const QUX = 'other.org:baz.Qux@2.0.0';

let d: TestDaemon;
let cri: CriClient;
let address: string;
let creds: grpc.ChannelCredentials;
let certPath: string;
const clients: grpc.Client[] = [];
const PYTHON = '/usr/bin/python3';
const haveProtobufPy = spawnSync(PYTHON, ['-c', 'import google.protobuf.descriptor_pool']).status === 0;
// Adds hex-encoded FileDescriptorProtos (one per line) to a DescriptorPool, which validates them.
const LOAD_DESCRIPTORS = `
import sys
from google.protobuf import descriptor_pb2, descriptor_pool
pool = descriptor_pool.DescriptorPool()
for line in sys.stdin.read().split():
    fd = descriptor_pb2.FileDescriptorProto.FromString(bytes.fromhex(line))
    try:
        pool.FindFileByName(fd.name)
    except KeyError:
        pool.Add(fd)
m = pool.FindMessageTypeByName('grpc.health.v1.HealthListResponse').fields_by_name['statuses'].message_type
print(m.name, m.GetOptions().map_entry)
`;
const LOADER = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_ROOT] };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function loaded(file: string): any {
  return grpc.loadPackageDefinition(protoLoader.loadSync(file, LOADER));
}

function tlsOptions(authority: string): grpc.ChannelOptions {
  return { 'grpc.default_authority': authority, 'grpc.ssl_target_name_override': 'localhost' };
}

before(async () => {
  d = await startDaemon({ logLevel: 'info' });
  cri = criClient(d.criSocket);
  address = `127.0.0.1:${d.ready.tcpPort}`;
  certPath = join(d.stateDir, 'tls', 'cert.pem');
  creds = grpc.credentials.createSsl(readFileSync(certPath));
  await startComponent(cri, BAR);
  await startComponent(cri, QUX);
});

after(async () => {
  for (const c of clients) c.close();
  cri?.close();
  await d?.stop();
});

describe('TLS', () => {
  test('a self-signed pair is generated under <state-dir>/tls and its path logged', () => {
    assert.equal(d.ready.tlsCert, certPath);
    assert.ok(d.logRecords().some((r) => /^generated a TLS certificate for the data plane; it also signs one for each served domain/.test(String(r.msg)) && r.certPath === certPath));
  });

  test('trusting the generated certificate, grpc-js verifies the component\'s domain under its own name (no localhost override)', async () => {
    const c = serviceClient(address, 'foo.Bar', { credentials: creds, options: { 'grpc.default_authority': 'example.com', 'grpc.ssl_target_name_override': 'example.com' } });
    clients.push(c);
    const r = await unary(c, 'Which', msg(''));
    assert.equal(r.err, null, r.err?.details);
    assert.equal(text(r.res!), BAR);
    assert.ok(d.logRecords().some((l) => /^tls: issued a certificate for a served domain/.test(String(l.msg)) && l.name === 'example.com'));
    // A name the node does not serve gets no certificate of its own: verification fails.
    const other = serviceClient(address, 'foo.Bar', { credentials: creds, options: { 'grpc.default_authority': 'nowhere.example', 'grpc.ssl_target_name_override': 'nowhere.example' } });
    clients.push(other);
    const bad = await unary(other, 'Which', msg(''));
    assert.equal(bad.err?.code, grpc.status.UNAVAILABLE);
  });

  test('grpc-js over TLS, trusting the generated certificate, reaches the component', async () => {
    const c = serviceClient(address, 'foo.Bar', { credentials: creds, options: tlsOptions('example.com') });
    clients.push(c);
    const r = await unary(c, 'Which', msg(''));
    assert.equal(r.err, null);
    assert.equal(text(r.res!), BAR);
  });

  test('nghttp negotiates h2 by ALPN and sees HEADERS, DATA, then trailers with grpc-status', { skip: spawnSync('nghttp', ['--version']).status !== 0 && 'nghttp (nghttp2-client) not installed' }, async () => {
    const body = join(d.dir, 'echo.bin');
    const m = msg('framed');
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, m.length]), m]);
    writeFileSync(body, frame);
    const { stdout } = await run('nghttp', ['-v', '-H', ':authority: example.com', '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-d', body, `https://${address}/foo.Bar/Echo`]);
    assert.match(stdout, /The negotiated protocol: h2/);
    // nghttp prints each header field, then the frame that carried it.
    const status = stdout.search(/recv \(stream_id=13\) :status: 200\n/);
    const ctype = stdout.search(/recv \(stream_id=13\) content-type: application\/grpc\n/);
    const data = stdout.search(/recv DATA frame <length=13, flags=0x00, stream_id=13>/);
    const trailer = stdout.search(/recv \(stream_id=13\) grpc-status: 0\n[^\n]*recv HEADERS frame <length=\d+, flags=0x05, stream_id=13>\n\s*; END_STREAM \| END_HEADERS/);
    assert.ok(status >= 0 && ctype > status, 'response HEADERS with :status 200 and content-type application/grpc');
    assert.ok(data > ctype, 'then one DATA frame with the 13-byte framed message');
    assert.ok(trailer > data, 'then trailers (HEADERS with END_STREAM) carrying grpc-status 0');
  });

  test('nghttp with the wrong content-type gets HTTP 415', { skip: spawnSync('nghttp', ['--version']).status !== 0 && 'nghttp not installed' }, async () => {
    const body = join(d.dir, 'plain.txt');
    writeFileSync(body, 'hello');
    const { stdout } = await run('nghttp', ['-v', '-H', ':authority: example.com', '-H', 'content-type: text/plain', '-d', body, `https://${address}/foo.Bar/Echo`]);
    assert.match(stdout, /:status: 415/);
  });
});

describe('health (grpc.health.v1)', () => {
  test('Check: the node, services by name and by domain:name, SERVING only while running', async () => {
    const Health = loaded('grpc/health/v1/health.proto').grpc.health.v1.Health;
    const h = new Health(address, creds, tlsOptions('example.com'));
    clients.push(h);
    const check = (service: string) =>
      new Promise<{ code: number; status?: string }>((resolve) =>
        h.Check({ service }, (err: grpc.ServiceError | null, res?: { status: string }) => resolve({ code: err?.code ?? 0, status: res?.status })),
      );
    assert.deepEqual(await check(''), { code: 0, status: 'SERVING' });
    assert.deepEqual(await check('foo.Bar'), { code: 0, status: 'SERVING' });
    assert.deepEqual(await check('other.org:baz.Qux'), { code: 0, status: 'SERVING' });
    assert.equal((await check('nope.Nope')).code, grpc.status.NOT_FOUND);
    // Stop Qux: NOT_SERVING by its domain:name; then back.
    // The pod's labels name the component; its container is found by the sandbox ID's prefix.
    const id = (await cri.runtime.ListContainers!({ filter: { pod_sandbox_id: 'other.org:', state: { state: 'CONTAINER_RUNNING' } } })).containers[0].id;
    await cri.runtime.StopContainer!({ container_id: id, timeout: 5 });
    assert.deepEqual(await check('other.org:baz.Qux'), { code: 0, status: 'NOT_SERVING' });
    await startComponent(cri, QUX);
    assert.deepEqual(await check('other.org:baz.Qux'), { code: 0, status: 'SERVING' });
  });
});

describe('reflection', () => {
  for (const version of ['v1', 'v1alpha'] as const) {
    test(`${version}: list_services by authority, then a method's descriptors from the image`, async () => {
      const Refl = loaded(`grpc/reflection/${version}/reflection.proto`).grpc.reflection[version].ServerReflection;
      const r = new Refl(address, creds, tlsOptions('example.com'));
      clients.push(r);
      const stream = r.ServerReflectionInfo();
      stream.on('error', () => {});
      const answers: any[] = [];
      const waiters: Array<() => void> = [];
      stream.on('data', (m: unknown) => {
        answers.push(m);
        waiters.shift()?.();
      });
      const ask = (req: object) =>
        new Promise<any>((resolve) => {
          const n = answers.length;
          waiters.push(() => resolve(answers[n]));
          stream.write(req);
        });
      const list = await ask({ list_services: '' });
      assert.deepEqual(list.list_services_response.service.map((s: { name: string }) => s.name), [
        'foo.Bar', 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection',
      ]);
      const files = (await ask({ file_containing_symbol: 'foo.Bar' })).file_descriptor_response.file_descriptor_proto as Buffer[];
      const fd = fromBinary(FileDescriptorProtoSchema, files[files.length - 1]!);
      assert.equal(fd.package, 'foo');
      assert.deepEqual(fd.service[0]!.method.map((m) => m.name), ['Echo', 'Which', 'Fail', 'Meta', 'Spin', 'Big', 'Missing']);
      assert.equal(fd.service[0]!.method[0]!.inputType, '.foo.Msg');
      // The built-in services' own descriptors, as protobuf's reference implementation
      // (Python's DescriptorPool, the C++/upb rules) accepts them: fully-qualified
      // type names, map entries named as protoc names them.
      const builtin: Buffer[] = [];
      for (const symbol of ['grpc.health.v1.Health', `grpc.reflection.${version}.ServerReflection`]) {
        builtin.push(...((await ask({ file_containing_symbol: symbol })).file_descriptor_response.file_descriptor_proto as Buffer[]));
      }
      for (const b of builtin) {
        const f = fromBinary(FileDescriptorProtoSchema, b);
        const names = (ms: typeof f.messageType): string[] => ms.flatMap((m) => [...m.field.map((x) => x.typeName).filter((t) => t !== ''), ...names(m.nestedType)]);
        for (const t of names(f.messageType)) assert.match(t, /^\./, `${f.name}: type name ${t} is not fully qualified`);
      }
      if (haveProtobufPy) {
        const py = spawnSync(PYTHON, ['-c', LOAD_DESCRIPTORS], { input: builtin.map((b) => b.toString('hex')).join('\n'), encoding: 'utf8' });
        assert.equal(py.status, 0, py.stderr);
        assert.match(py.stdout, /^StatusesEntry True$/m);
      }
      const missing = await ask({ file_containing_symbol: 'baz.Qux' });
      assert.equal(missing.error_response.error_code, grpc.status.NOT_FOUND, 'other domains are not listed at example.com');
      stream.end();
    });
  }
});

describe('workd call', () => {
  test('JSON request to JSON response, descriptors from reflection, TLS verified with --cacert', async () => {
    const { stdout } = await run(process.execPath, [WORKD_BIN, 'call', '--cacert', certPath, '--servername', 'localhost', '--authority', 'example.com', '-d', '{"text":"from the CLI"}', `localhost:${d.ready.tcpPort}`, 'foo.Bar/Echo']);
    assert.deepEqual(JSON.parse(stdout), { text: 'from the CLI' });
  });

  test('a failing call prints the status and exits 64 + code', async () => {
    const r = await run(process.execPath, [WORKD_BIN, 'call', '--insecure', '--authority', 'example.com', address, 'foo.Bar/Fail']).catch((e) => e);
    assert.equal(r.code, 64 + grpc.status.FAILED_PRECONDITION);
    assert.match(r.stderr, /Code: FAILED_PRECONDITION\n {2}Message: nope: ü/);
  });

  test('the built-in health service by name: its reflected descriptors resolve (type names fully qualified)', async () => {
    const check = await run(process.execPath, [WORKD_BIN, 'call', '--insecure', '--authority', 'example.com', '-d', '{"service":"foo.Bar"}', address, 'grpc.health.v1.Health/Check']);
    assert.deepEqual(JSON.parse(check.stdout), { status: 'SERVING' });
    const list = await run(process.execPath, [WORKD_BIN, 'call', '--insecure', address, 'grpc.health.v1.Health/List']);
    const statuses = (JSON.parse(list.stdout) as { statuses: Record<string, { status: string }> }).statuses;
    assert.equal(statuses['']?.status, 'SERVING');
  });

  test('list shows the services at an authority', async () => {
    const { stdout } = await run(process.execPath, [WORKD_BIN, 'call', '--insecure', '--authority', 'other.org', address, 'list']);
    assert.deepEqual(stdout.trim().split('\n'), ['baz.Qux', 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection']);
  });
});

// `workd call` against a TLS data plane (self-signed certificate generated on
// first start) serving the JavaScript `foo.Bar` test service.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../../config.js';
import { Code } from '../../errors.js';
import { createLogger } from '../../observability/log.js';
import { runCall } from '../../cli/call.js';
import { startDataPlane, type DataPlane } from '../server.js';
import { StaticRouteTable } from '../../../test/helpers/static-routes.js';
import { echoDescriptorSet, echoRuntime } from '../../../test/fixtures/echo/echo.js';
import { DEFAULT_LIMITS } from '../../limits.js';

let dp: DataPlane;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'workd-call-'));
  const routes = new StaticRouteTable();
  const set = echoDescriptorSet();
  for (const v of ['1.2.3', '1.4.0']) {
    const id = `example.com:foo.Bar@${v}#0`;
    routes.add('example.com', 'foo.Bar', { id, version: v, runtime: echoRuntime(id, `${v}/`), descriptorSet: set });
  }
  const config = { ...defaultConfig().dataplane, listen: '127.0.0.1:0' };
  dp = await startDataPlane({ config, routes, log: createLogger('silent'), stateDir: dir, limits: DEFAULT_LIMITS });
});

after(async () => {
  await dp.close(100);
  await rm(dir, { recursive: true, force: true });
});

async function call(method: string, flags: Record<string, unknown>) {
  let out = '';
  const code = await runCall(`127.0.0.1:${dp.tcpPort}`, method, { header: [], data: '{}', ...flags }, (s) => (out += s));
  return { code, out };
}

test('the self-signed certificate is generated under <stateDir>/tls and served with ALPN h2', () => {
  assert.equal(dp.tls?.certPath, join(dir, 'tls', 'cert.pem'));
  assert.equal(dp.tls?.selfSigned, true);
});

test('JSON in, JSON out, with descriptors from reflection (TLS, --insecure)', async () => {
  const r = await call('foo.Bar/AddFloats', { insecure: true, authority: 'example.com', data: '{"x":3.5,"y":-1.2}' });
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.out), { value: 2.3 });
});

test('--cacert trusts the node certificate; without it the TLS handshake is refused', async () => {
  const ok = await call('foo.Bar/Echo', { cacert: dp.tls!.certPath, authority: 'localhost', data: '{"text":"hi"}' });
  // authority localhost: no component there, so the call itself is UNIMPLEMENTED, after a verified handshake and reflection.
  assert.equal(ok.code, 64 + Code.UNIMPLEMENTED);
  await assert.rejects(call('list', {}), /cannot connect|self.signed|certificate/i);
});

test('--version pins the component version; -H sends metadata', async () => {
  const r = await call('foo.Bar/Echo', { insecure: true, authority: 'example.com', version: '~1.2', data: '{"text":"v"}', header: ['x-a: b'] });
  assert.equal(r.code, 0);
  assert.equal(JSON.parse(r.out).text, '1.2.3/v');
  const hi = await call('foo.Bar.Echo', { insecure: true, authority: 'example.com', data: '{"text":"v"}' });
  assert.equal(JSON.parse(hi.out).text, '1.4.0/v');
});

test('list shows the services; bad JSON and unknown methods are clear errors', async () => {
  const l = await call('list', { insecure: true, authority: 'example.com' });
  assert.deepEqual(l.out.trim().split('\n'), ['foo.Bar', 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection']);
  await assert.rejects(call('foo.Bar/AddFloats', { insecure: true, authority: 'example.com', data: '{"x":' }), /request data is not JSON/);
  await assert.rejects(call('foo.Bar/AddFloats', { insecure: true, authority: 'example.com', data: '{"z":1}' }), /does not fit foo\.Point/);
  await assert.rejects(call('foo.Bar/Nope', { insecure: true, authority: 'example.com' }), /has no method Nope \(it has: AddFloats, Echo\)/);
  const st = await call('foo.Bar/Echo', { insecure: true, authority: 'example.com', data: '{"text":"status:7"}' });
  assert.equal(st.code, 64 + Code.PERMISSION_DENIED);
});

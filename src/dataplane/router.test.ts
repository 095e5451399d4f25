// Unit tests of version choice and balancing over a RouteTable built from plain
// objects (the pod pool's real table is exercised by the integration tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Code, WorkdError } from '../errors.js';
import { hostOf } from './authority.js';
import { pickContainer, Router } from './router.js';
import { JsRuntime, StaticRouteTable } from '../../test/helpers/static-routes.js';
import type { VersionRoute } from '../pods/routing.js';

const ok = () => ({ status: 0, message: '', response: new Uint8Array(0), trailers: [] });

function table() {
  const t = new StaticRouteTable();
  for (const [version, n] of [['1.2.3', 2], ['1.10.0', 1], ['2.0.0', 1]] as const) {
    for (let i = 0; i < n; i++) {
      const id = `example.com:foo.Bar@${version}#${i}`;
      t.add('example.com', 'foo.Bar', { id, version, runtime: new JsRuntime(id, { AddFloats: ok }), descriptorSet: new Uint8Array(0) });
    }
  }
  t.declare('example.com', 'foo.Stopped');
  return t;
}

function code(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    if (err instanceof WorkdError) return err.code;
    throw err;
  }
  return Code.OK;
}

test('authority host: port stripped, lowercased, IPv6 brackets removed', () => {
  assert.equal(hostOf('Example.COM:8443'), 'example.com');
  assert.equal(hostOf('example.com'), 'example.com');
  assert.equal(hostOf('example.com.'), 'example.com');
  assert.equal(hostOf('[::1]:443'), '::1');
  assert.equal(hostOf('127.0.0.1:80'), '127.0.0.1');
  assert.equal(new Router(table()).domainOf('EXAMPLE.com:1'), 'example.com');
});

test('the highest running version serves without a pin', () => {
  const r = new Router(table());
  assert.equal(r.route('example.com', 'foo.Bar', 'AddFloats', undefined).version, '2.0.0');
});

test('workd-version pins an exact version or the highest in a range', () => {
  const r = new Router(table());
  assert.equal(r.route('example.com', 'foo.Bar', 'AddFloats', '1.2.3').version, '1.2.3');
  assert.equal(r.route('example.com', 'foo.Bar', 'AddFloats', '^1.2').version, '1.10.0');
  assert.equal(r.route('example.com', 'foo.Bar', 'AddFloats', '~1.2.0').version, '1.2.3');
  assert.equal(r.route('example.com', 'foo.Bar', 'AddFloats', '>=1 <2').version, '1.10.0');
  assert.equal(code(() => r.route('example.com', 'foo.Bar', 'AddFloats', '^3')), Code.UNAVAILABLE);
  assert.equal(code(() => r.route('example.com', 'foo.Bar', 'AddFloats', 'not a range!')), Code.INVALID_ARGUMENT);
});

test('unknown domain or service is UNIMPLEMENTED, no running container is UNAVAILABLE, unknown method UNIMPLEMENTED', () => {
  const r = new Router(table());
  assert.equal(code(() => r.route('other.org', 'foo.Bar', 'AddFloats', undefined)), Code.UNIMPLEMENTED);
  assert.equal(code(() => r.route('example.com', 'foo.Baz', 'AddFloats', undefined)), Code.UNIMPLEMENTED);
  assert.equal(code(() => r.route('example.com', 'foo.Stopped', 'AddFloats', undefined)), Code.UNAVAILABLE);
  assert.equal(code(() => r.route('example.com', 'foo.Bar', 'Subtract', undefined)), Code.UNIMPLEMENTED);
});

test('least in-flight wins; ties go round-robin', () => {
  const mk = (id: string, inFlight: number) => {
    const rt = new JsRuntime(id, { M: ok });
    rt.inFlight = inFlight;
    return { id, version: '1.0.0', runtime: rt, descriptorSet: new Uint8Array(0) };
  };
  const vr: VersionRoute = { version: '1.0.0', containers: [mk('a', 0), mk('b', 0), mk('c', 0)], cursor: 0 };
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => pickContainer(vr)!.id), ['a', 'b', 'c', 'a', 'b', 'c']);
  (vr.containers[0]!.runtime as JsRuntime).inFlight = 5;
  (vr.containers[2]!.runtime as JsRuntime).inFlight = 1;
  vr.cursor = 0;
  assert.deepEqual([1, 2].map(() => pickContainer(vr)!.id), ['b', 'b']);
  (vr.containers[1]!.runtime as JsRuntime).inFlight = 9;
  assert.equal(pickContainer(vr)!.id, 'c');
  assert.equal(pickContainer({ version: '1.0.0', containers: [], cursor: 0 }), undefined);
});

test('with many containers all busy, a pick looks at a bounded window and still visits every container in turn', () => {
  const mk = (id: string, inFlight: number) => {
    const rt = new JsRuntime(id, { M: ok });
    rt.inFlight = inFlight;
    return { id, version: '1.0.0', runtime: rt, descriptorSet: new Uint8Array(0) };
  };
  const containers = Array.from({ length: 1000 }, (_, i) => mk(`c${i}`, 3));
  const vr: VersionRoute = { version: '1.0.0', containers, cursor: 0 };
  // The less loaded container near the cursor wins; one far away is not looked for.
  (containers[5]!.runtime as JsRuntime).inFlight = 1;
  (containers[900]!.runtime as JsRuntime).inFlight = 0;
  assert.equal(pickContainer(vr)!.id, 'c5');
  assert.equal(vr.cursor, 6);
  // Equal loads: each container gets its turn.
  (containers[5]!.runtime as JsRuntime).inFlight = 3;
  (containers[900]!.runtime as JsRuntime).inFlight = 3;
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) seen.add(pickContainer(vr)!.id);
  assert.equal(seen.size, 1000);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Code, WorkdError } from '../errors.js';
import type { ContainerRuntime } from '../wasm/api.js';
import { parseComponentName } from './names.js';
import { Mutex, nowNanos, type PodSpec } from './pod.js';
import { PodPool } from './pod-pool.js';
import { PodState } from './pod-state.js';

const foo1 = parseComponentName('example.com:foo.Bar@1.2.3');
const foo2 = parseComponentName('example.com:foo.Bar@2.0.0');
const foo10 = parseComponentName('example.com:foo.Bar@1.10.0');
const other = parseComponentName('other.org:baz.Qux@0.1.0');

let seq = 0;
function spec(name = `pod-${seq++}`): PodSpec {
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'default', attempt: 0 },
    labels: {},
    annotations: {},
    logDirectory: '',
    hostname: '',
    runtimeHandler: '',
    createdAt: nowNanos(),
  };
}

// The component map stores runtimes as opaque values; these tests never call one.
function runtimeValue(id: string): ContainerRuntime {
  const never = () => Promise.reject(new Error('not called in these tests'));
  return { containerId: id, methods: new Set(), inFlight: 0, call: never, stop: never, reopenLog: never };
}

function codeOfThrow(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof WorkdError ? err.code : -1;
  }
  return undefined;
}

test('IDs are <component>#<n> with a per-component counter that is never reused', () => {
  const pool = new PodPool();
  const a = pool.add(foo1, spec());
  const b = pool.add(foo1, spec());
  const c = pool.add(other, spec());
  assert.equal(a.id, 'example.com:foo.Bar@1.2.3#0');
  assert.equal(b.id, 'example.com:foo.Bar@1.2.3#1');
  assert.equal(c.id, 'other.org:baz.Qux@0.1.0#0');
  pool.delete(b);
  assert.equal(pool.add(foo1, spec()).id, 'example.com:foo.Bar@1.2.3#2');
  assert.equal(pool.get(b.id), undefined);
  assert.equal(pool.size, 3);
  assert.equal(a.state, PodState.Ready);
});

test('a pod name (namespace, name, uid, attempt) is reserved until the pod is removed', () => {
  const pool = new PodPool();
  const s = spec('web');
  const a = pool.add(foo1, s);
  assert.equal(codeOfThrow(() => pool.add(foo1, s)), Code.ALREADY_EXISTS);
  assert.equal(pool.add(foo1, { ...s, metadata: { ...s.metadata, attempt: 1 } }).id.endsWith('#1'), true);
  pool.delete(a);
  assert.equal(pool.add(foo1, s).id.endsWith('#2'), true);
});

test('resolve accepts an exact ID or a unique prefix; an ambiguous prefix names the matches', () => {
  const pool = new PodPool();
  for (let i = 0; i < 12; i++) pool.add(foo1, spec());
  const o = pool.add(other, spec());
  assert.equal(pool.resolve('other')?.id, o.id);
  assert.equal(pool.resolve('example.com:foo.Bar@1.2.3#1')?.id, 'example.com:foo.Bar@1.2.3#1', 'exact beats the #10, #11 prefix matches');
  assert.equal(pool.resolve('example.com:foo.Bar@1.2.3#11')?.id, 'example.com:foo.Bar@1.2.3#11');
  assert.equal(pool.resolve('nothing'), undefined);
  assert.equal(pool.resolve(''), undefined);
  try {
    pool.resolve('example.com');
    assert.fail('ambiguous prefix accepted');
  } catch (err) {
    assert.ok(err instanceof WorkdError && err.code === Code.INVALID_ARGUMENT);
    assert.match(err.message, /ambiguous.*example\.com:foo\.Bar@1\.2\.3#0/);
  }
  assert.equal(pool.find('example.com'), undefined, 'find treats ambiguity as no match');
});

test('component map: lookup exists while pods exist, versions highest first, running containers only', () => {
  const pool = new PodPool();
  assert.equal(pool.lookup('example.com', 'foo.Bar'), undefined);
  const a = pool.add(foo1, spec());
  const route = pool.lookup('example.com', 'foo.Bar');
  assert.ok(route);
  assert.equal(route.versions.length, 0, 'a pod that is not running is not routable');
  assert.equal(pool.lookupKey('example.com:foo.Bar'), route);

  const b = pool.add(foo2, spec());
  const c = pool.add(foo10, spec());
  const d = pool.add(foo1, spec());
  for (const p of [a, b, c, d]) pool.publish(p, runtimeValue(p.id), new Uint8Array());
  assert.deepEqual(route.versions.map((v) => v.version), ['2.0.0', '1.10.0', '1.2.3']);
  assert.deepEqual(route.versions[2]!.containers.map((x) => x.id), [a.id, d.id]);
  assert.deepEqual([...pool.runningServices()].map((r) => r.serviceKey), ['example.com:foo.Bar']);

  // A reader holding the old array is not disturbed by a stop.
  const held = route.versions[2]!.containers;
  pool.unpublish(a);
  assert.equal(held.length, 2);
  assert.deepEqual(route.versions[2]!.containers.map((x) => x.id), [d.id]);
  pool.unpublish(b);
  assert.deepEqual(route.versions.map((v) => v.version), ['1.10.0', '1.2.3']);
  pool.unpublish(b); // twice is harmless
  assert.equal(b.route, undefined);

  for (const p of [a, b, c, d]) pool.delete(p);
  assert.equal(pool.lookup('example.com', 'foo.Bar'), undefined, 'the route goes with the last pod');
  assert.deepEqual([...pool.runningServices()], []);
});

test('the round-robin cursor stays in range when containers go', () => {
  const pool = new PodPool();
  const pods = [pool.add(foo1, spec()), pool.add(foo1, spec()), pool.add(foo1, spec())];
  for (const p of pods) pool.publish(p, runtimeValue(p.id), new Uint8Array());
  const v = pool.lookup('example.com', 'foo.Bar')!.versions[0]!;
  v.cursor = 2;
  pool.unpublish(pods[2]!);
  assert.ok(v.cursor < v.containers.length);
});

test('status updates are transactions: a failing or illegal update changes nothing', () => {
  const pool = new PodPool();
  const p = pool.add(foo1, spec());
  const before = p.status;
  assert.throws(() => p.update(() => { throw new Error('boom'); }));
  assert.equal(p.status, before);
  assert.equal(codeOfThrow(() => p.moveTo(PodState.Running)), Code.INTERNAL);
  assert.equal(p.status, before);
  p.moveTo(PodState.NotReady, { reason: 'x' });
  assert.equal(p.state, PodState.NotReady);
  assert.equal(before.state, PodState.Ready, 'snapshots are never mutated');
});

test('a pod lock serialises its own work; different pods do not wait on each other', async () => {
  const pool = new PodPool();
  const a = pool.add(foo1, spec());
  const b = pool.add(foo1, spec());
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const first = a.lock.run(async () => { order.push('a1 start'); await gate; order.push('a1 end'); });
  const second = a.lock.run(async () => { order.push('a2'); });
  await b.lock.run(async () => { order.push('b'); });
  assert.deepEqual(order, ['a1 start', 'b'], 'b ran while a1 was blocked; a2 waited');
  release();
  await Promise.all([first, second]);
  assert.deepEqual(order, ['a1 start', 'b', 'a1 end', 'a2']);
});

test('a failed run does not block the lock', async () => {
  const m = new Mutex();
  await assert.rejects(m.run(async () => { throw new Error('x'); }));
  assert.equal(await m.run(async () => 42), 42);
});

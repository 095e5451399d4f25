import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Code, WorkdError } from '../errors.js';
import { fixedLimit } from '../limits.js';
import { containerFields, runtimeValue, sandboxFields } from '../../test/helpers/pods.js';
import { HEX_ID_RE } from './ids.js';
import { parseComponentName } from './names.js';
import { Mutex } from './pod.js';
import { PodPool } from './pod-pool.js';
import { SandboxState } from './pod-state.js';

const foo1 = parseComponentName('example.com:foo.Bar@1.2.3');
const foo2 = parseComponentName('example.com:foo.Bar@2.0.0');
const foo10 = parseComponentName('example.com:foo.Bar@1.10.0');
const other = parseComponentName('other.org:baz.Qux@0.1.0');

function codeOfThrow(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof WorkdError ? err.code : -1;
  }
  return undefined;
}

test('sandbox IDs are <component>#<n> with a per-component counter that is never reused; keys are 64 hex', () => {
  const pool = new PodPool();
  const a = pool.addSandbox(foo1, sandboxFields());
  const b = pool.addSandbox(foo1, sandboxFields());
  const c = pool.addSandbox(other, sandboxFields());
  assert.equal(a.id, 'example.com:foo.Bar@1.2.3#0');
  assert.equal(b.id, 'example.com:foo.Bar@1.2.3#1');
  assert.equal(c.id, 'other.org:baz.Qux@0.1.0#0');
  assert.match(a.record.key, HEX_ID_RE);
  assert.notEqual(a.record.key, b.record.key);
  assert.equal(pool.sandboxByKeyOf(a.record.key), a);
  assert.equal(pool.resolveSandbox(a.record.key), a, 'the exact key resolves too');
  pool.deleteSandbox(b);
  assert.equal(pool.addSandbox(foo1, sandboxFields()).id, 'example.com:foo.Bar@1.2.3#2');
  assert.equal(pool.sandbox(b.id), undefined);
  assert.equal(pool.size, 3);
  assert.equal(a.state, SandboxState.Ready);
});

test('container IDs are 64 lowercase hex, new for every container, and name their sandbox', () => {
  const pool = new PodPool();
  const s = pool.addSandbox(foo1, sandboxFields());
  const c1 = pool.addContainer(s, containerFields('main', 0));
  const c2 = pool.addContainer(s, containerFields('main', 1));
  assert.match(c1.id, HEX_ID_RE);
  assert.match(c2.id, HEX_ID_RE);
  assert.notEqual(c1.id, c2.id);
  assert.equal(c1.record.sandboxId, s.id);
  assert.deepEqual(s.containers, [c1, c2]);
  pool.deleteContainer(c1);
  assert.deepEqual(s.containers, [c2]);
  assert.equal(pool.container(c1.id), undefined);
  pool.deleteSandbox(s);
  assert.equal(pool.container(c2.id), undefined, 'a sandbox takes its containers with it');
  assert.equal(pool.containerCount, 0);
});

test('a pod name (namespace, name, uid, attempt) is reserved until the sandbox is removed', () => {
  const pool = new PodPool();
  const f = sandboxFields('web');
  const a = pool.addSandbox(foo1, f);
  assert.equal(codeOfThrow(() => pool.addSandbox(foo1, f)), Code.FAILED_PRECONDITION);
  assert.equal(pool.addSandbox(foo1, { ...f, metadata: { ...f.metadata, attempt: 1 } }).id.endsWith('#1'), true);
  pool.deleteSandbox(a);
  assert.equal(pool.addSandbox(foo1, f).id.endsWith('#2'), true);
});

test('restored records keep their IDs, and the counter never goes back', () => {
  const pool = new PodPool();
  const s = pool.addSandbox(foo1, sandboxFields());
  const c = pool.addContainer(s, containerFields());
  const fresh = new PodPool();
  const s2 = fresh.restoreSandbox({ ...s.record, n: 7, id: 'example.com:foo.Bar@1.2.3#7' });
  const c2 = fresh.restoreContainer({ ...c.record, sandboxId: s2.id });
  assert.equal(c2.id, c.id);
  assert.equal(fresh.addSandbox(foo1, sandboxFields()).id, 'example.com:foo.Bar@1.2.3#8');
  fresh.raiseCounter(foo1.name, 3);
  assert.equal(fresh.nextNumber(foo1.name), 9, 'raiseCounter never lowers');
  assert.equal(codeOfThrow(() => fresh.restoreContainer({ ...c.record, id: 'f'.repeat(64), sandboxId: 'nope#0' })), Code.INTERNAL);
});

test('both kinds of ID resolve by exact ID or unique prefix; an ambiguous prefix names the matches', () => {
  const pool = new PodPool();
  for (let i = 0; i < 12; i++) pool.addSandbox(foo1, sandboxFields());
  const o = pool.addSandbox(other, sandboxFields());
  assert.equal(pool.resolveSandbox('other')?.id, o.id);
  assert.equal(pool.resolveSandbox('example.com:foo.Bar@1.2.3#1')?.id, 'example.com:foo.Bar@1.2.3#1', 'exact beats the #10, #11 prefix matches');
  assert.equal(pool.resolveSandbox('example.com:foo.Bar@1.2.3#11')?.id, 'example.com:foo.Bar@1.2.3#11');
  assert.equal(pool.resolveSandbox('nothing'), undefined);
  assert.equal(pool.resolveSandbox(''), undefined);
  try {
    pool.resolveSandbox('example.com');
    assert.fail('ambiguous prefix accepted');
  } catch (err) {
    assert.ok(err instanceof WorkdError && err.code === Code.INVALID_ARGUMENT);
    assert.match(err.message, /ambiguous.*example\.com:foo\.Bar@1\.2\.3#0/);
  }
  assert.equal(pool.findSandbox('example.com'), undefined, 'find treats ambiguity as no match');

  const c = pool.addContainer(o, containerFields());
  assert.equal(pool.resolveContainer(c.id.slice(0, 13)), c, "crictl's 13-character short ID");
  assert.equal(pool.resolveContainer(c.id), c);
  assert.equal(pool.resolveContainer(o.id), undefined, 'a sandbox ID is not a container ID');
  assert.equal(pool.resolveSandbox(c.id.slice(0, 13)), undefined, 'nor the other way round');
});

test('component map: lookup exists while sandboxes exist, versions highest first, running containers only', () => {
  const pool = new PodPool();
  assert.equal(pool.lookup('example.com', 'foo.Bar'), undefined);
  const sa = pool.addSandbox(foo1, sandboxFields());
  const route = pool.lookup('example.com', 'foo.Bar');
  assert.ok(route);
  assert.equal(route.versions.length, 0, 'a sandbox with nothing running is not routable');
  assert.equal(pool.lookupKey('example.com:foo.Bar'), route);

  const sb = pool.addSandbox(foo2, sandboxFields());
  const sc = pool.addSandbox(foo10, sandboxFields());
  const sd = pool.addSandbox(foo1, sandboxFields());
  const [a, b, c, d] = [sa, sb, sc, sd].map((s) => pool.addContainer(s, containerFields()));
  for (const x of [a!, b!, c!, d!]) pool.publish(x, runtimeValue(x.id), new Uint8Array());
  assert.deepEqual(route.versions.map((v) => v.version), ['2.0.0', '1.10.0', '1.2.3']);
  assert.deepEqual(route.versions[2]!.containers.map((x) => x.id), [a!.id, d!.id], 'routes name containers, not sandboxes');
  assert.deepEqual([...pool.runningServices()].map((r) => r.serviceKey), ['example.com:foo.Bar']);

  // A stop changes the version's array in place (O(1): the last container takes the stopped one's place).
  const held = route.versions[2]!.containers;
  pool.unpublish(a!);
  assert.equal(route.versions[2]!.containers, held);
  assert.deepEqual(held.map((x) => x.id), [d!.id]);
  pool.unpublish(b!);
  assert.deepEqual(route.versions.map((v) => v.version), ['1.10.0', '1.2.3']);
  pool.unpublish(b!); // twice is harmless
  assert.equal(b!.route, undefined);

  // A restart in the same sandbox: the exited container stays listed, the new one is routed.
  const d2 = pool.addContainer(sd, containerFields('main', 1));
  pool.unpublish(d!);
  pool.publish(d2, runtimeValue(d2.id), new Uint8Array());
  assert.deepEqual(route.versions.at(-1)!.containers.map((x) => x.id), [d2.id]);

  for (const s of [sa, sb, sc, sd]) pool.deleteSandbox(s);
  assert.equal(pool.lookup('example.com', 'foo.Bar'), route, 'the route outlives its last sandbox (the data plane answers UNAVAILABLE)');
  assert.deepEqual(route.versions, []);
  assert.deepEqual([...pool.runningServices()], []);
});

test('services whose last pod was removed keep an empty route, the latest RETIRED_ROUTES of them; a new pod takes it back', () => {
  const cap = fixedLimit('podsRetiredServices');
  const pool = new PodPool();
  const gone = pool.addSandbox(foo1, sandboxFields());
  pool.deleteSandbox(gone);
  const route = pool.lookup('example.com', 'foo.Bar')!;
  assert.deepEqual(route.versions, []);
  // Back in service: the same route, and no longer retired (the retirements below do not push it out).
  const back = pool.addSandbox(foo2, sandboxFields());
  assert.equal(pool.lookup('example.com', 'foo.Bar'), route);
  const many = Array.from({ length: cap + 1 }, (_, i) => parseComponentName(`svc${i}.example:x.Y@1.0.0`));
  for (const c of many) pool.deleteSandbox(pool.addSandbox(c, sandboxFields()));
  assert.equal(pool.lookup('svc0.example', 'x.Y'), undefined, 'the one retired longest ago is forgotten (UNIMPLEMENTED again)');
  assert.ok(pool.lookup('svc1.example', 'x.Y'));
  assert.ok(pool.lookup(`svc${cap}.example`, 'x.Y'));
  assert.equal(pool.lookup('example.com', 'foo.Bar'), route, 'a service with a pod is never forgotten');
  pool.deleteSandbox(back);
  assert.equal(pool.lookup('example.com', 'foo.Bar'), route);
  assert.equal(pool.lookup('svc1.example', 'x.Y'), undefined, 'its retirement pushed out the next oldest');
});

test('publish and unpublish keep every running container routed once, in O(1) each', () => {
  const pool = new PodPool();
  const cs = Array.from({ length: 50 }, () => pool.addContainer(pool.addSandbox(foo1, sandboxFields()), containerFields()));
  for (const c of cs) pool.publish(c, runtimeValue(c.id), new Uint8Array());
  const v = pool.lookup('example.com', 'foo.Bar')!.versions[0]!;
  const running = new Set(cs.map((c) => c.id));
  // Stop every third one, in an order unlike the publish order, then publish some again.
  for (let i = 49; i >= 0; i -= 3) {
    pool.unpublish(cs[i]!);
    running.delete(cs[i]!.id);
  }
  for (let i = 1; i < 50; i += 6) {
    pool.publish(cs[i]!, runtimeValue(cs[i]!.id), new Uint8Array());
    running.add(cs[i]!.id);
  }
  assert.deepEqual(new Set(v.containers.map((x) => x.id)), running);
  assert.equal(v.containers.length, running.size, 'no container twice');
  for (const c of cs) assert.equal(c.route !== undefined, running.has(c.id));
});

test('the round-robin cursor stays in range when containers go', () => {
  const pool = new PodPool();
  const cs = [0, 1, 2].map(() => pool.addContainer(pool.addSandbox(foo1, sandboxFields()), containerFields()));
  for (const c of cs) pool.publish(c, runtimeValue(c.id), new Uint8Array());
  const v = pool.lookup('example.com', 'foo.Bar')!.versions[0]!;
  v.cursor = 2;
  pool.unpublish(cs[2]!);
  assert.ok(v.cursor < v.containers.length);
});

test('a sandbox lock serialises its own work; different sandboxes do not wait on each other', async () => {
  const pool = new PodPool();
  const a = pool.addSandbox(foo1, sandboxFields());
  const b = pool.addSandbox(foo1, sandboxFields());
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

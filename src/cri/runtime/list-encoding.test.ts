import { test } from 'node:test';
import assert from 'node:assert/strict';
import { criServiceDefinition } from '../server.js';
import { parseComponentName } from '../../pods/names.js';
import { PodPool } from '../../pods/pod-pool.js';
import { nowNanos } from '../../pods/pod.js';
import { PodState } from '../../pods/pod-state.js';
import { toPodSandbox } from '../convert.js';
import { itemEncoder } from './list-encoding.js';

test('concatenated cached entries decode as the list encoded in one go', () => {
  const pool = new PodPool();
  const c = parseComponentName('example.com:foo.Bar@1.2.3');
  const pods = [0, 1, 2].map((i) =>
    pool.add(c, {
      metadata: { name: `p${i}`, uid: `u${i}`, namespace: 'ns', attempt: i },
      labels: { app: `a${i}`, 'workd.dev/domain': 'example.com' },
      annotations: { n: String(i) },
      logDirectory: '',
      hostname: '',
      runtimeHandler: '',
      createdAt: nowNanos(),
    }),
  );
  pods[1]!.moveTo(PodState.NotReady);
  const def = criServiceDefinition('RuntimeService').ListPodSandbox!;
  const enc = itemEncoder('ListPodSandbox', 'items');
  const joined = Buffer.concat(pods.map((p) => enc.entry(p.status, () => toPodSandbox(p))));
  const whole = def.responseSerialize({ items: pods.map(toPodSandbox) });
  assert.deepEqual(def.responseDeserialize(joined), def.responseDeserialize(whole));
  assert.equal((def.responseDeserialize(joined) as { items: Array<{ state: string }> }).items[1]!.state, 'SANDBOX_NOTREADY');
});

test('an entry is rebuilt only when the pod status changes', () => {
  const pool = new PodPool();
  const p = pool.add(parseComponentName('example.com:foo.Bar@1.2.3'), {
    metadata: { name: 'x', uid: 'x', namespace: 'ns', attempt: 0 },
    labels: {},
    annotations: {},
    logDirectory: '',
    hostname: '',
    runtimeHandler: '',
    createdAt: nowNanos(),
  });
  const enc = itemEncoder('ListPodSandbox', 'items');
  let builds = 0;
  const build = () => (builds++, toPodSandbox(p));
  const a = enc.entry(p.status, build);
  assert.equal(enc.entry(p.status, build), a);
  assert.equal(builds, 1);
  p.moveTo(PodState.NotReady);
  assert.notEqual(enc.entry(p.status, build), a);
  assert.equal(builds, 2);
});

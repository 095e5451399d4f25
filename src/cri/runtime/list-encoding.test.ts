import { test } from 'node:test';
import assert from 'node:assert/strict';
import { criServiceDefinition } from '../server.js';
import { sandboxFields } from '../../../test/helpers/pods.js';
import { parseComponentName } from '../../pods/names.js';
import { PodPool } from '../../pods/pod-pool.js';
import { SandboxState } from '../../pods/pod-state.js';
import type { SandboxRecord } from '../../pods/records.js';
import type { PodSandbox } from '../../gen/cri/runtime/v1/PodSandbox.js';
import { toPodSandbox } from '../convert.js';
import { itemEncoder } from './list-encoding.js';

const component = parseComponentName('example.com:foo.Bar@1.2.3');

test('concatenated cached entries decode as the list encoded in one go', () => {
  const pool = new PodPool();
  const records = [0, 1, 2].map((i) => {
    const f = sandboxFields(`p${i}`, i === 1 ? SandboxState.NotReady : SandboxState.Ready);
    return pool.addSandbox(component, { ...f, labels: { app: `a${i}`, 'workd.dev/domain': 'example.com' }, annotations: { n: String(i) } }).record;
  });
  const def = criServiceDefinition('RuntimeService').ListPodSandbox!;
  const enc = itemEncoder<SandboxRecord, PodSandbox>('ListPodSandbox', 'items');
  const joined = Buffer.concat(records.map((r) => enc.entry(r, toPodSandbox)));
  const whole = def.responseSerialize({ items: records.map(toPodSandbox) });
  assert.deepEqual(def.responseDeserialize(joined), def.responseDeserialize(whole));
  assert.equal((def.responseDeserialize(joined) as { items: Array<{ state: string }> }).items[1]!.state, 'SANDBOX_NOTREADY');
});

test('an entry is rebuilt only when the record is replaced', () => {
  const pool = new PodPool();
  const s = pool.addSandbox(component, sandboxFields());
  const enc = itemEncoder<SandboxRecord, PodSandbox>('ListPodSandbox', 'items');
  let builds = 0;
  const build = (r: SandboxRecord) => (builds++, toPodSandbox(r));
  const a = enc.entry(s.record, build);
  assert.equal(enc.entry(s.record, build), a);
  assert.equal(builds, 1);
  s.record = { ...s.record, state: SandboxState.NotReady };
  assert.notEqual(enc.entry(s.record, build), a);
  assert.equal(builds, 2);
});

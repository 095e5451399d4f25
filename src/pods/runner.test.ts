import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Code, WorkdError } from '../errors.js';
import { containerFields, sandboxFields } from '../../test/helpers/pods.js';
import { parseComponentName } from './names.js';
import { PodPool } from './pod-pool.js';
import {
  ALL_CONTAINER_STATES,
  ALL_SANDBOX_STATES,
  CONTAINER_VERBS,
  ContainerState as C,
  SANDBOX_VERBS,
  SandboxState as S,
  containerPlan,
  sandboxPlan,
} from './pod-state.js';
import type { Change } from './records.js';
import { Lifecycle, type ContainerEvent } from './runner.js';

const foo = parseComponentName('example.com:foo.Bar@1.2.3');

function setup() {
  const pool = new PodPool();
  const commits: Change[][] = [];
  const lifecycle = new Lifecycle(pool, async (changes) => {
    commits.push([...changes]);
  });
  const events: ContainerEvent[] = [];
  lifecycle.onContainerEvent((e) => events.push(e));
  return { pool, lifecycle, commits, events };
}

/** A container in `state` (REMOVED: one the pool has already forgotten). */
function containerIn(pool: PodPool, state: C, sandboxState = S.Ready) {
  const sandbox = pool.addSandbox(foo, sandboxFields(undefined, sandboxState));
  const c = pool.addContainer(sandbox, containerFields('main', 0, state === C.Removed ? C.Exited : state));
  if (state === C.Removed) {
    c.record = { ...c.record, state: C.Removed };
    pool.deleteContainer(c);
  }
  return c;
}

// Every container verb from every state, with an action that succeeds and one that fails:
// the runner must follow the table's plan exactly (via during the action, then to / failTo).
for (const verb of CONTAINER_VERBS) {
  for (const from of ALL_CONTAINER_STATES) {
    for (const outcome of ['succeeds', 'fails'] as const) {
      test(`runner: ${verb} from ${from}, action ${outcome}`, async () => {
        const { pool, lifecycle, commits } = setup();
        const c = containerIn(pool, from);
        const p = containerPlan(verb, from, S.Ready);
        let seenDuring: C | undefined;
        const run = lifecycle.locked(c.sandbox, (tx) =>
          lifecycle.containerVerb(tx, verb, c, async () => {
            seenDuring = c.state;
            if (outcome === 'fails') throw new Error('action failed');
            return { reason: 'done' };
          }, () => ({ reason: 'failed' })),
        );
        if (p.kind === 'noop') {
          assert.equal(await run, false);
          assert.equal(seenDuring, undefined, 'no action for a noop');
          assert.equal(c.state, from);
          assert.equal(commits.length, 0, 'nothing to commit');
          return;
        }
        if (p.kind === 'refuse') {
          await assert.rejects(run, (err: unknown) => err instanceof WorkdError && err.code === p.code && err.message.includes(c.id));
          assert.equal(seenDuring, undefined, 'no action when refused');
          assert.equal(c.state, from);
          return;
        }
        if (outcome === 'succeeds') {
          assert.equal(await run, true);
          assert.equal(c.state, p.to);
          if (p.to !== from) assert.equal(c.record.reason, 'done', "the action's fields land with the final state");
        } else {
          await assert.rejects(run, /action failed/);
          assert.equal(c.state, p.failTo ?? from);
          if (p.failTo) assert.equal(c.record.reason, 'failed');
        }
        assert.equal(seenDuring, p.via ?? from, 'the action runs in the intermediate state');
        assert.equal(pool.container(c.id) === undefined, c.state === C.Removed, 'REMOVED means gone from the pool');
        const last = commits.at(-1)?.find((ch) => ch.kind.startsWith('container'));
        if (c.state !== from || p.via) {
          assert.equal(commits.length, 1, 'one commit per verb');
          if (c.state === C.Removed) assert.deepEqual(last, { kind: 'container-removed', id: c.id, sandboxId: c.sandbox.id });
          else assert.deepEqual(last, { kind: 'container', record: c.record }, 'the committed record is the final one');
        }
      });
    }
  }
}

for (const verb of SANDBOX_VERBS) {
  for (const from of ALL_SANDBOX_STATES) {
    test(`runner: ${verb} on a sandbox in ${from}`, async () => {
      const { pool, lifecycle, commits } = setup();
      const sandbox = pool.addSandbox(foo, sandboxFields(undefined, from === S.Removed ? S.NotReady : from));
      if (from === S.Removed) {
        sandbox.record = { ...sandbox.record, state: S.Removed };
        pool.deleteSandbox(sandbox);
      }
      const p = sandboxPlan(verb, from);
      let seen: S | undefined;
      const run = lifecycle.locked(sandbox, (tx) => lifecycle.sandboxVerb(tx, verb, sandbox, async () => void (seen = sandbox.state)));
      if (p.kind === 'refuse') {
        await assert.rejects(run, (err: unknown) => err instanceof WorkdError && err.code === p.code);
        assert.equal(seen, undefined);
        return;
      }
      assert.equal(await run, p.kind === 'go');
      assert.equal(sandbox.state, p.kind === 'go' ? p.to : from);
      if (p.kind === 'go') assert.equal(seen, p.via ?? from);
      assert.equal(pool.sandbox(sandbox.id) === undefined, sandbox.state === S.Removed);
      assert.equal(commits.length, p.kind === 'go' && p.to !== from ? 1 : 0);
    });
  }
}

test('the restart sequence, any number of times: one live container, the exited ones listed', async () => {
  const { pool, lifecycle, commits, events } = setup();
  const sandbox = await lifecycle.runSandbox(foo, sandboxFields());
  assert.deepEqual(commits[0]!.map((ch) => ch.kind), ['sandbox', 'counter']);
  const ids: string[] = [];
  for (let attempt = 0; attempt < 4; attempt++) {
    await lifecycle.locked(sandbox, async (tx) => {
      const c = lifecycle.createContainer(tx, sandbox, containerFields('main', attempt));
      ids.push(c.id);
    });
    const c = pool.container(ids.at(-1)!)!;
    await lifecycle.locked(sandbox, (tx) => lifecycle.containerVerb(tx, 'StartContainer', c, async () => ({ startedAt: '1' })));
    // A second container while this one runs is refused, saying why.
    await assert.rejects(
      lifecycle.locked(sandbox, async (tx) => void lifecycle.createContainer(tx, sandbox, containerFields('sidecar', 0))),
      (err: unknown) => err instanceof WorkdError && err.code === Code.FAILED_PRECONDITION && err.message.includes(c.id) && /one container/.test(err.message),
    );
    await lifecycle.locked(sandbox, (tx) => lifecycle.containerVerb(tx, 'StopContainer', c, async () => ({ exitCode: 0, reason: 'Completed', finishedAt: '2' })));
    // The kubelet removes the older exited container later (GC keeps the last one).
    if (attempt >= 2) {
      const old = pool.container(ids[attempt - 2]!)!;
      await lifecycle.locked(sandbox, (tx) => lifecycle.containerVerb(tx, 'RemoveContainer', old));
    }
  }
  assert.equal(new Set(ids).size, 4, 'a new ID every time');
  assert.deepEqual(sandbox.containers.map((c) => [c.record.metadata.attempt, c.state]), [[2, C.Exited], [3, C.Exited]]);
  assert.equal(sandbox.containers[1]!.record.reason, 'Completed');
  const kinds = events.filter((e) => e.container.id === ids[0]).map((e) => e.type);
  assert.deepEqual(kinds, ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT']);
});

test('the same container name and attempt twice is ALREADY_EXISTS naming the holder (a retried CreateContainer)', async () => {
  const { lifecycle } = setup();
  const sandbox = await lifecycle.runSandbox(foo, sandboxFields());
  const first = await lifecycle.locked(sandbox, async (tx) => lifecycle.createContainer(tx, sandbox, containerFields('main', 0)));
  await assert.rejects(
    lifecycle.locked(sandbox, async (tx) => void lifecycle.createContainer(tx, sandbox, containerFields('main', 0))),
    (err: unknown) => err instanceof WorkdError && err.code === Code.ALREADY_EXISTS && err.message.includes(first.id),
  );
});

test('commit runs once per verb before the verb answers, and events go out after it', async () => {
  const pool = new PodPool();
  const order: string[] = [];
  const lifecycle = new Lifecycle(pool, async (changes) => {
    await new Promise((r) => setTimeout(r, 5));
    order.push(`commit ${changes.map((c) => c.kind).join(',')}`);
  });
  lifecycle.onContainerEvent((e) => order.push(e.type));
  const sandbox = await lifecycle.runSandbox(foo, sandboxFields());
  const c = await lifecycle.locked(sandbox, async (tx) => lifecycle.createContainer(tx, sandbox, containerFields()));
  order.push('answered');
  // A failed start still commits the EXITED state it left.
  await assert.rejects(
    lifecycle.locked(sandbox, (tx) => lifecycle.containerVerb(tx, 'StartContainer', c, async () => { throw new Error('bad module'); }, () => ({ exitCode: 1, reason: 'InvalidModule' }))),
    /bad module/,
  );
  assert.deepEqual(order, [
    'commit sandbox,counter',
    'commit container',
    'CONTAINER_CREATED_EVENT',
    'answered',
    'commit container',
    'CONTAINER_STOPPED_EVENT',
  ]);
  assert.equal(c.state, C.Exited);
  assert.equal(c.record.reason, 'InvalidModule');
});

test('records are plain data: they round-trip through JSON', async () => {
  const { lifecycle, commits } = setup();
  const sandbox = await lifecycle.runSandbox(foo, sandboxFields());
  await lifecycle.locked(sandbox, async (tx) => void lifecycle.createContainer(tx, sandbox, containerFields()));
  for (const changes of commits) assert.deepEqual(JSON.parse(JSON.stringify(changes)), changes);
});

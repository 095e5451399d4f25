import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Code } from '../errors.js';
import { ALL_STATES, ALL_VERBS, PodState as S, canMove, containerStateOf, hasContainer, plan, sandboxStateOf, type Verb } from './pod-state.js';

// The expected outcome of every verb in every state, written out by hand from
// the CRI's rules as containerd applies them. `noop` = succeeds doing nothing;
// a state = acts and lands there; a code name = refused with that code.
type Expect = 'noop' | S | 'NOT_FOUND' | 'ALREADY_EXISTS' | 'FAILED_PRECONDITION' | 'ABORTED';
const TABLE: Record<Verb, Record<S, Expect>> = {
  StopPodSandbox: {
    [S.Ready]: S.NotReady, [S.Created]: S.NotReadyCreated, [S.Starting]: 'ABORTED', [S.Running]: S.NotReadyExited,
    [S.Stopping]: 'ABORTED', [S.Exited]: S.NotReadyExited, [S.NotReady]: 'noop', [S.NotReadyCreated]: 'noop',
    [S.NotReadyExited]: 'noop', [S.Removed]: 'noop',
  },
  RemovePodSandbox: {
    [S.Ready]: S.Removed, [S.Created]: S.Removed, [S.Starting]: 'ABORTED', [S.Running]: S.Removed,
    [S.Stopping]: 'ABORTED', [S.Exited]: S.Removed, [S.NotReady]: S.Removed, [S.NotReadyCreated]: S.Removed,
    [S.NotReadyExited]: S.Removed, [S.Removed]: 'noop',
  },
  CreateContainer: {
    [S.Ready]: S.Created, [S.Created]: 'ALREADY_EXISTS', [S.Starting]: 'ABORTED', [S.Running]: 'ALREADY_EXISTS',
    [S.Stopping]: 'ABORTED', [S.Exited]: 'ALREADY_EXISTS', [S.NotReady]: 'FAILED_PRECONDITION',
    [S.NotReadyCreated]: 'FAILED_PRECONDITION', [S.NotReadyExited]: 'FAILED_PRECONDITION', [S.Removed]: 'NOT_FOUND',
  },
  StartContainer: {
    [S.Ready]: 'NOT_FOUND', [S.Created]: S.Running, [S.Starting]: 'ABORTED', [S.Running]: 'FAILED_PRECONDITION',
    [S.Stopping]: 'ABORTED', [S.Exited]: 'FAILED_PRECONDITION', [S.NotReady]: 'NOT_FOUND',
    [S.NotReadyCreated]: 'FAILED_PRECONDITION', [S.NotReadyExited]: 'FAILED_PRECONDITION', [S.Removed]: 'NOT_FOUND',
  },
  StopContainer: {
    [S.Ready]: 'noop', [S.Created]: 'noop', [S.Starting]: 'ABORTED', [S.Running]: S.Exited, [S.Stopping]: 'ABORTED',
    [S.Exited]: 'noop', [S.NotReady]: 'noop', [S.NotReadyCreated]: 'noop', [S.NotReadyExited]: 'noop', [S.Removed]: 'noop',
  },
  RemoveContainer: {
    [S.Ready]: 'noop', [S.Created]: S.Ready, [S.Starting]: 'ABORTED', [S.Running]: S.Ready, [S.Stopping]: 'ABORTED',
    [S.Exited]: S.Ready, [S.NotReady]: 'noop', [S.NotReadyCreated]: S.NotReady, [S.NotReadyExited]: S.NotReady,
    [S.Removed]: 'noop',
  },
  ReopenContainerLog: {
    [S.Ready]: 'NOT_FOUND', [S.Created]: 'FAILED_PRECONDITION', [S.Starting]: 'ABORTED', [S.Running]: S.Running,
    [S.Stopping]: 'ABORTED', [S.Exited]: 'FAILED_PRECONDITION', [S.NotReady]: 'NOT_FOUND',
    [S.NotReadyCreated]: 'FAILED_PRECONDITION', [S.NotReadyExited]: 'FAILED_PRECONDITION', [S.Removed]: 'NOT_FOUND',
  },
};

for (const verb of ALL_VERBS) {
  for (const state of ALL_STATES) {
    const want = TABLE[verb][state];
    test(`${verb} in ${state} → ${want}`, () => {
      const p = plan(verb, state);
      if (want === 'noop') assert.equal(p.kind, 'noop');
      else if (Object.values(S).includes(want as S)) {
        assert.equal(p.kind, 'go');
        if (p.kind === 'go') {
          assert.equal(p.to, want);
          assert.ok(canMove(p.via ?? state, p.to), 'the landing edge is allowed');
          if (p.via) assert.ok(canMove(state, p.via), 'the transient edge is allowed');
        }
      } else {
        assert.equal(p.kind, 'refuse');
        if (p.kind === 'refuse') {
          assert.equal(p.code, Code[want as keyof typeof Code]);
          assert.ok(p.why.length > 0);
        }
      }
    });
  }
}

test('a running container is drained (stop) by every verb that ends it', () => {
  for (const verb of ['StopPodSandbox', 'RemovePodSandbox', 'StopContainer', 'RemoveContainer'] as const) {
    const p = plan(verb, S.Running);
    assert.ok(p.kind === 'go' && p.stop === true && p.via === S.Stopping, verb);
  }
});

test('StartContainer fails into EXITED', () => {
  const p = plan('StartContainer', S.Created);
  assert.ok(p.kind === 'go' && p.via === S.Starting && p.failTo === S.Exited);
  assert.ok(canMove(S.Starting, S.Exited));
});

test('moves the table does not have are illegal', () => {
  assert.equal(canMove(S.Ready, S.Running), false);
  assert.equal(canMove(S.Removed, S.Ready), false);
  assert.equal(canMove(S.Exited, S.Running), false);
  assert.equal(canMove(S.NotReady, S.Ready), false);
});

test('CRI states reported for each state', () => {
  assert.equal(sandboxStateOf(S.Running), 'SANDBOX_READY');
  assert.equal(sandboxStateOf(S.NotReadyExited), 'SANDBOX_NOTREADY');
  assert.equal(containerStateOf(S.Starting), 'CONTAINER_CREATED');
  assert.equal(containerStateOf(S.Stopping), 'CONTAINER_RUNNING');
  assert.equal(containerStateOf(S.NotReadyExited), 'CONTAINER_EXITED');
  assert.deepEqual(ALL_STATES.filter((s) => !hasContainer(s)), [S.Ready, S.NotReady, S.Removed]);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Code } from '../errors.js';
import {
  ALL_CONTAINER_STATES,
  ALL_SANDBOX_STATES,
  CONTAINER_VERBS,
  ContainerState as C,
  SANDBOX_VERBS,
  SandboxState as S,
  admitContainer,
  canMoveContainer,
  canMoveSandbox,
  containerPlan,
  criContainerState,
  criSandboxState,
  isLive,
  sandboxPlan,
  type ContainerVerb,
  type Plan,
  type SandboxVerb,
} from './pod-state.js';

// The expected outcome of every verb in every state, written out by hand from
// the CRI's rules as containerd applies them. `noop` = succeeds doing nothing;
// a state = acts and lands there; a code name = refused with that code.
type Expect<St> = 'noop' | St | 'NOT_FOUND' | 'FAILED_PRECONDITION' | 'ABORTED';
const SANDBOX: Record<SandboxVerb, Record<S, Expect<S>>> = {
  StopPodSandbox: { [S.Ready]: S.NotReady, [S.NotReady]: 'noop', [S.Removed]: 'noop' },
  RemovePodSandbox: { [S.Ready]: S.Removed, [S.NotReady]: S.Removed, [S.Removed]: 'noop' },
  CreateContainer: { [S.Ready]: S.Ready, [S.NotReady]: 'FAILED_PRECONDITION', [S.Removed]: 'NOT_FOUND' },
  UpdatePodSandboxResources: { [S.Ready]: S.Ready, [S.NotReady]: S.NotReady, [S.Removed]: 'NOT_FOUND' },
};
const CONTAINER: Record<ContainerVerb, Record<C, Expect<C>>> = {
  StartContainer: {
    [C.Created]: C.Running, [C.Starting]: 'ABORTED', [C.Running]: 'FAILED_PRECONDITION', [C.Stopping]: 'ABORTED',
    [C.Exited]: 'FAILED_PRECONDITION', [C.Removed]: 'NOT_FOUND',
  },
  StopContainer: {
    [C.Created]: 'noop', [C.Starting]: 'ABORTED', [C.Running]: C.Exited, [C.Stopping]: 'ABORTED', [C.Exited]: 'noop', [C.Removed]: 'noop',
  },
  RemoveContainer: {
    [C.Created]: C.Removed, [C.Starting]: 'ABORTED', [C.Running]: C.Removed, [C.Stopping]: 'ABORTED', [C.Exited]: C.Removed, [C.Removed]: 'noop',
  },
  ReopenContainerLog: {
    [C.Created]: 'FAILED_PRECONDITION', [C.Starting]: 'ABORTED', [C.Running]: C.Running, [C.Stopping]: 'ABORTED',
    [C.Exited]: 'FAILED_PRECONDITION', [C.Removed]: 'NOT_FOUND',
  },
  UpdateContainerResources: {
    [C.Created]: C.Created, [C.Starting]: 'ABORTED', [C.Running]: C.Running, [C.Stopping]: 'ABORTED',
    [C.Exited]: 'FAILED_PRECONDITION', [C.Removed]: 'NOT_FOUND',
  },
};

function check<St extends string>(p: Plan<St>, want: Expect<St>, states: readonly St[]): void {
  if (want === 'noop') assert.equal(p.kind, 'noop');
  else if ((states as readonly string[]).includes(want)) {
    assert.equal(p.kind, 'go');
    if (p.kind === 'go') assert.equal(p.to, want);
  } else {
    assert.equal(p.kind, 'refuse');
    if (p.kind === 'refuse') {
      assert.equal(p.code, Code[want as keyof typeof Code]);
      assert.ok(p.why.length > 0);
    }
  }
}

for (const verb of SANDBOX_VERBS) {
  for (const state of ALL_SANDBOX_STATES) {
    const want = SANDBOX[verb][state];
    test(`sandbox: ${verb} in ${state} → ${want}`, () => {
      const p = sandboxPlan(verb, state);
      check(p, want, ALL_SANDBOX_STATES);
      if (p.kind === 'go') assert.ok(canMoveSandbox(p.via ?? state, p.to));
    });
  }
}

for (const verb of CONTAINER_VERBS) {
  for (const state of ALL_CONTAINER_STATES) {
    const want = CONTAINER[verb][state];
    test(`container: ${verb} in ${state} → ${want}`, () => {
      const p = containerPlan(verb, state, S.Ready);
      check(p, want, ALL_CONTAINER_STATES);
      if (p.kind === 'go') {
        assert.ok(canMoveContainer(p.via ?? state, p.to), 'the landing edge is allowed');
        if (p.via) assert.ok(canMoveContainer(state, p.via), 'the transient edge is allowed');
        if (p.via) assert.ok(p.failTo, 'a plan through an intermediate state says where a failure lands');
      }
    });
  }
}

test('a running container is drained through STOPPING by every verb that ends it', () => {
  for (const verb of ['StopContainer', 'RemoveContainer'] as const) {
    const p = containerPlan(verb, C.Running, S.Ready);
    assert.ok(p.kind === 'go' && p.via === C.Stopping && p.failTo === C.Exited, verb);
  }
});

test('StartContainer fails into EXITED, and is refused in a sandbox that is not ready', () => {
  const p = containerPlan('StartContainer', C.Created, S.Ready);
  assert.ok(p.kind === 'go' && p.via === C.Starting && p.failTo === C.Exited);
  const q = containerPlan('StartContainer', C.Created, S.NotReady);
  assert.ok(q.kind === 'refuse' && q.code === Code.FAILED_PRECONDITION && /not ready/.test(q.why));
  assert.equal(containerPlan('StopContainer', C.Running, S.NotReady).kind, 'go', 'stopping never needs a ready sandbox');
});

test('the one-container rule: a live container blocks a second, an exited one does not', () => {
  assert.deepEqual(admitContainer(undefined), { kind: 'go', to: C.Created });
  const p = admitContainer({ id: 'abc', name: 'main', state: C.Running });
  assert.ok(p.kind === 'refuse' && p.code === Code.FAILED_PRECONDITION);
  assert.match(p.why, /abc.*has not exited.*one container/);
  assert.equal(isLive(C.Exited), false);
  assert.equal(isLive(C.Created), true);
  assert.equal(isLive(C.Stopping), true);
});

test('moves the tables do not have are illegal', () => {
  assert.equal(canMoveContainer(C.Created, C.Running), false, 'only through STARTING');
  assert.equal(canMoveContainer(C.Exited, C.Running), false);
  assert.equal(canMoveContainer(C.Removed, C.Created), false);
  assert.equal(canMoveSandbox(S.NotReady, S.Ready), false);
  assert.equal(canMoveSandbox(S.Removed, S.Ready), false);
});

test('CRI states reported for each state', () => {
  assert.equal(criSandboxState(S.Ready), 'SANDBOX_READY');
  assert.equal(criSandboxState(S.NotReady), 'SANDBOX_NOTREADY');
  assert.equal(criContainerState(C.Starting), 'CONTAINER_CREATED');
  assert.equal(criContainerState(C.Stopping), 'CONTAINER_RUNNING');
  assert.equal(criContainerState(C.Exited), 'CONTAINER_EXITED');
});

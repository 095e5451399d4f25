// The lifecycle of pod sandboxes and of their containers: two state machines
// and the ONE table of their transitions. Every CRI verb that changes state is
// carried out by the runner (src/pods/runner.ts) from the plan this table
// gives; verbs only supply their side effects.
//
// A sandbox:
//
//   RunPodSandbox ──▶ READY ── StopPodSandbox ──▶ NOTREADY
//                       │                            │
//                       └────── RemovePodSandbox ────┴──▶ REMOVED
//
//   StopPodSandbox first stops every running container of the sandbox (the
//   container table's StopContainer plan); RemovePodSandbox first removes every
//   container (its RemoveContainer plan). CreateContainer needs a READY sandbox.
//
// A container (a sandbox holds any number of them, at most one not EXITED):
//
//   CreateContainer
//        │
//        ▼
//   ┌─────────┐ StartContainer ┌──────────┐   ok   ┌─────────┐ StopContainer ┌──────────┐
//   │ CREATED │───────────────▶│ STARTING │───────▶│ RUNNING │──────────────▶│ STOPPING │
//   └─────────┘                └──────────┘        └─────────┘               └──────────┘
//        │                          │ fails             │ RemoveContainer         │ done
//        │                          ▼                   ▼ (forced, via STOPPING)  ▼
//        │                     ┌────────┐◀──────────────────────────────────────────┘
//        │                     │ EXITED │
//        │                     └────────┘
//        │ RemoveContainer          │ RemoveContainer
//        ▼                          ▼
//   ┌─────────┐◀────────────────────┘
//   │ REMOVED │   (gone from the pool; an unknown ID behaves as REMOVED)
//   └─────────┘
//
// STARTING and STOPPING are transient: verbs on one sandbox and its containers
// are serialised (Sandbox.lock), so another verb never acts on them; List and
// Status calls see them, and report STARTING as CONTAINER_CREATED and STOPPING
// as CONTAINER_RUNNING.
import { Code } from '../errors.js';

export enum SandboxState {
  /** Entered by RunPodSandbox: containers may be created and started. */
  Ready = 'READY',
  /** Entered by StopPodSandbox: its containers have exited; nothing new may start. */
  NotReady = 'NOTREADY',
  /** Entered by RemovePodSandbox: gone from the pool. */
  Removed = 'REMOVED',
}

export enum ContainerState {
  /** Entered by CreateContainer: the container exists and holds its image. */
  Created = 'CREATED',
  /** Entered by StartContainer while the module is compiled and instantiated. */
  Starting = 'STARTING',
  /** Entered by StartContainer on success: published in the component map, serving calls. */
  Running = 'RUNNING',
  /** Entered by StopContainer, StopPodSandbox, RemoveContainer or RemovePodSandbox on a running container: unpublished, draining. */
  Stopping = 'STOPPING',
  /** Entered by StopContainer when draining finished, or by StartContainer when the module failed. Kept until RemoveContainer. */
  Exited = 'EXITED',
  /** Entered by RemoveContainer (or RemovePodSandbox): gone from the pool. */
  Removed = 'REMOVED',
}

export const ALL_SANDBOX_STATES: readonly SandboxState[] = Object.values(SandboxState);
export const ALL_CONTAINER_STATES: readonly ContainerState[] = Object.values(ContainerState);

/** Verbs the sandbox table answers. */
export type SandboxVerb = 'StopPodSandbox' | 'RemovePodSandbox' | 'CreateContainer' | 'UpdatePodSandboxResources';
/** Verbs the container table answers. */
export type ContainerVerb = 'StartContainer' | 'StopContainer' | 'RemoveContainer' | 'ReopenContainerLog' | 'UpdateContainerResources';

export const SANDBOX_VERBS: readonly SandboxVerb[] = ['StopPodSandbox', 'RemovePodSandbox', 'CreateContainer', 'UpdatePodSandboxResources'];
export const CONTAINER_VERBS: readonly ContainerVerb[] = ['StartContainer', 'StopContainer', 'RemoveContainer', 'ReopenContainerLog', 'UpdateContainerResources'];

export type Plan<S> =
  /** Nothing to do; the verb succeeds (an idempotent repeat, or an unknown target). */
  | { readonly kind: 'noop' }
  /** The verb fails with this code; `why` completes "sandbox X ..." / "container X ...". */
  | { readonly kind: 'refuse'; readonly code: Code; readonly why: string }
  /**
   * The verb acts: the runner moves to `via` (when given) before the verb's
   * action, to `to` when it succeeds, and to `failTo` when it fails (without
   * `failTo`, a failed action changes no state).
   */
  | { readonly kind: 'go'; readonly to: S; readonly via?: S; readonly failTo?: S };

export type GoPlan<S> = Extract<Plan<S>, { kind: 'go' }>;

/** The state a record is born in, and by which verb. */
export const SANDBOX_BIRTH = { verb: 'RunPodSandbox', state: SandboxState.Ready } as const;
export const CONTAINER_BIRTH = { verb: 'CreateContainer', state: ContainerState.Created } as const;

const noop = { kind: 'noop' } as const;
const refuse = (code: Code, why: string) => ({ kind: 'refuse', code, why }) as const;
const busy = refuse(Code.ABORTED, 'is busy with another operation');
const S = SandboxState;
const C = ContainerState;

/** Every sandbox verb from every sandbox state. */
export const SANDBOX_TABLE: Readonly<Record<SandboxVerb, Readonly<Record<SandboxState, Plan<SandboxState>>>>> = {
  StopPodSandbox: {
    [S.Ready]: { kind: 'go', to: S.NotReady },
    [S.NotReady]: noop,
    [S.Removed]: noop,
  },
  RemovePodSandbox: {
    [S.Ready]: { kind: 'go', to: S.Removed },
    [S.NotReady]: { kind: 'go', to: S.Removed },
    [S.Removed]: noop,
  },
  // The sandbox stays READY; the action gives birth to a container (CONTAINER_BIRTH).
  CreateContainer: {
    [S.Ready]: { kind: 'go', to: S.Ready },
    [S.NotReady]: refuse(Code.FAILED_PRECONDITION, 'is not ready (stopped by StopPodSandbox); run a new sandbox'),
    [S.Removed]: refuse(Code.NOT_FOUND, 'does not exist'),
  },
  // Component pods have no pod-level cgroup: the kubelet's new pod resources are recorded.
  UpdatePodSandboxResources: {
    [S.Ready]: { kind: 'go', to: S.Ready },
    [S.NotReady]: { kind: 'go', to: S.NotReady },
    [S.Removed]: refuse(Code.NOT_FOUND, 'does not exist'),
  },
};

/** Every container verb from every container state. */
export const CONTAINER_TABLE: Readonly<Record<ContainerVerb, Readonly<Record<ContainerState, Plan<ContainerState>>>>> = {
  StartContainer: {
    [C.Created]: { kind: 'go', via: C.Starting, to: C.Running, failTo: C.Exited },
    [C.Starting]: busy,
    [C.Running]: refuse(Code.FAILED_PRECONDITION, 'is already running'),
    [C.Stopping]: busy,
    [C.Exited]: refuse(Code.FAILED_PRECONDITION, 'has exited and cannot be started again (create a new container)'),
    [C.Removed]: refuse(Code.NOT_FOUND, 'does not exist'),
  },
  // Stopping anything not running succeeds and changes nothing (containerd, critest's idempotence).
  StopContainer: {
    [C.Created]: noop,
    [C.Starting]: busy,
    [C.Running]: { kind: 'go', via: C.Stopping, to: C.Exited, failTo: C.Exited },
    [C.Stopping]: busy,
    [C.Exited]: noop,
    [C.Removed]: noop,
  },
  // The CRI says a running container is removed forcibly: it drains through STOPPING first.
  RemoveContainer: {
    [C.Created]: { kind: 'go', to: C.Removed },
    [C.Starting]: busy,
    [C.Running]: { kind: 'go', via: C.Stopping, to: C.Removed, failTo: C.Exited },
    [C.Stopping]: busy,
    [C.Exited]: { kind: 'go', to: C.Removed },
    [C.Removed]: noop,
  },
  ReopenContainerLog: {
    [C.Created]: refuse(Code.FAILED_PRECONDITION, 'is not running'),
    [C.Starting]: busy,
    [C.Running]: { kind: 'go', to: C.Running },
    [C.Stopping]: busy,
    [C.Exited]: refuse(Code.FAILED_PRECONDITION, 'is not running'),
    [C.Removed]: refuse(Code.NOT_FOUND, 'does not exist'),
  },
  // As containerd: resources of a created or running container may change; an exited one's may not.
  UpdateContainerResources: {
    [C.Created]: { kind: 'go', to: C.Created },
    [C.Starting]: busy,
    [C.Running]: { kind: 'go', to: C.Running },
    [C.Stopping]: busy,
    [C.Exited]: refuse(Code.FAILED_PRECONDITION, 'has exited'),
    [C.Removed]: refuse(Code.NOT_FOUND, 'does not exist'),
  },
};

/** Container verbs that also need the sandbox READY (containerd refuses them in a stopped sandbox). */
export const NEEDS_READY_SANDBOX: ReadonlySet<ContainerVerb> = new Set(['StartContainer']);

export function sandboxPlan(verb: SandboxVerb, s: SandboxState): Plan<SandboxState> {
  return SANDBOX_TABLE[verb][s];
}

export function containerPlan(verb: ContainerVerb, s: ContainerState, sandbox: SandboxState): Plan<ContainerState> {
  const p = CONTAINER_TABLE[verb][s];
  if (p.kind === 'go' && NEEDS_READY_SANDBOX.has(verb) && sandbox !== SandboxState.Ready) {
    return refuse(Code.FAILED_PRECONDITION, 'is in a sandbox that is not ready (stopped by StopPodSandbox)');
  }
  return p;
}

/**
 * The one-container rule: a component pod serves one component, so a sandbox
 * holds at most one container that has not exited. An init container, a
 * sidecar or an ephemeral debug container is refused; a restart (the old
 * container exited) is not.
 */
export function admitContainer(live: { readonly id: string; readonly name: string; readonly state: ContainerState } | undefined): Plan<ContainerState> {
  if (live === undefined) return { kind: 'go', to: CONTAINER_BIRTH.state };
  return refuse(
    Code.FAILED_PRECONDITION,
    `already holds container ${live.id} (${JSON.stringify(live.name)}, ${live.state}) that has not exited: a component pod runs one container at a time, so init containers, sidecars and ephemeral containers are not supported`,
  );
}

/** True while a container counts against the one-container rule. */
export function isLive(s: ContainerState): boolean {
  return s !== ContainerState.Exited && s !== ContainerState.Removed;
}

function edgesOf<V extends string, S extends string>(table: Readonly<Record<V, Readonly<Record<S, Plan<S>>>>>): Set<string> {
  const edges = new Set<string>();
  for (const byState of Object.values(table) as Readonly<Record<S, Plan<S>>>[]) {
    for (const [from, p] of Object.entries(byState) as [S, Plan<S>][]) {
      if (p.kind !== 'go') continue;
      const acting = p.via ?? from;
      if (p.via) edges.add(`${from}>${p.via}`);
      edges.add(`${acting}>${p.to}`);
      if (p.failTo) edges.add(`${acting}>${p.failTo}`);
    }
  }
  return edges;
}

const SANDBOX_EDGES = edgesOf(SANDBOX_TABLE);
const CONTAINER_EDGES = edgesOf(CONTAINER_TABLE);

/** Whether the sandbox table has this move (a state to itself always is one). */
export function canMoveSandbox(from: SandboxState, to: SandboxState): boolean {
  return from === to || SANDBOX_EDGES.has(`${from}>${to}`);
}

export function canMoveContainer(from: ContainerState, to: ContainerState): boolean {
  return from === to || CONTAINER_EDGES.has(`${from}>${to}`);
}

/** The CRI PodSandboxState. */
export function criSandboxState(s: SandboxState): 'SANDBOX_READY' | 'SANDBOX_NOTREADY' {
  return s === SandboxState.Ready ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY';
}

/** The CRI ContainerState. */
export function criContainerState(s: ContainerState): 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN' {
  switch (s) {
    case ContainerState.Created:
    case ContainerState.Starting:
      return 'CONTAINER_CREATED';
    case ContainerState.Running:
    case ContainerState.Stopping:
      return 'CONTAINER_RUNNING';
    case ContainerState.Exited:
      return 'CONTAINER_EXITED';
    default:
      return 'CONTAINER_UNKNOWN';
  }
}

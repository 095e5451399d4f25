// The lifecycle of a component pod and its one container, as one state machine.
//
// Pods and containers are 1:1 and share an ID, so a single state covers both the
// sandbox (READY / NOTREADY) and its container (none / CREATED / RUNNING / EXITED).
// Every CRI verb is checked against this table before it acts: `plan()` says
// whether the verb proceeds (and where it lands), does nothing (the CRI's
// idempotent cases, as containerd applies them), or is refused with a code.
//
//   RunPodSandbox
//        │
//        ▼
//    ┌───────┐ CreateContainer ┌─────────┐ StartContainer ┌──────────┐   ok   ┌─────────┐
//    │ READY │────────────────▶│ CREATED │───────────────▶│ STARTING │───────▶│ RUNNING │
//    └───────┘                 └─────────┘                └──────────┘        └─────────┘
//        ▲                          │                          │ fails             │ StopContainer
//        │ RemoveContainer          │                          ▼                   ▼
//        │                          │                     ┌────────┐   done   ┌──────────┐
//        └──────────────────────────┴─────────────────────│ EXITED │◀─────────│ STOPPING │
//                                                         └────────┘          └──────────┘
//   (RemoveContainer on RUNNING drains through STOPPING, then lands on READY.)
//
//   StopPodSandbox marks the sandbox NOTREADY and keeps what the container was
//   (a RUNNING container is drained through STOPPING first):
//       READY ──▶ NOTREADY    CREATED ──▶ NOTREADY_CREATED    RUNNING, EXITED ──▶ NOTREADY_EXITED
//   RemoveContainer:   NOTREADY_CREATED, NOTREADY_EXITED ──▶ NOTREADY
//   RemovePodSandbox:  any state ──▶ REMOVED (draining and removing the container first)
//
// STARTING and STOPPING are transient: verbs on one pod are serialised (see
// Pod.lock), so another verb never observes them; List and Status calls do, and
// report STARTING as CONTAINER_CREATED and STOPPING as CONTAINER_RUNNING.
import { Code } from '../errors.js';

export enum PodState {
  /** Entered by RunPodSandbox, or by RemoveContainer from CREATED/EXITED: sandbox ready, no container. */
  Ready = 'READY',
  /** Entered by CreateContainer: the container exists and holds its image. */
  Created = 'CREATED',
  /** Entered by StartContainer while the module is compiled and instantiated. */
  Starting = 'STARTING',
  /** Entered by StartContainer on success: published in the component map, serving calls. */
  Running = 'RUNNING',
  /** Entered by StopContainer, StopPodSandbox, RemoveContainer or RemovePodSandbox on a running container: unpublished, draining. */
  Stopping = 'STOPPING',
  /** Entered by StopContainer when draining finished, or by StartContainer when the module failed. */
  Exited = 'EXITED',
  /** Entered by StopPodSandbox from READY, or by RemoveContainer from NOTREADY_*: sandbox stopped, no container. */
  NotReady = 'NOTREADY',
  /** Entered by StopPodSandbox from CREATED: sandbox stopped, container never started. */
  NotReadyCreated = 'NOTREADY_CREATED',
  /** Entered by StopPodSandbox from RUNNING or EXITED: sandbox stopped, container exited. */
  NotReadyExited = 'NOTREADY_EXITED',
  /** Entered by RemovePodSandbox: gone from the pool. Unknown IDs behave as REMOVED. */
  Removed = 'REMOVED',
}

export const ALL_STATES: readonly PodState[] = Object.values(PodState);

/** The CRI verbs that change a pod; reads (status, list) never do. */
export type Verb =
  | 'StopPodSandbox'
  | 'RemovePodSandbox'
  | 'CreateContainer'
  | 'StartContainer'
  | 'StopContainer'
  | 'RemoveContainer'
  | 'ReopenContainerLog';

export const ALL_VERBS: readonly Verb[] = [
  'StopPodSandbox',
  'RemovePodSandbox',
  'CreateContainer',
  'StartContainer',
  'StopContainer',
  'RemoveContainer',
  'ReopenContainerLog',
];

export type Plan =
  /** Nothing to do; the verb succeeds (idempotent repeat or unknown target). */
  | { readonly kind: 'noop' }
  /** The verb fails with this code; `why` completes "pod X ...". */
  | { readonly kind: 'refuse'; readonly code: Code; readonly why: string }
  /**
   * The verb acts. `stop`: a running container must be unpublished and drained
   * first (through STOPPING). `to`: the state on success; `failTo`: on failure.
   */
  | { readonly kind: 'go'; readonly to: PodState; readonly via?: PodState; readonly failTo?: PodState; readonly stop?: boolean };

const noop: Plan = { kind: 'noop' };
const refuse = (code: Code, why: string): Plan => ({ kind: 'refuse', code, why });
const go = (to: PodState, extra: Partial<Extract<Plan, { kind: 'go' }>> = {}): Plan => ({ kind: 'go', to, ...extra });
const busy = refuse(Code.ABORTED, 'is busy with another operation');

/** True for states in which the pod has a container (CRI ContainerStatus answers). */
export function hasContainer(s: PodState): boolean {
  return s !== PodState.Ready && s !== PodState.NotReady && s !== PodState.Removed;
}

/** The CRI PodSandboxState for a state (REMOVED has none). */
export function sandboxStateOf(s: PodState): 'SANDBOX_READY' | 'SANDBOX_NOTREADY' {
  return s === PodState.NotReady || s === PodState.NotReadyCreated || s === PodState.NotReadyExited || s === PodState.Removed
    ? 'SANDBOX_NOTREADY'
    : 'SANDBOX_READY';
}

/** The CRI ContainerState for a state that has a container. */
export function containerStateOf(s: PodState): 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN' {
  switch (s) {
    case PodState.Created:
    case PodState.Starting:
    case PodState.NotReadyCreated:
      return 'CONTAINER_CREATED';
    case PodState.Running:
    case PodState.Stopping:
      return 'CONTAINER_RUNNING';
    case PodState.Exited:
    case PodState.NotReadyExited:
      return 'CONTAINER_EXITED';
    default:
      return 'CONTAINER_UNKNOWN';
  }
}

/** What `verb` does to a pod in state `s`. Total over ALL_VERBS × ALL_STATES. */
export function plan(verb: Verb, s: PodState): Plan {
  if (s === PodState.Starting || s === PodState.Stopping) {
    // Unreachable for verbs under the pod lock; kept total so a bug cannot slip through silently.
    return busy;
  }
  switch (verb) {
    case 'StopPodSandbox':
      switch (s) {
        case PodState.Ready: return go(PodState.NotReady);
        case PodState.Created: return go(PodState.NotReadyCreated);
        case PodState.Running: return go(PodState.NotReadyExited, { via: PodState.Stopping, stop: true });
        case PodState.Exited: return go(PodState.NotReadyExited);
        default: return noop; // already stopped, or unknown
      }
    case 'RemovePodSandbox':
      if (s === PodState.Removed) return noop;
      return go(PodState.Removed, s === PodState.Running ? { via: PodState.Stopping, stop: true } : {});
    case 'CreateContainer':
      switch (s) {
        case PodState.Ready: return go(PodState.Created);
        case PodState.Created:
        case PodState.Running:
        case PodState.Exited:
          return refuse(Code.ALREADY_EXISTS, 'already has its container (component pods hold exactly one)');
        case PodState.Removed: return refuse(Code.NOT_FOUND, 'does not exist');
        default: return refuse(Code.FAILED_PRECONDITION, 'is not ready (stopped by StopPodSandbox)');
      }
    case 'StartContainer':
      switch (s) {
        case PodState.Created: return go(PodState.Running, { via: PodState.Starting, failTo: PodState.Exited });
        case PodState.Running: return refuse(Code.FAILED_PRECONDITION, 'its container is already running');
        case PodState.Exited:
        case PodState.NotReadyExited:
          return refuse(Code.FAILED_PRECONDITION, 'its container has exited and cannot be started again');
        case PodState.NotReadyCreated: return refuse(Code.FAILED_PRECONDITION, 'is not ready (stopped by StopPodSandbox)');
        default: return refuse(Code.NOT_FOUND, 'has no container');
      }
    case 'StopContainer':
      // Stopping anything not running succeeds and changes nothing (containerd).
      return s === PodState.Running ? go(PodState.Exited, { via: PodState.Stopping, stop: true }) : noop;
    case 'RemoveContainer':
      switch (s) {
        case PodState.Created:
        case PodState.Exited:
          return go(PodState.Ready);
        case PodState.Running: return go(PodState.Ready, { via: PodState.Stopping, stop: true }); // the CRI says: forcibly
        case PodState.NotReadyCreated:
        case PodState.NotReadyExited:
          return go(PodState.NotReady);
        default: return noop; // no container, or unknown
      }
    case 'ReopenContainerLog':
      switch (s) {
        case PodState.Running: return go(PodState.Running);
        case PodState.Created:
        case PodState.Exited:
        case PodState.NotReadyCreated:
        case PodState.NotReadyExited:
          return refuse(Code.FAILED_PRECONDITION, 'its container is not running');
        default: return refuse(Code.NOT_FOUND, 'has no container');
      }
  }
}

/** Every edge the table can take, for Pod.update's check. */
const EDGES: ReadonlySet<string> = (() => {
  const edges = new Set<string>();
  for (const v of ALL_VERBS) {
    for (const s of ALL_STATES) {
      const p = plan(v, s);
      if (p.kind !== 'go') continue;
      const from = p.via ?? s;
      if (p.via) edges.add(`${s}>${p.via}`);
      edges.add(`${from}>${p.to}`);
      if (p.failTo) edges.add(`${from}>${p.failTo}`);
    }
  }
  return edges;
})();

export function canMove(from: PodState, to: PodState): boolean {
  return from === to || EDGES.has(`${from}>${to}`);
}

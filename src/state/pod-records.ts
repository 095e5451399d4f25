// The pod pool's records in the state store, and the daemon's recovery from them.
//
//   kind 'pod'        id = sandbox ID (domain:service@version#N)   value = SandboxRecord
//   kind 'container'  id = container ID (64 hex)                   value = ContainerRecord
//   kind 'counter'    id = component (domain:service@version)      value = next N, never lowered
//
// The runner (src/pods/runner.ts) hands each verb's changes to `commit` once, after
// the verb's last transition and before it answers; so the store holds the state the
// CRI last confirmed (docs/state.md, "Daemon restart").
import type { Logger } from '../observability/log.js';
import { ContainerState, SandboxState } from '../pods/pod-state.js';
import { nowNanos, type Container } from '../pods/pod.js';
import type { PodPool } from '../pods/pod-pool.js';
import type { Change, ContainerRecord, SandboxRecord } from '../pods/records.js';
import { Code, WorkdError } from '../errors.js';
import { killPoint } from './kill-points.js';
import type { StateChange, StateStore } from './store.js';

export const POD_KIND = 'pod';
export const CONTAINER_KIND = 'container';
export const COUNTER_KIND = 'counter';

function toStateChange(c: Change): StateChange {
  switch (c.kind) {
    case 'sandbox':
      return { kind: POD_KIND, id: c.record.id, value: c.record };
    case 'sandbox-removed':
      return { kind: POD_KIND, id: c.id };
    case 'container':
      return { kind: CONTAINER_KIND, id: c.record.id, value: c.record };
    case 'container-removed':
      return { kind: CONTAINER_KIND, id: c.id };
    case 'counter':
      return { kind: COUNTER_KIND, id: c.component, value: c.next };
  }
}

/** A kill-point name per change: `sandbox:READY`, `container:RUNNING`, `sandbox-removed`, … */
function changeLabel(c: Change): string {
  return c.kind === 'sandbox' || c.kind === 'container' ? `${c.kind}:${c.record.state}` : c.kind;
}

/**
 * The runner's commit hook. After `freeze()` (a planned shutdown, once the CRI has
 * drained) nothing more is written: the guests the executor discards on its way
 * out stay recorded RUNNING, to be served again by the next daemon.
 */
export class PodCommitter {
  private frozen = false;

  constructor(private readonly store: StateStore) {}

  readonly commit = async (changes: readonly Change[]): Promise<void> => {
    if (this.frozen) throw new WorkdError(Code.UNAVAILABLE, 'the daemon is shutting down; state is no longer written');
    const labels = new Set(changes.map(changeLabel));
    for (const l of labels) killPoint(`pods:before-commit:${l}`);
    await this.store.commit(changes.map(toStateChange));
    for (const l of labels) killPoint(`pods:after-commit:${l}`);
  };

  freeze(): void {
    this.frozen = true;
  }
}

export interface RestoreReport {
  readonly sandboxes: number;
  readonly containers: number;
  /** RUNNING containers whose guests run again. */
  readonly served: number;
  /** RUNNING containers that could not be served again and are now EXITED. */
  readonly failed: number;
  readonly ms: number;
}

/** How a state the CRI never confirmed is read back: the last state it did confirm. */
function confirmedState(s: ContainerState): ContainerState {
  // The runner commits final states only; these cover a record written by a verb that
  // crashed between its intermediate state and its answer, should one ever be.
  if (s === ContainerState.Starting) return ContainerState.Created;
  if (s === ContainerState.Stopping) return ContainerState.Running;
  return s;
}

export interface RestoreDeps {
  readonly pool: PodPool;
  readonly log: Logger;
  /** Starts a restored RUNNING container's guest and publishes it (container-start.ts startGuest). */
  readonly serve: (container: Container) => Promise<void>;
  /**
   * A container's image and start options (container-start.ts startOptionsKey): serve probes the first
   * container of each and skips the probe for the others once it passed.
   */
  readonly startKey: (record: ContainerRecord) => string;
  /** Guests started at once (limits.ts stateRestoreConcurrency). */
  readonly concurrency: number;
}

/**
 * Loads every recorded sandbox, container and counter into the (empty) pool, then
 * starts the guests of the RUNNING containers, `concurrency` at a time. Each image is
 * compiled once, by the first of its containers; the first container of each image and
 * options runs the executor's start probe, and the others skip it once that passed. A container whose guest
 * cannot start again (its image was removed by hand, its module no longer loads) is
 * recorded EXITED with reason RestoreFailed and its cause, so the kubelet sees an exit
 * it can act on instead of a RUNNING container that answers nothing.
 */
export async function restorePods(store: StateStore, d: RestoreDeps): Promise<RestoreReport> {
  const t0 = performance.now();
  for (const [component, next] of store.list<number>(COUNTER_KIND)) d.pool.raiseCounter(component, next);
  let sandboxes = 0;
  for (const record of store.list<SandboxRecord>(POD_KIND).values()) {
    if (record.state === SandboxState.Removed) continue;
    d.pool.restoreSandbox(record);
    sandboxes++;
  }
  const orphans: StateChange[] = [];
  const running: Container[] = [];
  let containers = 0;
  for (const stored of store.list<ContainerRecord>(CONTAINER_KIND).values()) {
    if (!d.pool.sandbox(stored.sandboxId)) {
      // Only a hand-edited store can hold one: RemovePodSandbox removes containers in the same commit.
      d.log.warn({ container: stored.id, sandbox: stored.sandboxId }, 'restore: container of an unknown pod sandbox dropped');
      orphans.push({ kind: CONTAINER_KIND, id: stored.id });
      continue;
    }
    const state = confirmedState(stored.state);
    const record = state === stored.state ? stored : { ...stored, state };
    const container = d.pool.restoreContainer(record);
    containers++;
    if (state === ContainerState.Running) running.push(container);
  }
  if (orphans.length > 0) await store.commit(orphans);

  // One full start (with the executor's probe instantiation) per distinct image and options: it proves that
  // this workd still links and initialises the module; the others of the group then skip the probe.
  const groups = new Map<string, Container[]>();
  for (const c of running) {
    const key = d.startKey(c.record);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(c);
  }
  let served = 0;
  const exited: StateChange[] = [];
  const serveAll = async (list: readonly Container[]) => {
    let next = 0;
    const lane = async () => {
      while (next < list.length) {
        const container = list[next++]!;
        try {
          await d.serve(container);
          served++;
        } catch (err) {
          const cause = (err as { cause?: unknown }).cause ?? err;
          const message = `workd restarted and could not serve the container again: ${cause instanceof Error ? cause.message : String(cause)}`;
          d.log.error({ container: container.id, err: cause }, 'restore: a RUNNING container could not be served again; it is now EXITED');
          container.record = { ...container.record, state: ContainerState.Exited, finishedAt: nowNanos(), exitCode: 1, reason: 'RestoreFailed', message };
          exited.push({ kind: CONTAINER_KIND, id: container.id, value: container.record });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(d.concurrency, list.length) }, lane));
  };
  // The first of each group alone, then the rest (which skip the probe once their first passed it; a group whose
  // first failed gets the full start for each of its containers, so each fails, or not, on its own).
  await serveAll([...groups.values()].map((g) => g[0]!));
  await serveAll([...groups.values()].flatMap((g) => g.slice(1)));
  if (exited.length > 0) await store.commit(exited);
  return { sandboxes, containers, served, failed: exited.length, ms: performance.now() - t0 };
}


// The one runner of the state table (src/pods/pod-state.ts). A verb names its
// plan's row and passes only its side effects; the runner moves the record to
// the plan's intermediate state, runs the action, lands on the final state (or
// the failure state), records what changed, and hands the changes to the
// commit hook once, before the verb answers. It is the only code that changes
// a record's state.
import { Code, WorkdError, internal } from '../errors.js';
import type { ComponentName } from './names.js';
import type { Container, Sandbox } from './pod.js';
import type { NewContainer, NewSandbox, PodPool } from './pod-pool.js';
import {
  CONTAINER_BIRTH,
  ContainerState,
  SandboxState,
  admitContainer,
  canMoveContainer,
  canMoveSandbox,
  containerPlan,
  sandboxPlan,
  type ContainerVerb,
  type GoPlan,
  type SandboxVerb,
} from './pod-state.js';
import { nowNanos } from './pod.js';
import type { Change, Commit, ContainerRecord, SandboxRecord, UnixNanos } from './records.js';

/** What a container event tells the evented PLEG (runtime.v1 ContainerEventType). */
export type ContainerEventType = 'CONTAINER_CREATED_EVENT' | 'CONTAINER_STARTED_EVENT' | 'CONTAINER_STOPPED_EVENT' | 'CONTAINER_DELETED_EVENT';

export interface ContainerEvent {
  readonly type: ContainerEventType;
  /** When it happened (nanoseconds since the epoch). */
  readonly at: UnixNanos;
  readonly container: ContainerRecord;
  /** The sandbox as it was when the event happened. */
  readonly sandbox: SandboxRecord;
  /** The sandbox's containers at that moment (the event's containers_statuses). */
  readonly containers: readonly ContainerRecord[];
}

/** Record fields an action may change besides the state (the runner owns state and IDs). */
export type SandboxPatch = Partial<Omit<SandboxRecord, 'state' | 'id' | 'key' | 'n' | 'component'>>;
export type ContainerPatch = Partial<Omit<ContainerRecord, 'state' | 'id' | 'sandboxId'>>;

/** A container action: its side effects, returning the fields to set on success. */
export type ContainerAction = (plan: GoPlan<ContainerState>) => Promise<ContainerPatch | void>;
/** The fields to set when a container action failed (exit code, reason, message). */
export type ContainerFailure = (err: unknown) => ContainerPatch;
export type SandboxAction = (tx: Transaction, plan: GoPlan<SandboxState>) => Promise<SandboxPatch | void>;

/** One verb's changes, collected as the runner makes them. */
export class Transaction {
  private readonly changes = new Map<string, Change>();
  readonly events: ContainerEvent[] = [];

  note(change: Change): void {
    const key =
      change.kind === 'counter' ? `n:${change.component}` : change.kind.startsWith('sandbox') ? `s:${'record' in change ? change.record.id : change.id}` : `c:${'record' in change ? change.record.id : change.id}`;
    // A record removed in the same verb that wrote it ends as the removal; Map order keeps the first write's position.
    this.changes.delete(key);
    this.changes.set(key, change);
  }

  list(): Change[] {
    return [...this.changes.values()];
  }
}

const STOPPED_FROM: ReadonlySet<ContainerState> = new Set([ContainerState.Starting, ContainerState.Running, ContainerState.Stopping]);

export class Lifecycle {
  private readonly listeners = new Set<(e: ContainerEvent) => void>();

  constructor(
    private readonly pool: PodPool,
    private readonly commit: Commit = async () => {},
  ) {}

  /** Subscribes to container events (after their commit); returns the unsubscribe function. */
  onContainerEvent(fn: (e: ContainerEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Runs `fn` with a new transaction and commits it; events go out after the commit. */
  private async transact<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const tx = new Transaction();
    let result: T;
    let failure: unknown;
    let failed = false;
    try {
      result = await fn(tx);
    } catch (err) {
      failed = true;
      failure = err;
    }
    // A failed verb may still have changed state (a container that failed to start is EXITED): commit that too.
    const changes = tx.list();
    if (changes.length > 0) await this.commit(changes);
    for (const e of tx.events) for (const l of this.listeners) l(e);
    if (failed) throw failure;
    return result!;
  }

  /** Runs `fn` under the sandbox's lock in one transaction. */
  locked<T>(sandbox: Sandbox, fn: (tx: Transaction) => Promise<T>): Promise<T> {
    return sandbox.lock.run(() => this.transact(fn));
  }

  /** RunPodSandbox: a new sandbox, born READY (with `key` when its network was set up under it). */
  runSandbox(component: ComponentName, fields: Omit<NewSandbox, 'state'>, key?: string): Promise<Sandbox> {
    return this.transact(async (tx) => {
      const sandbox = this.pool.addSandbox(component, { ...fields, state: SandboxState.Ready }, key);
      tx.note({ kind: 'sandbox', record: sandbox.record });
      tx.note({ kind: 'counter', component: component.name, next: this.pool.nextNumber(component.name) });
      return sandbox;
    });
  }

  /**
   * Carries out `verb` on a sandbox (the caller holds its lock, see `locked`).
   * Returns false when the plan was to do nothing.
   */
  async sandboxVerb(tx: Transaction, verb: SandboxVerb, sandbox: Sandbox, act?: SandboxAction): Promise<boolean> {
    const p = sandboxPlan(verb, sandbox.state);
    if (p.kind === 'noop') return false;
    if (p.kind === 'refuse') throw new WorkdError(p.code, `${verb}: pod sandbox ${sandbox.id} ${p.why}`);
    if (p.via) this.setSandbox(tx, sandbox, p.via);
    let patch: SandboxPatch | void;
    try {
      patch = await act?.(tx, p);
    } catch (err) {
      if (p.failTo) this.setSandbox(tx, sandbox, p.failTo);
      throw err;
    }
    this.setSandbox(tx, sandbox, p.to, patch ?? {});
    return true;
  }

  /**
   * CreateContainer's birth of a container in a sandbox (the caller holds its
   * lock and runs this inside the sandbox's CreateContainer plan): the name
   * reservation and the one-container rule are checked before anything changes.
   */
  createContainer(tx: Transaction, sandbox: Sandbox, fields: Omit<NewContainer, 'state'>): Container {
    const m = fields.metadata;
    const same = sandbox.containers.find((c) => c.record.metadata.name === m.name && c.record.metadata.attempt === m.attempt);
    if (same) {
      // As containerd reserves container names: the kubelet's retry of a timed-out CreateContainer learns the holder.
      throw new WorkdError(Code.ALREADY_EXISTS, `CreateContainer: container name ${JSON.stringify(m.name)} attempt ${m.attempt} is already used by container ${same.id} in pod sandbox ${sandbox.id}`);
    }
    const live = sandbox.live();
    const p = admitContainer(live && { id: live.id, name: live.record.metadata.name, state: live.state });
    if (p.kind === 'refuse') throw new WorkdError(p.code, `CreateContainer: pod sandbox ${sandbox.id} ${p.why}`);
    if (p.kind !== 'go' || p.to !== CONTAINER_BIRTH.state) throw internal('CreateContainer: the birth plan must land on CREATED');
    const container = this.pool.addContainer(sandbox, { ...fields, state: p.to });
    tx.note({ kind: 'container', record: container.record });
    this.event(tx, 'CONTAINER_CREATED_EVENT', container);
    return container;
  }

  /**
   * Carries out `verb` on a container (the caller holds its sandbox's lock).
   * Returns false when the plan was to do nothing.
   */
  async containerVerb(tx: Transaction, verb: ContainerVerb, container: Container, act?: ContainerAction, onFail?: ContainerFailure): Promise<boolean> {
    const p = containerPlan(verb, container.state, container.sandbox.state);
    if (p.kind === 'noop') return false;
    if (p.kind === 'refuse') throw new WorkdError(p.code, `${verb}: container ${container.id} ${p.why}`);
    if (p.via) this.setContainer(tx, container, p.via);
    let patch: ContainerPatch | void;
    try {
      patch = await act?.(p);
    } catch (err) {
      if (p.failTo) this.setContainer(tx, container, p.failTo, onFail?.(err) ?? {});
      else if (p.via) throw internal(`${verb}: the plan from ${container.state} has an intermediate state but no failure state`, err);
      throw err;
    }
    this.setContainer(tx, container, p.to, patch ?? {});
    return true;
  }

  private setSandbox(tx: Transaction, sandbox: Sandbox, to: SandboxState, patch: SandboxPatch = {}): void {
    if (!canMoveSandbox(sandbox.state, to)) throw internal(`pod sandbox ${sandbox.id}: illegal state change ${sandbox.state} -> ${to}`);
    if (to === sandbox.state && Object.keys(patch).length === 0) return;
    sandbox.record = { ...sandbox.record, ...patch, state: to };
    if (to === SandboxState.Removed) {
      this.pool.deleteSandbox(sandbox);
      tx.note({ kind: 'sandbox-removed', id: sandbox.id });
    } else {
      tx.note({ kind: 'sandbox', record: sandbox.record });
    }
  }

  private setContainer(tx: Transaction, container: Container, to: ContainerState, patch: ContainerPatch = {}): void {
    const from = container.state;
    if (!canMoveContainer(from, to)) throw internal(`container ${container.id}: illegal state change ${from} -> ${to}`);
    if (to === from && Object.keys(patch).length === 0) return;
    container.record = { ...container.record, ...patch, state: to };
    if (to === ContainerState.Removed) {
      if (STOPPED_FROM.has(from)) this.event(tx, 'CONTAINER_STOPPED_EVENT', container);
      this.pool.deleteContainer(container);
      // As containerd: the statuses that go with a deletion are the sandbox's remaining containers'.
      this.event(tx, 'CONTAINER_DELETED_EVENT', container);
      tx.note({ kind: 'container-removed', id: container.id, sandboxId: container.sandbox.id });
      return;
    }
    tx.note({ kind: 'container', record: container.record });
    if (to === ContainerState.Running && from !== to) this.event(tx, 'CONTAINER_STARTED_EVENT', container);
    if (to === ContainerState.Exited && STOPPED_FROM.has(from)) this.event(tx, 'CONTAINER_STOPPED_EVENT', container);
  }

  private event(tx: Transaction, type: ContainerEventType, container: Container): void {
    if (this.listeners.size === 0) return;
    tx.events.push({ type, at: nowNanos(), container: container.record, sandbox: container.sandbox.record, containers: container.sandbox.containers.map((c) => c.record) });
  }
}

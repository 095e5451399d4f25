// What the RuntimeService verbs share, and the helpers that run a verb on a
// sandbox or a container: resolve the ID (or unique prefix), take the
// sandbox's lock, and let the runner (src/pods/runner.ts) carry out the state
// table's plan with the verb's side effects.
import { Code, WorkdError, invalidArgument } from '../../errors.js';
import type { Config } from '../../config.js';
import type { ImageStore } from '../../images/api.js';
import type { Logger } from '../../observability/log.js';
import type { Container, Sandbox } from '../../pods/pod.js';
import type { PodPool } from '../../pods/pod-pool.js';
import { ContainerState, SandboxState, containerPlan, sandboxPlan, type ContainerVerb, type SandboxVerb } from '../../pods/pod-state.js';
import type { Lifecycle, Transaction } from '../../pods/runner.js';
import type { CallStats } from '../../dataplane/call-stats.js';
import type { Executor, PreparedModule } from '../../wasm/api.js';
import type { RuntimeStreaming } from './streaming.js';
import type { PodNetworking } from '../../network/pod-network.js';

export interface RuntimeDeps {
  readonly pool: PodPool;
  /** The one runner of the state table; it also commits each verb's changes. */
  readonly lifecycle: Lifecycle;
  readonly store: ImageStore;
  readonly executor: Executor;
  readonly config: Config;
  readonly log: Logger;
  /** workd's own version (package.json). */
  readonly version: string;
  /** The node's address, reported as the IP of pods without a network of their own (CNI off, hostNetwork). */
  readonly nodeAddress: string;
  /** Pod networks through CNI (src/network); when off, every pod shares the node's address. */
  readonly network: PodNetworking;
  /** Settings the kubelet pushed with UpdateRuntimeConfig. */
  readonly runtimeConfig: { podCidr: string };
  /**
   * Compiled module + descriptor set per image ID, so the second container of
   * an image starts without reading its blobs again. Image IDs are content
   * digests, so an entry never goes stale; it is dropped when the image is
   * removed (the daemon wires the store's onRemove to it).
   */
  readonly prepared: Map<string, Promise<PreparedImage>>;
  /** The data plane's call counters (per container among them), once the data plane runs. */
  readonly callStats: () => CallStats | undefined;
  /** The streaming server behind Exec, Attach and PortForward (absent: those answer UNAVAILABLE). */
  streaming?: RuntimeStreaming;
  /** Tells the data plane a pod's running container changed, so the pod's own port opens or refuses (DataPlane.podChanged). */
  podChanged?: (podId: string) => Promise<void>;
}

export interface PreparedImage {
  readonly module: PreparedModule;
  readonly descriptorSet: Uint8Array;
  /** Start options (startOptionsKey) a container of this image already started with in this daemon, probe passed. */
  readonly proven: Set<string>;
}

/** Checks that a request carries an ID, naming the field when it does not. */
export function requireId(id: string, field: string): string {
  if (id === '') throw invalidArgument(`${field} is missing`);
  return id;
}

/**
 * Runs `fn` on the sandbox `id` names, under its lock, in one transaction.
 * An unknown ID is a removed sandbox: the verb's plan from REMOVED decides
 * whether that succeeds doing nothing (undefined) or answers NOT_FOUND.
 */
export async function onSandbox<T>(d: RuntimeDeps, verb: SandboxVerb, id: string, fn: (tx: Transaction, sandbox: Sandbox) => Promise<T>): Promise<T | undefined> {
  const sandbox = d.pool.resolveSandbox(id);
  if (!sandbox) {
    const p = sandboxPlan(verb, SandboxState.Removed);
    if (p.kind === 'noop') return undefined;
    throw new WorkdError(p.kind === 'refuse' ? p.code : Code.NOT_FOUND, `${verb}: pod sandbox ${JSON.stringify(id)} not found`);
  }
  return d.lifecycle.locked(sandbox, (tx) => fn(tx, sandbox));
}

/** As onSandbox, for the container `id` names (the lock is its sandbox's). */
export async function onContainer<T>(d: RuntimeDeps, verb: ContainerVerb, id: string, fn: (tx: Transaction, container: Container) => Promise<T>): Promise<T | undefined> {
  const container = d.pool.resolveContainer(id);
  if (!container) {
    const p = containerPlan(verb, ContainerState.Removed, SandboxState.Removed);
    if (p.kind === 'noop') return undefined;
    throw new WorkdError(p.kind === 'refuse' ? p.code : Code.NOT_FOUND, `${verb}: container ${JSON.stringify(id)} not found`);
  }
  // Removed while this call waited for the lock: its record says REMOVED, and the plan from there answers.
  return d.lifecycle.locked(container.sandbox, (tx) => fn(tx, container));
}

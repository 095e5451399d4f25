// What the RuntimeService verbs share, and the one helper that runs a verb on
// a pod: resolve the ID (or unique prefix), take the pod's lock, consult the
// state table (src/pods/pod-state.ts), then act.
import { Code, WorkdError, invalidArgument } from '../../errors.js';
import type { Config } from '../../config.js';
import type { ImageStore } from '../../images/api.js';
import type { Logger } from '../../observability/log.js';
import type { Pod } from '../../pods/pod.js';
import type { PodPool } from '../../pods/pod-pool.js';
import { PodState, plan, type Plan, type Verb } from '../../pods/pod-state.js';
import type { Executor, PreparedModule } from '../../wasm/api.js';

export interface RuntimeDeps {
  readonly pool: PodPool;
  readonly store: ImageStore;
  readonly executor: Executor;
  readonly config: Config;
  readonly log: Logger;
  /** workd's own version (package.json). */
  readonly version: string;
  /** The node's address, reported as every pod's IP (workloads share the node's data plane). */
  readonly nodeAddress: string;
  /** Settings the kubelet pushed with UpdateRuntimeConfig. */
  readonly runtimeConfig: { podCidr: string };
  /**
   * Compiled module + descriptor set per image ID, so the second container of
   * an image starts without reading its blobs again. Image IDs are content
   * digests, so an entry never goes stale; it is dropped when the image is
   * removed (the daemon wires the store's onRemove to it).
   */
  readonly prepared: Map<string, Promise<PreparedImage>>;
}

export interface PreparedImage {
  readonly module: PreparedModule;
  readonly descriptorSet: Uint8Array;
}

export type GoPlan = Extract<Plan, { kind: 'go' }>;

/** Checks that a request carries an ID, naming the field when it does not. */
export function requireId(id: string, field: string): string {
  if (id === '') throw invalidArgument(`${field} is missing`);
  return id;
}

/**
 * Runs `verb` on the pod `id` names. Unknown IDs are treated as removed pods,
 * so idempotent verbs succeed and the others answer NOT_FOUND. The state is
 * checked again under the lock, because a verb queued behind another sees the
 * state that one left. Returns the pod (undefined when nothing was done to an unknown ID).
 */
export async function onPod(
  d: RuntimeDeps,
  verb: Verb,
  what: 'pod sandbox' | 'container',
  id: string,
  act: (pod: Pod, p: GoPlan) => Promise<void>,
): Promise<Pod | undefined> {
  const pod = d.pool.resolve(id);
  if (!pod) {
    const p = plan(verb, PodState.Removed);
    if (p.kind === 'noop') return undefined;
    throw new WorkdError(p.kind === 'refuse' ? p.code : Code.NOT_FOUND, `${verb}: ${what} ${JSON.stringify(id)} not found`);
  }
  return pod.lock.run(async () => {
    const p = plan(verb, pod.state);
    if (p.kind === 'noop') return pod;
    if (p.kind === 'refuse') throw new WorkdError(p.code, `${verb}: pod ${pod.id} ${p.why}`);
    await act(pod, p);
    return pod;
  });
}

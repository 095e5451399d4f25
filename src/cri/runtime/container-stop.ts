// StopContainer: take the container out of the component map first, so no new
// call reaches it, then let calls in flight finish within the timeout.
import type { UnaryHandler } from '../handler.js';
import type { StopContainerRequest__Output } from '../../gen/cri/runtime/v1/StopContainerRequest.js';
import type { StopContainerResponse } from '../../gen/cri/runtime/v1/StopContainerResponse.js';
import { invalidArgument } from '../../errors.js';
import { nowNanos, type Pod } from '../../pods/pod.js';
import { PodState } from '../../pods/pod-state.js';
import { onPod, requireId, type RuntimeDeps } from './deps.js';

/**
 * Drains a RUNNING pod's container through STOPPING and lands on `to`.
 * Shared by StopContainer, StopPodSandbox, RemoveContainer, RemovePodSandbox and shutdown.
 */
export async function drainContainer(d: RuntimeDeps, pod: Pod, timeoutMs: number, to: PodState): Promise<void> {
  d.pool.unpublish(pod);
  pod.moveTo(PodState.Stopping);
  const runtime = pod.runtime;
  pod.runtime = undefined;
  try {
    await runtime?.stop(timeoutMs);
  } catch (err) {
    // The container is gone either way; a failing stop must not wedge the pod.
    d.log.warn({ pod: pod.id, err }, 'container stop reported an error');
  }
  pod.moveTo(to, { finishedAt: nowNanos(), exitCode: 0, reason: 'Completed', message: '' });
  d.log.debug({ pod: pod.id, state: to }, 'container stopped');
}

export function stopContainer(d: RuntimeDeps): UnaryHandler<StopContainerRequest__Output, StopContainerResponse> {
  return async (req) => {
    const id = requireId(req.container_id, 'StopContainer: container_id');
    const seconds = Number(req.timeout);
    if (!Number.isFinite(seconds) || seconds < 0) throw invalidArgument(`StopContainer: timeout ${req.timeout} must be >= 0 seconds`);
    await onPod(d, 'StopContainer', 'container', id, (pod, p) => drainContainer(d, pod, seconds * 1000, p.to));
    return {};
  };
}

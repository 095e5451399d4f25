// RemoveContainer: a running container is stopped at once (the CRI asks for a
// forced removal), then the container record goes and its image is released.
import type { UnaryHandler } from '../handler.js';
import type { RemoveContainerRequest__Output } from '../../gen/cri/runtime/v1/RemoveContainerRequest.js';
import type { RemoveContainerResponse } from '../../gen/cri/runtime/v1/RemoveContainerResponse.js';
import type { Pod } from '../../pods/pod.js';
import { PodState } from '../../pods/pod-state.js';
import { drainContainer } from './container-stop.js';
import { onPod, requireId, type RuntimeDeps } from './deps.js';

/** Stops (if running) and forgets a pod's container, landing on `to`. Shared with RemovePodSandbox. */
export async function removeContainerOf(d: RuntimeDeps, pod: Pod, to: PodState): Promise<void> {
  if (pod.state === PodState.Running) await drainContainer(d, pod, 0, PodState.Exited);
  const c = pod.status.container;
  if (c) d.store.release(c.imageId, pod.id);
  pod.moveTo(to, { container: undefined, startedAt: undefined, finishedAt: undefined, exitCode: 0, reason: '', message: '' });
}

export function removeContainer(d: RuntimeDeps): UnaryHandler<RemoveContainerRequest__Output, RemoveContainerResponse> {
  return async (req) => {
    const id = requireId(req.container_id, 'RemoveContainer: container_id');
    await onPod(d, 'RemoveContainer', 'container', id, (pod, p) => removeContainerOf(d, pod, p.to));
    return {};
  };
}

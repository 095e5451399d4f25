// RemovePodSandbox: stops and removes the pod's container, then forgets the pod.
import type { UnaryHandler } from '../handler.js';
import type { RemovePodSandboxRequest__Output } from '../../gen/cri/runtime/v1/RemovePodSandboxRequest.js';
import type { RemovePodSandboxResponse } from '../../gen/cri/runtime/v1/RemovePodSandboxResponse.js';
import { PodState } from '../../pods/pod-state.js';
import { removeContainerOf } from './container-remove.js';
import { onPod, requireId, type RuntimeDeps } from './deps.js';

export function removePodSandbox(d: RuntimeDeps): UnaryHandler<RemovePodSandboxRequest__Output, RemovePodSandboxResponse> {
  return async (req) => {
    const id = requireId(req.pod_sandbox_id, 'RemovePodSandbox: pod_sandbox_id');
    await onPod(d, 'RemovePodSandbox', 'pod sandbox', id, async (pod) => {
      await removeContainerOf(d, pod, PodState.Removed);
      d.pool.delete(pod);
      d.log.debug({ pod: pod.id }, 'pod sandbox removed');
    });
    return {};
  };
}

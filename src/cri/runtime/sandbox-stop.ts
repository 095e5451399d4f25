// StopPodSandbox: marks the sandbox NOTREADY, stopping its container first if it runs.
import type { UnaryHandler } from '../handler.js';
import type { StopPodSandboxRequest__Output } from '../../gen/cri/runtime/v1/StopPodSandboxRequest.js';
import type { StopPodSandboxResponse } from '../../gen/cri/runtime/v1/StopPodSandboxResponse.js';
import { drainContainer } from './container-stop.js';
import { onPod, requireId, type RuntimeDeps } from './deps.js';

export function stopPodSandbox(d: RuntimeDeps): UnaryHandler<StopPodSandboxRequest__Output, StopPodSandboxResponse> {
  return async (req) => {
    const id = requireId(req.pod_sandbox_id, 'StopPodSandbox: pod_sandbox_id');
    await onPod(d, 'StopPodSandbox', 'pod sandbox', id, async (pod, p) => {
      // The kubelet has already given the container its grace period with StopContainer.
      if (p.stop) await drainContainer(d, pod, 0, p.to);
      else pod.moveTo(p.to);
    });
    return {};
  };
}

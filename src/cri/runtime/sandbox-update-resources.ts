// UpdatePodSandboxResources: the kubelet's new pod-level resources (in-place
// resize). A component pod has no pod-level cgroup to change; the resources
// are recorded (PodSandboxStatus verbose shows them) and the containers' own
// limits come with UpdateContainerResources, which the kubelet sends as well.
import type { UnaryHandler } from '../handler.js';
import type { UpdatePodSandboxResourcesRequest__Output } from '../../gen/cri/runtime/v1/UpdatePodSandboxResourcesRequest.js';
import type { UpdatePodSandboxResourcesResponse } from '../../gen/cri/runtime/v1/UpdatePodSandboxResourcesResponse.js';
import { onSandbox, requireId, type RuntimeDeps } from './deps.js';

export function updatePodSandboxResources(d: RuntimeDeps): UnaryHandler<UpdatePodSandboxResourcesRequest__Output, UpdatePodSandboxResourcesResponse> {
  return async (req) => {
    const id = requireId(req.pod_sandbox_id, 'UpdatePodSandboxResources: pod_sandbox_id');
    await onSandbox(d, 'UpdatePodSandboxResources', id, (tx, sandbox) =>
      d.lifecycle.sandboxVerb(tx, 'UpdatePodSandboxResources', sandbox, async () => ({ resources: req.resources ?? null })),
    );
    return {};
  };
}

// UpdateContainerResources: new limits for a created or running container (the
// kubelet's in-place pod resize). A running guest gets them from its next call;
// calls already running keep theirs. The record keeps the resources as given,
// which ContainerStatus echoes and a restart of the daemon applies again.
import type { UnaryHandler } from '../handler.js';
import type { UpdateContainerResourcesRequest__Output } from '../../gen/cri/runtime/v1/UpdateContainerResourcesRequest.js';
import type { UpdateContainerResourcesResponse } from '../../gen/cri/runtime/v1/UpdateContainerResourcesResponse.js';
import { invalidArgument } from '../../errors.js';
import { onContainer, requireId, type RuntimeDeps } from './deps.js';
import { limitsFromResources } from './resources.js';

export function updateContainerResources(d: RuntimeDeps): UnaryHandler<UpdateContainerResourcesRequest__Output, UpdateContainerResourcesResponse> {
  return async (req) => {
    const id = requireId(req.container_id, 'UpdateContainerResources: container_id');
    if (!req.linux) throw invalidArgument('UpdateContainerResources: linux resources are missing (workd runs Linux nodes only)');
    const resources = req.linux;
    const limits = limitsFromResources(resources, d.config.executor.cpuMsPerCall);
    await onContainer(d, 'UpdateContainerResources', id, (tx, c) =>
      d.lifecycle.containerVerb(tx, 'UpdateContainerResources', c, async () => {
        // 0 asks the executor for the node's default, as an unset limit means at CreateContainer.
        if (c.runtime) d.executor.update(c.id, { memoryLimitBytes: limits.memoryLimitBytes ?? 0, cpuMsPerCall: limits.cpuMsPerCall ?? 0 });
        return { resources, memoryLimitBytes: limits.memoryLimitBytes, cpuMsPerCall: limits.cpuMsPerCall };
      }),
    );
    return {};
  };
}

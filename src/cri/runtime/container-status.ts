// ContainerStatus: times, exit code, reason, message, image, labels, log path, mounts.
import type { UnaryHandler } from '../handler.js';
import type { ContainerStatusRequest__Output } from '../../gen/cri/runtime/v1/ContainerStatusRequest.js';
import type { ContainerStatusResponse } from '../../gen/cri/runtime/v1/ContainerStatusResponse.js';
import { notFound } from '../../errors.js';
import { toContainerStatus } from '../convert.js';
import { requireId, type RuntimeDeps } from './deps.js';

function limitsNow(d: RuntimeDeps, id: string): { memoryLimitBytes: number; cpuMsPerCall: number } | null {
  const u = d.executor.containerUsage(id);
  return u ? { memoryLimitBytes: u.memoryLimitBytes, cpuMsPerCall: u.cpuMsPerCall } : null;
}

export function containerStatus(d: RuntimeDeps): UnaryHandler<ContainerStatusRequest__Output, ContainerStatusResponse> {
  return async (req) => {
    const id = requireId(req.container_id, 'ContainerStatus: container_id');
    const container = d.pool.resolveContainer(id);
    if (!container) throw notFound(`ContainerStatus: container ${JSON.stringify(id)} not found`);
    const c = container.record;
    const info: Record<string, string> = {};
    if (req.verbose) {
      info.info = JSON.stringify({
        sandboxID: c.sandboxId,
        component: container.sandbox.component.name,
        state: c.state,
        imageId: c.imageId,
        env: Object.keys(c.env),
        args: c.args,
        memoryLimitBytes: c.memoryLimitBytes ?? d.config.executor.memoryLimitBytes,
        cpuMsPerCall: c.cpuMsPerCall ?? d.config.executor.cpuMsPerCall,
        methods: container.runtime ? [...container.runtime.methods] : [],
        inFlight: container.runtime?.inFlight ?? 0,
        // What the executor enforces now (after UpdateContainerResources too), while the guest runs.
        executorLimits: container.runtime ? limitsNow(d, container.id) : null,
      });
    }
    return { status: toContainerStatus(c), info };
  };
}

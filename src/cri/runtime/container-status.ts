// ContainerStatus: times, exit code, reason, message, image, labels, log path, mounts.
import type { UnaryHandler } from '../handler.js';
import type { ContainerStatusRequest__Output } from '../../gen/cri/runtime/v1/ContainerStatusRequest.js';
import type { ContainerStatusResponse } from '../../gen/cri/runtime/v1/ContainerStatusResponse.js';
import { notFound } from '../../errors.js';
import { toContainerStatus } from '../convert.js';
import { requireId, type RuntimeDeps } from './deps.js';

export function containerStatus(d: RuntimeDeps): UnaryHandler<ContainerStatusRequest__Output, ContainerStatusResponse> {
  return async (req) => {
    const id = requireId(req.container_id, 'ContainerStatus: container_id');
    const pod = d.pool.resolve(id);
    const status = pod && toContainerStatus(pod);
    if (!pod || !status) throw notFound(`ContainerStatus: container ${JSON.stringify(id)} not found`);
    const info: Record<string, string> = {};
    if (req.verbose) {
      const c = pod.status.container!;
      info.info = JSON.stringify({
        sandboxID: pod.id,
        component: pod.component.name,
        state: pod.state,
        imageId: c.imageId,
        env: Object.keys(c.env),
        args: c.args,
        memoryLimitBytes: c.memoryLimitBytes ?? d.config.executor.memoryLimitBytes,
        methods: pod.runtime ? [...pod.runtime.methods] : [],
        inFlight: pod.runtime?.inFlight ?? 0,
      });
    }
    return { status, info };
  };
}

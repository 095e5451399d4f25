// PodSandboxStatus: the sandbox, its container's status, and (verbose) workd's own view as JSON.
import type { UnaryHandler } from '../handler.js';
import type { PodSandboxStatusRequest__Output } from '../../gen/cri/runtime/v1/PodSandboxStatusRequest.js';
import type { PodSandboxStatusResponse } from '../../gen/cri/runtime/v1/PodSandboxStatusResponse.js';
import { notFound } from '../../errors.js';
import { nowNanos } from '../../pods/pod.js';
import { nanos, toContainerStatus, toPodSandboxStatus } from '../convert.js';
import { requireId, type RuntimeDeps } from './deps.js';

export function podSandboxStatus(d: RuntimeDeps): UnaryHandler<PodSandboxStatusRequest__Output, PodSandboxStatusResponse> {
  return async (req) => {
    const id = requireId(req.pod_sandbox_id, 'PodSandboxStatus: pod_sandbox_id');
    const pod = d.pool.resolve(id);
    if (!pod) throw notFound(`PodSandboxStatus: pod sandbox ${JSON.stringify(id)} not found`);
    const container = toContainerStatus(pod);
    const info: Record<string, string> = {};
    if (req.verbose) {
      info.info = JSON.stringify({
        id: pod.id,
        component: pod.component.name,
        state: pod.state,
        logDirectory: pod.spec.logDirectory,
        hostname: pod.spec.hostname,
        container: pod.status.container ? { image: pod.status.container.imageId, logPath: pod.status.container.logFile ?? null } : null,
      });
    }
    return {
      status: toPodSandboxStatus(pod, d.nodeAddress),
      info,
      containers_statuses: container ? [container] : [],
      timestamp: nanos(nowNanos()),
    };
  };
}

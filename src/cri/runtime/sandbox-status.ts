// PodSandboxStatus: the sandbox, its containers' statuses, and (verbose) workd's own view as JSON.
import type { UnaryHandler } from '../handler.js';
import type { PodSandboxStatusRequest__Output } from '../../gen/cri/runtime/v1/PodSandboxStatusRequest.js';
import type { PodSandboxStatusResponse } from '../../gen/cri/runtime/v1/PodSandboxStatusResponse.js';
import { notFound } from '../../errors.js';
import { nowNanos } from '../../pods/pod.js';
import { toContainerStatus, toPodSandboxStatus } from '../convert.js';
import { requireId, type RuntimeDeps } from './deps.js';

export function podSandboxStatus(d: RuntimeDeps): UnaryHandler<PodSandboxStatusRequest__Output, PodSandboxStatusResponse> {
  return async (req) => {
    const id = requireId(req.pod_sandbox_id, 'PodSandboxStatus: pod_sandbox_id');
    const sandbox = d.pool.resolveSandbox(id);
    if (!sandbox) throw notFound(`PodSandboxStatus: pod sandbox ${JSON.stringify(id)} not found`);
    const s = sandbox.record;
    const containers = sandbox.containers.map((c) => c.record);
    const info: Record<string, string> = {};
    if (req.verbose) {
      info.info = JSON.stringify({
        id: s.id,
        key: s.key,
        component: s.component,
        state: s.state,
        logDirectory: s.logDirectory,
        hostname: s.hostname,
        cgroupParent: s.cgroupParent,
        containers: containers.map((c) => ({ id: c.id, name: c.metadata.name, attempt: c.metadata.attempt, state: c.state, image: c.imageId, logPath: c.logPath })),
      });
    }
    return {
      status: toPodSandboxStatus(s, d.nodeAddress),
      info,
      containers_statuses: containers.map(toContainerStatus),
      timestamp: nowNanos(),
    };
  };
}

// StopPodSandbox: stops every running container of the sandbox, tears its network
// down (CNI DEL, the namespace), then marks it NOTREADY.
import type { UnaryHandler } from '../handler.js';
import type { StopPodSandboxRequest__Output } from '../../gen/cri/runtime/v1/StopPodSandboxRequest.js';
import type { StopPodSandboxResponse } from '../../gen/cri/runtime/v1/StopPodSandboxResponse.js';
import { stopContainerIn } from './container-stop.js';
import { onSandbox, requireId, type RuntimeDeps } from './deps.js';
import { tearDownNetwork } from './sandbox-network.js';

export function stopPodSandbox(d: RuntimeDeps): UnaryHandler<StopPodSandboxRequest__Output, StopPodSandboxResponse> {
  return async (req) => {
    const id = requireId(req.pod_sandbox_id, 'StopPodSandbox: pod_sandbox_id');
    await onSandbox(d, 'StopPodSandbox', id, (tx, sandbox) =>
      d.lifecycle.sandboxVerb(tx, 'StopPodSandbox', sandbox, async () => {
        // The kubelet has already given each container its grace period with StopContainer.
        for (const c of [...sandbox.containers]) await stopContainerIn(d, tx, c, 0);
        // A failed DEL fails the verb with the sandbox still READY and its network recorded: the kubelet's retry runs it again.
        return tearDownNetwork(d, sandbox);
      }),
    );
    return {};
  };
}

// RemovePodSandbox: stops and removes every container of the sandbox, tears its
// network down if StopPodSandbox did not, then forgets it.
import type { UnaryHandler } from '../handler.js';
import type { RemovePodSandboxRequest__Output } from '../../gen/cri/runtime/v1/RemovePodSandboxRequest.js';
import type { RemovePodSandboxResponse } from '../../gen/cri/runtime/v1/RemovePodSandboxResponse.js';
import { removeContainerIn } from './container-remove.js';
import { onSandbox, requireId, type RuntimeDeps } from './deps.js';
import { tearDownNetwork } from './sandbox-network.js';

export function removePodSandbox(d: RuntimeDeps): UnaryHandler<RemovePodSandboxRequest__Output, RemovePodSandboxResponse> {
  return async (req) => {
    const id = requireId(req.pod_sandbox_id, 'RemovePodSandbox: pod_sandbox_id');
    await onSandbox(d, 'RemovePodSandbox', id, (tx, sandbox) =>
      d.lifecycle.sandboxVerb(tx, 'RemovePodSandbox', sandbox, async () => {
        for (const c of [...sandbox.containers]) await removeContainerIn(d, tx, c);
        await tearDownNetwork(d, sandbox);
        d.log.debug({ pod: sandbox.id }, 'pod sandbox removed');
      }),
    );
    return {};
  };
}

// ReopenContainerLog: the kubelet rotated the log file; the running container reopens it.
import type { UnaryHandler } from '../handler.js';
import type { ReopenContainerLogRequest__Output } from '../../gen/cri/runtime/v1/ReopenContainerLogRequest.js';
import type { ReopenContainerLogResponse } from '../../gen/cri/runtime/v1/ReopenContainerLogResponse.js';
import { onContainer, requireId, type RuntimeDeps } from './deps.js';

export function reopenContainerLog(d: RuntimeDeps): UnaryHandler<ReopenContainerLogRequest__Output, ReopenContainerLogResponse> {
  return async (req) => {
    const id = requireId(req.container_id, 'ReopenContainerLog: container_id');
    await onContainer(d, 'ReopenContainerLog', id, (tx, c) =>
      d.lifecycle.containerVerb(tx, 'ReopenContainerLog', c, async () => {
        await c.runtime?.reopenLog();
      }),
    );
    return {};
  };
}

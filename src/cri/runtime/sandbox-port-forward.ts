// PortForward: answers the streaming server's URL; each tunnelled connection is served as a cleartext
// HTTP/2 gRPC connection pinned to this pod's container (whatever the port number: a component has one service).
import type { UnaryHandler } from '../handler.js';
import type { PortForwardRequest__Output } from '../../gen/cri/runtime/v1/PortForwardRequest.js';
import type { PortForwardResponse } from '../../gen/cri/runtime/v1/PortForwardResponse.js';
import { invalidArgument } from '../../errors.js';
import { requireId, type RuntimeDeps } from './deps.js';
import { sandboxOf, streamingOf } from './streaming.js';

export function portForward(d: RuntimeDeps): UnaryHandler<PortForwardRequest__Output, PortForwardResponse> {
  return async (req) => {
    const id = requireId(req.pod_sandbox_id, 'PortForward: pod_sandbox_id');
    const pod = sandboxOf(d, 'PortForward', id);
    for (const p of req.port) if (!(p >= 1 && p <= 65535)) throw invalidArgument(`PortForward: port ${p} is not in 1-65535`);
    return { url: streamingOf(d, 'PortForward').url({ kind: 'portforward', podSandboxId: pod.id, ports: req.port }) };
  };
}

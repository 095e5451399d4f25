// Status: the runtime is ready as soon as the daemon serves; the network when
// CNI is off (pods share the node's data plane) or a usable CNI configuration
// exists (src/network/cni/watch.ts), as containerd reports it.
import type { UnaryHandler } from '../handler.js';
import type { StatusRequest__Output } from '../../gen/cri/runtime/v1/StatusRequest.js';
import type { StatusResponse } from '../../gen/cri/runtime/v1/StatusResponse.js';
import { ContainerState } from '../../pods/pod-state.js';
import type { RuntimeDeps } from './deps.js';
import { OWN_HANDLERS } from './sandbox-run.js';

function networkCondition(d: RuntimeDeps): { status: boolean; reason: string; message: string } {
  const c = d.network.condition();
  return { status: c.ready, reason: c.reason, message: c.message };
}

export function status(d: RuntimeDeps): UnaryHandler<StatusRequest__Output, StatusResponse> {
  return async (req) => {
    const res: StatusResponse = {
      status: {
        conditions: [
          { type: 'RuntimeReady', status: true, reason: '', message: '' },
          { type: 'NetworkReady', ...networkCondition(d) },
        ],
      },
      runtime_handlers: [...OWN_HANDLERS].map((name) => ({ name, features: { recursive_read_only_mounts: false, user_namespaces: false } })),
      features: { supplemental_groups_policy: false, user_namespaces_host_network: false },
      info: {},
    };
    if (req.verbose) {
      let running = 0;
      for (const c of d.pool.containers()) if (c.state === ContainerState.Running) running++;
      res.info = {
        config: JSON.stringify({ ...d.config, runtimeConfig: d.runtimeConfig }),
        pods: JSON.stringify({ sandboxes: d.pool.size, containers: d.pool.containerCount, running }),
        nodeAddress: d.nodeAddress,
        cniconfig: JSON.stringify(d.network.describe()),
        version: d.version,
      };
    }
    return res;
  };
}

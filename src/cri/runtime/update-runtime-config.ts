// UpdateRuntimeConfig: the kubelet pushes the pod CIDR. Component pods use the
// node's address, so it is only recorded (and shown by verbose Status).
import type { UnaryHandler } from '../handler.js';
import type { UpdateRuntimeConfigRequest__Output } from '../../gen/cri/runtime/v1/UpdateRuntimeConfigRequest.js';
import type { UpdateRuntimeConfigResponse } from '../../gen/cri/runtime/v1/UpdateRuntimeConfigResponse.js';
import type { RuntimeDeps } from './deps.js';

export function updateRuntimeConfig(d: RuntimeDeps): UnaryHandler<UpdateRuntimeConfigRequest__Output, UpdateRuntimeConfigResponse> {
  return async (req) => {
    const cidr = req.runtime_config?.network_config?.pod_cidr;
    if (cidr !== undefined && cidr !== d.runtimeConfig.podCidr) {
      d.runtimeConfig.podCidr = cidr;
      d.log.info({ podCidr: cidr }, 'runtime config updated');
    }
    return {};
  };
}

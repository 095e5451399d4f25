// RuntimeConfig: the node's cgroup driver, which a kubelet with
// KubeletCgroupDriverFromCRI takes instead of its own setting. Component pods
// have no cgroups, so workd reports the driver it is configured with
// ([downstream] cgroup_driver, which must be the kubelet's); unset, cgroupfs,
// the kubelet's and containerd's default. With a downstream runtime the
// downstream's answer is used instead (src/cri/downstream/status.ts).
import type { UnaryHandler } from '../handler.js';
import type { RuntimeConfigRequest__Output } from '../../gen/cri/runtime/v1/RuntimeConfigRequest.js';
import type { RuntimeConfigResponse } from '../../gen/cri/runtime/v1/RuntimeConfigResponse.js';
import type { RuntimeDeps } from './deps.js';

export function runtimeConfig(d: RuntimeDeps): UnaryHandler<RuntimeConfigRequest__Output, RuntimeConfigResponse> {
  const driver = d.config.downstream.cgroupDriver === 'systemd' ? 'SYSTEMD' : 'CGROUPFS';
  return async () => ({ linux: { cgroup_driver: driver } });
}

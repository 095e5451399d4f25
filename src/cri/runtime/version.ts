// Version: who we are. `version` is the CRI API version the kubelet expects runtimes to echo.
import type { UnaryHandler } from '../handler.js';
import type { VersionRequest__Output } from '../../gen/cri/runtime/v1/VersionRequest.js';
import type { VersionResponse } from '../../gen/cri/runtime/v1/VersionResponse.js';
import type { RuntimeDeps } from './deps.js';

export function version(d: RuntimeDeps): UnaryHandler<VersionRequest__Output, VersionResponse> {
  const answer: VersionResponse = { version: '0.1.0', runtime_name: 'workd', runtime_version: d.version, runtime_api_version: 'v1' };
  return async () => answer;
}

// GetContainerEvents: a stream of container lifecycle events for the kubelet's
// evented PLEG. Each event carries the pod's sandbox status and all its
// containers' statuses as they were when it happened, which the PLEG puts in
// its cache without asking again. Events are sent once their change is
// committed; a client that connects gets only what happens after.
import type { StreamHandler } from '../handler.js';
import type { GetEventsRequest__Output } from '../../gen/cri/runtime/v1/GetEventsRequest.js';
import type { ContainerEventResponse } from '../../gen/cri/runtime/v1/ContainerEventResponse.js';
import { WorkdError, Code } from '../../errors.js';
import { limitKey } from '../../limits.js';
import type { ContainerEvent } from '../../pods/runner.js';
import { toContainerStatus, toPodSandboxStatus } from '../convert.js';
import type { RuntimeDeps } from './deps.js';

export function toContainerEvent(e: ContainerEvent, podIp: string): ContainerEventResponse {
  return {
    container_id: e.container.id,
    container_event_type: e.type,
    created_at: e.at,
    pod_sandbox_status: toPodSandboxStatus(e.sandbox, podIp),
    containers_statuses: e.containers.map(toContainerStatus),
  };
}

export function getContainerEvents(d: RuntimeDeps): StreamHandler<GetEventsRequest__Output, ContainerEventResponse> {
  return {
    stream: (_req, send, signal) =>
      new Promise<void>((resolve, reject) => {
        // `send` answers false while the client's buffer is past its high-water mark.
        let behind = 0;
        const max = d.config.limits.criMaxEventsBehind;
        const off = d.lifecycle.onContainerEvent((e) => {
          behind = send(toContainerEvent(e, d.nodeAddress)) ? 0 : behind + 1;
          if (behind > max) {
            off();
            reject(new WorkdError(Code.RESOURCE_EXHAUSTED, `GetContainerEvents: the client is more than ${max} events behind (${limitKey('criMaxEventsBehind')}); reconnect`));
          }
        });
        signal.addEventListener(
          'abort',
          () => {
            off();
            resolve();
          },
          { once: true },
        );
      }),
  };
}

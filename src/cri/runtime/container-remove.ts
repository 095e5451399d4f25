// RemoveContainer: a running container is stopped at once (the CRI asks for a
// forced removal), then the container record goes and its image is released.
import type { UnaryHandler } from '../handler.js';
import type { RemoveContainerRequest__Output } from '../../gen/cri/runtime/v1/RemoveContainerRequest.js';
import type { RemoveContainerResponse } from '../../gen/cri/runtime/v1/RemoveContainerResponse.js';
import type { Container } from '../../pods/pod.js';
import type { Transaction } from '../../pods/runner.js';
import { stopGuest } from './container-stop.js';
import { onContainer, requireId, type RuntimeDeps } from './deps.js';
import { forgetSample } from './stats.js';

/** The RemoveContainer plan on one container; shared with RemovePodSandbox. */
export function removeContainerIn(d: RuntimeDeps, tx: Transaction, container: Container): Promise<boolean> {
  return d.lifecycle.containerVerb(tx, 'RemoveContainer', container, async (p) => {
    if (p.via) await stopGuest(d, container, 0);
    d.store.release(container.record.imageId, container.id);
    // Its counters go with it (exited containers keep theirs for stats until removed).
    d.executor.forget(container.id);
    d.callStats()?.forgetContainer(container.id);
    forgetSample(d, container.id);
  });
}

export function removeContainer(d: RuntimeDeps): UnaryHandler<RemoveContainerRequest__Output, RemoveContainerResponse> {
  return async (req) => {
    const id = requireId(req.container_id, 'RemoveContainer: container_id');
    await onContainer(d, 'RemoveContainer', id, (tx, c) => removeContainerIn(d, tx, c));
    return {};
  };
}

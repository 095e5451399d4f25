// StopContainer: take the container out of the component map first, so no new
// call reaches it, then let calls in flight finish within the timeout.
import type { UnaryHandler } from '../handler.js';
import type { StopContainerRequest__Output } from '../../gen/cri/runtime/v1/StopContainerRequest.js';
import type { StopContainerResponse } from '../../gen/cri/runtime/v1/StopContainerResponse.js';
import { invalidArgument } from '../../errors.js';
import { nowNanos, type Container } from '../../pods/pod.js';
import type { ContainerPatch, Transaction } from '../../pods/runner.js';
import { onContainer, requireId, type RuntimeDeps } from './deps.js';

/** Unpublishes a running container's guest and drains it; the exit it records. Never throws. */
export async function stopGuest(d: RuntimeDeps, container: Container, timeoutMs: number): Promise<ContainerPatch> {
  d.pool.unpublish(container);
  await d.podChanged?.(container.sandbox.id);
  const runtime = container.runtime;
  container.runtime = undefined;
  try {
    await runtime?.stop(timeoutMs);
  } catch (err) {
    // The guest is gone either way; a failing stop must not wedge the container.
    d.log.warn({ container: container.id, err }, 'container stop reported an error');
  }
  d.log.debug({ container: container.id }, 'container stopped');
  return { finishedAt: nowNanos(), exitCode: 0, reason: 'Completed', message: '' };
}

/** The StopContainer plan on one container; shared with StopPodSandbox and shutdown. */
export function stopContainerIn(d: RuntimeDeps, tx: Transaction, container: Container, timeoutMs: number): Promise<boolean> {
  return d.lifecycle.containerVerb(tx, 'StopContainer', container, () => stopGuest(d, container, timeoutMs));
}

export function stopContainer(d: RuntimeDeps): UnaryHandler<StopContainerRequest__Output, StopContainerResponse> {
  return async (req) => {
    const id = requireId(req.container_id, 'StopContainer: container_id');
    const seconds = Number(req.timeout);
    if (!Number.isFinite(seconds) || seconds < 0) throw invalidArgument(`StopContainer: timeout ${req.timeout} must be >= 0 seconds`);
    await onContainer(d, 'StopContainer', id, (tx, c) => stopContainerIn(d, tx, c, seconds * 1000));
    return {};
  };
}

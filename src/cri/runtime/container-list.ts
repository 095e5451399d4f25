// ListContainers with the CRI's filters: id and pod_sandbox_id (exact or unique prefix), state, label selector.
import type { UnaryHandler } from '../handler.js';
import type { ListContainersRequest__Output } from '../../gen/cri/runtime/v1/ListContainersRequest.js';
import type { ListContainersResponse } from '../../gen/cri/runtime/v1/ListContainersResponse.js';
import type { Container as CriContainer } from '../../gen/cri/runtime/v1/Container.js';
import type { Container } from '../../pods/pod.js';
import { criContainerState } from '../../pods/pod-state.js';
import type { ContainerRecord } from '../../pods/records.js';
import { matchesLabels, toContainer } from '../convert.js';
import type { RuntimeDeps } from './deps.js';
import { itemEncoder } from './list-encoding.js';

/** The containers the CRI's id / pod_sandbox_id filters select (unknown or ambiguous: none, as containerd). */
export function selectContainers(d: RuntimeDeps, id: string, sandboxId: string): Iterable<Container> {
  if (id !== '') {
    const c = d.pool.findContainer(id);
    if (!c) return [];
    if (sandboxId !== '' && d.pool.findSandbox(sandboxId) !== c.sandbox) return [];
    return [c];
  }
  if (sandboxId !== '') return d.pool.findSandbox(sandboxId)?.containers ?? [];
  return d.pool.containers();
}

export function listContainers(d: RuntimeDeps): UnaryHandler<ListContainersRequest__Output, ListContainersResponse | Buffer> {
  const encoder = itemEncoder<ContainerRecord, CriContainer>('ListContainers', 'containers');
  return async (req) => {
    const f = req.filter;
    const state = f?.state?.state;
    const selector = f?.label_selector;
    const containers: Buffer[] = [];
    for (const c of selectContainers(d, f?.id ?? '', f?.pod_sandbox_id ?? '')) {
      const r = c.record;
      if (state !== undefined && criContainerState(r.state) !== state) continue;
      if (!matchesLabels(r.labels, selector)) continue;
      containers.push(encoder.entry(r, toContainer));
    }
    return Buffer.concat(containers);
  };
}

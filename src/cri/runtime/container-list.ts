// ListContainers with the CRI's filters: id and pod_sandbox_id (exact or unique prefix), state, label selector.
import type { UnaryHandler } from '../handler.js';
import type { ListContainersRequest__Output } from '../../gen/cri/runtime/v1/ListContainersRequest.js';
import type { ListContainersResponse } from '../../gen/cri/runtime/v1/ListContainersResponse.js';
import type { Container } from '../../gen/cri/runtime/v1/Container.js';
import type { Pod } from '../../pods/pod.js';
import { containerStateOf, hasContainer } from '../../pods/pod-state.js';
import { matchesLabels, toContainer } from '../convert.js';
import type { RuntimeDeps } from './deps.js';
import { itemEncoder } from './list-encoding.js';

export function listContainers(d: RuntimeDeps): UnaryHandler<ListContainersRequest__Output, ListContainersResponse | Buffer> {
  const encoder = itemEncoder<Container>('ListContainers', 'containers');
  return async (req) => {
    const f = req.filter;
    let candidates: Iterable<Pod> = d.pool.pods();
    // Pods and containers share IDs, so either ID filter narrows to one pod
    // (both given: they must name the same one). Unknown or ambiguous: nothing.
    const ids = [f?.id ?? '', f?.pod_sandbox_id ?? ''].filter((id) => id !== '');
    if (ids.length > 0) {
      const found = ids.map((id) => d.pool.find(id));
      const pod = found[0];
      candidates = pod && found.every((p) => p === pod) ? [pod] : [];
    }
    const state = f?.state?.state;
    const selector = f?.label_selector;
    const containers: Buffer[] = [];
    for (const pod of candidates) {
      const status = pod.status;
      if (!hasContainer(status.state) || !status.container) continue;
      if (state !== undefined && containerStateOf(status.state) !== state) continue;
      if (!matchesLabels(status.container.labels, selector)) continue;
      containers.push(encoder.entry(status, () => toContainer(pod)));
    }
    return Buffer.concat(containers);
  };
}

// ListPodSandbox with the CRI's filters: id (exact or unique prefix), state, label selector.
import type { UnaryHandler } from '../handler.js';
import type { ListPodSandboxRequest__Output } from '../../gen/cri/runtime/v1/ListPodSandboxRequest.js';
import type { ListPodSandboxResponse } from '../../gen/cri/runtime/v1/ListPodSandboxResponse.js';
import type { PodSandbox } from '../../gen/cri/runtime/v1/PodSandbox.js';
import type { Pod } from '../../pods/pod.js';
import { sandboxStateOf } from '../../pods/pod-state.js';
import { matchesLabels, toPodSandbox } from '../convert.js';
import type { RuntimeDeps } from './deps.js';
import { itemEncoder } from './list-encoding.js';

export function listPodSandbox(d: RuntimeDeps): UnaryHandler<ListPodSandboxRequest__Output, ListPodSandboxResponse | Buffer> {
  const encoder = itemEncoder<PodSandbox>('ListPodSandbox', 'items');
  return async (req) => {
    const f = req.filter;
    let candidates: Iterable<Pod> = d.pool.pods();
    if (f && f.id !== '') {
      // As containerd: an unknown or ambiguous prefix lists nothing.
      const pod = d.pool.find(f.id);
      candidates = pod ? [pod] : [];
    }
    const state = f?.state?.state;
    const selector = f?.label_selector;
    const items: Buffer[] = [];
    for (const pod of candidates) {
      if (state !== undefined && sandboxStateOf(pod.state) !== state) continue;
      if (!matchesLabels(pod.spec.labels, selector)) continue;
      items.push(encoder.entry(pod.status, () => toPodSandbox(pod)));
    }
    return Buffer.concat(items);
  };
}

// ListPodSandbox with the CRI's filters: id (exact or unique prefix), state, label selector.
import type { UnaryHandler } from '../handler.js';
import type { ListPodSandboxRequest__Output } from '../../gen/cri/runtime/v1/ListPodSandboxRequest.js';
import type { ListPodSandboxResponse } from '../../gen/cri/runtime/v1/ListPodSandboxResponse.js';
import type { PodSandbox } from '../../gen/cri/runtime/v1/PodSandbox.js';
import type { Sandbox } from '../../pods/pod.js';
import { criSandboxState } from '../../pods/pod-state.js';
import type { SandboxRecord } from '../../pods/records.js';
import { matchesLabels, toPodSandbox } from '../convert.js';
import type { RuntimeDeps } from './deps.js';
import { itemEncoder } from './list-encoding.js';

/** The sandboxes the CRI's id filter selects (unknown or ambiguous: none, as containerd). */
export function selectSandboxes(d: RuntimeDeps, id: string): Iterable<Sandbox> {
  if (id === '') return d.pool.sandboxes();
  const s = d.pool.findSandbox(id);
  return s ? [s] : [];
}

export function listPodSandbox(d: RuntimeDeps): UnaryHandler<ListPodSandboxRequest__Output, ListPodSandboxResponse | Buffer> {
  const encoder = itemEncoder<SandboxRecord, PodSandbox>('ListPodSandbox', 'items');
  return async (req) => {
    const f = req.filter;
    const state = f?.state?.state;
    const selector = f?.label_selector;
    const items: Buffer[] = [];
    for (const s of selectSandboxes(d, f?.id ?? '')) {
      const r = s.record;
      if (state !== undefined && criSandboxState(r.state) !== state) continue;
      if (!matchesLabels(r.labels, selector)) continue;
      items.push(encoder.entry(r, toPodSandbox));
    }
    return Buffer.concat(items);
  };
}

// PodSandboxStats and ListPodSandboxStats (filters: id, labels): the sum of the sandbox's containers, and each of them.
import type { UnaryHandler } from '../handler.js';
import type { PodSandboxStatsRequest__Output } from '../../gen/cri/runtime/v1/PodSandboxStatsRequest.js';
import type { PodSandboxStatsResponse } from '../../gen/cri/runtime/v1/PodSandboxStatsResponse.js';
import type { ListPodSandboxStatsRequest__Output } from '../../gen/cri/runtime/v1/ListPodSandboxStatsRequest.js';
import type { ListPodSandboxStatsResponse } from '../../gen/cri/runtime/v1/ListPodSandboxStatsResponse.js';
import { notFound } from '../../errors.js';
import { matchesLabels } from '../convert.js';
import { requireId, type RuntimeDeps } from './deps.js';
import { selectSandboxes } from './sandbox-list.js';
import { toPodSandboxStats } from './stats.js';

export function podSandboxStats(d: RuntimeDeps): UnaryHandler<PodSandboxStatsRequest__Output, PodSandboxStatsResponse> {
  return async (req) => {
    const id = requireId(req.pod_sandbox_id, 'PodSandboxStats: pod_sandbox_id');
    const s = d.pool.resolveSandbox(id);
    if (!s) throw notFound(`PodSandboxStats: pod sandbox ${JSON.stringify(id)} not found`);
    return { stats: toPodSandboxStats(d, s) };
  };
}

export function listPodSandboxStats(d: RuntimeDeps): UnaryHandler<ListPodSandboxStatsRequest__Output, ListPodSandboxStatsResponse> {
  return async (req) => {
    const f = req.filter;
    const stats = [];
    for (const s of selectSandboxes(d, f?.id ?? '')) if (matchesLabels(s.record.labels, f?.label_selector)) stats.push(toPodSandboxStats(d, s));
    return { stats };
  };
}

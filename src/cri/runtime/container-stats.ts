// ContainerStats and ListContainerStats (filters: id, pod_sandbox_id, labels), for the kubelet's summary API and eviction manager.
import type { UnaryHandler } from '../handler.js';
import type { ContainerStatsRequest__Output } from '../../gen/cri/runtime/v1/ContainerStatsRequest.js';
import type { ContainerStatsResponse } from '../../gen/cri/runtime/v1/ContainerStatsResponse.js';
import type { ListContainerStatsRequest__Output } from '../../gen/cri/runtime/v1/ListContainerStatsRequest.js';
import type { ListContainerStatsResponse } from '../../gen/cri/runtime/v1/ListContainerStatsResponse.js';
import { notFound } from '../../errors.js';
import { matchesLabels } from '../convert.js';
import { selectContainers } from './container-list.js';
import { requireId, type RuntimeDeps } from './deps.js';
import { toContainerStats } from './stats.js';

export function containerStats(d: RuntimeDeps): UnaryHandler<ContainerStatsRequest__Output, ContainerStatsResponse> {
  return async (req) => {
    const id = requireId(req.container_id, 'ContainerStats: container_id');
    const c = d.pool.resolveContainer(id);
    if (!c) throw notFound(`ContainerStats: container ${JSON.stringify(id)} not found`);
    return { stats: toContainerStats(d, c) };
  };
}

export function listContainerStats(d: RuntimeDeps): UnaryHandler<ListContainerStatsRequest__Output, ListContainerStatsResponse> {
  return async (req) => {
    const f = req.filter;
    const stats = [];
    for (const c of selectContainers(d, f?.id ?? '', f?.pod_sandbox_id ?? '')) {
      if (matchesLabels(c.record.labels, f?.label_selector)) stats.push(toContainerStats(d, c));
    }
    return { stats };
  };
}

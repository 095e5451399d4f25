// The downstream runtime of a hybrid node, assembled: the client, the record
// of which IDs it owns, and the routing of both CRI services in front of
// workd's own verbs. The daemon builds it only when `[downstream] endpoint` is set.
import type { Logger } from '../../observability/log.js';
import type { ServiceHandlers, StreamHandlers } from '../handler.js';
import { mergedContainerEvents } from './events.js';
import { connectDownstream } from './client.js';
import { routeImageService } from './images.js';
import { ownershipStore } from './ownership.js';
import type { Limits } from '../../limits.js';
import type { StateStore } from '../../state/store.js';
import { reconcileOwnership, routeRuntimeService, type RouterDeps } from './router.js';
import { Code, WorkdError, failedPrecondition } from '../../errors.js';
import { downstreamCgroupDriver, hybridRuntimeConfig, hybridStatus } from './status.js';

export interface DownstreamOptions {
  readonly endpoint: string;
  readonly workdHandler: string;
  /** The node's state store: it records which IDs are the downstream's. */
  readonly state: StateStore;
  readonly log: Logger;
  readonly workdKnows: (idOrPrefix: string) => boolean;
  readonly workdHasImage: (ref: string) => boolean;
  readonly insecureRegistries: readonly string[];
  readonly mirrors: Readonly<Record<string, readonly string[]>>;
  readonly limits: Limits;
  /** The cgroup driver workd's config names (the kubelet's); the downstream must use the same one. */
  readonly cgroupDriver?: 'systemd' | 'cgroupfs';
}

export interface Downstream {
  readonly endpoint: string;
  runtime(workd: ServiceHandlers, why: Readonly<Record<string, string>>): ServiceHandlers;
  image(workd: ServiceHandlers): ServiceHandlers;
  /** RuntimeService's server-streaming rpcs: GetContainerEvents carries both sides' events. */
  runtimeStreams(workd: StreamHandlers): StreamHandlers;
  /** Checks the record against the downstream now (the daemon does it at start, retrying until the downstream answers). */
  reconcile(): Promise<{ added: number; removed: number }>;
  close(): Promise<void>;
}

export async function startDownstream(o: DownstreamOptions): Promise<Downstream> {
  const L = o.limits;
  const downstream = connectDownstream(o.endpoint, { callTimeoutMs: L.downstreamCallTimeoutMs, maxReconnectBackoffMs: L.downstreamMaxReconnectBackoffMs });
  const owned = ownershipStore(o.state);
  // A kubelet has one cgroup driver: a config that names another than the downstream's is refused here.
  if (o.cgroupDriver) {
    try {
      const theirs = await downstreamCgroupDriver(downstream, L.downstreamStatusTimeoutMs);
      if (theirs.toLowerCase() !== o.cgroupDriver) {
        throw failedPrecondition(
          `config: downstream.cgroup_driver is "${o.cgroupDriver}" but the downstream runtime ${o.endpoint} uses "${theirs.toLowerCase()}"; the kubelet, workd and the downstream need one cgroup driver`,
        );
      }
    } catch (err) {
      if (!(err instanceof WorkdError) || err.code !== Code.UNAVAILABLE) {
        downstream.close();
        throw err;
      }
      o.log.warn({ downstream: o.endpoint, err: err.message }, 'cannot check the downstream cgroup driver: the downstream is not reachable');
    }
  }
  const deps: RouterDeps = { downstream, owned, workdHandler: o.workdHandler, workdKnows: o.workdKnows, log: o.log };
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const reconcile = async () => {
    const r = await reconcileOwnership(deps);
    if (r.added || r.removed) o.log.info({ downstream: o.endpoint, ...r }, 'record of downstream IDs brought in line with the downstream');
    return r;
  };
  // Until the downstream answers once, its pods' calls get UNAVAILABLE and the record is checked again.
  const untilReconciled = (): void => {
    reconcile().then(
      () => o.log.info({ downstream: o.endpoint, owned: owned.list().length }, 'downstream runtime connected'),
      (err: Error) => {
        if (closed) return;
        o.log.warn({ downstream: o.endpoint, err: err.message }, 'downstream runtime not reachable; retrying');
        timer = setTimeout(untilReconciled, L.downstreamReconcileRetryMs);
        timer.unref();
      },
    );
  };
  untilReconciled();
  return {
    endpoint: o.endpoint,
    runtime(workd, why) {
      return routeRuntimeService(workd, why, deps, {
        Status: hybridStatus(workd.Status!, downstream, o.workdHandler, L.downstreamStatusTimeoutMs),
        RuntimeConfig: hybridRuntimeConfig(downstream, L.downstreamStatusTimeoutMs),
      });
    },
    runtimeStreams(workd) {
      return { ...workd, GetContainerEvents: mergedContainerEvents(workd.GetContainerEvents, downstream) };
    },
    image(workd) {
      return routeImageService(workd, { downstream, workdHas: o.workdHasImage, insecureRegistries: o.insecureRegistries, mirrors: o.mirrors, pullTimeoutMs: L.downstreamPullTimeoutMs });
    },
    reconcile,
    async close() {
      closed = true;
      clearTimeout(timer);
      downstream.close();
    },
  };
}

// The pod pool: the node's one in-memory record of component pods.
//
//   ID map         pod/container ID ──▶ Pod                  (control plane: every CRI verb)
//   component map  domain ──▶ service ──▶ ServiceRoute        (data plane: every call)
//                    ServiceRoute.versions: [VersionRoute, …] highest semver first
//                    VersionRoute.containers: [RoutableContainer, …] running ones only
//
// The component map is built for reads: the arrays a reader gets are never
// mutated; publish/unpublish (container start/stop) build new ones and swap them
// in. A data-plane lookup is two Map gets on strings the caller already holds (no
// allocation, no scan of unrelated pods); `lookupKey` serves callers that hold
// the `domain:service` key as one string.
import semver from 'semver';
import { Code, WorkdError, invalidArgument } from '../errors.js';
import type { ContainerRuntime } from '../wasm/api.js';
import { podId, type ComponentName } from './names.js';
import { Pod, type PodSpec } from './pod.js';
import type { RoutableContainer, RouteTable, ServiceRoute, VersionRoute } from './routing.js';

interface MutableVersionRoute extends VersionRoute {
  containers: RoutableContainer[];
}

interface MutableServiceRoute extends ServiceRoute {
  versions: MutableVersionRoute[];
  /** Pods of this service in any state; the route exists while this is > 0. */
  pods: number;
}

function nameKey(m: PodSpec['metadata']): string {
  return `${m.namespace}\u0000${m.name}\u0000${m.uid}\u0000${m.attempt}`;
}

export class PodPool implements RouteTable {
  private readonly byId = new Map<string, Pod>();
  /** Pod metadata (namespace, name, uid, attempt) → ID: one sandbox per name, as containerd reserves names. */
  private readonly byName = new Map<string, string>();
  /** Next number per component name; never reused while the daemon lives. */
  private readonly counters = new Map<string, number>();
  private readonly routes = new Map<string, Map<string, MutableServiceRoute>>();
  private readonly routesByKey = new Map<string, MutableServiceRoute>();

  get size(): number {
    return this.byId.size;
  }

  /** Adds a pod in READY with the next ID of its component. ALREADY_EXISTS if its metadata names a live pod. */
  add(component: ComponentName, spec: PodSpec): Pod {
    const key = nameKey(spec.metadata);
    const holder = this.byName.get(key);
    if (holder !== undefined) {
      const m = spec.metadata;
      throw new WorkdError(
        Code.ALREADY_EXISTS,
        `pod name ${m.namespace}/${m.name} (uid ${JSON.stringify(m.uid)}, attempt ${m.attempt}) is already used by pod ${holder}`,
      );
    }
    const n = this.counters.get(component.name) ?? 0;
    this.counters.set(component.name, n + 1);
    const pod = new Pod(podId(component, n), component, spec);
    this.byId.set(pod.id, pod);
    this.byName.set(key, pod.id);
    this.serviceRoute(component).pods++;
    return pod;
  }

  /** Forgets a pod (RemovePodSandbox). It must have been unpublished. */
  delete(pod: Pod): void {
    if (this.byId.get(pod.id) !== pod) return;
    if (pod.route) this.unpublish(pod);
    this.byId.delete(pod.id);
    this.byName.delete(nameKey(pod.spec.metadata));
    const route = this.routesByKey.get(pod.component.serviceKey);
    if (route && --route.pods === 0) {
      this.routesByKey.delete(route.serviceKey);
      const byService = this.routes.get(route.domain);
      byService?.delete(route.service);
      if (byService?.size === 0) this.routes.delete(route.domain);
    }
  }

  /** The pod with exactly this ID. */
  get(id: string): Pod | undefined {
    return this.byId.get(id);
  }

  /**
   * The pod an ID or a unique ID prefix names (as crictl and the kubelet allow).
   * Undefined when nothing matches; INVALID_ARGUMENT naming the matches when several do.
   */
  resolve(idOrPrefix: string): Pod | undefined {
    const exact = this.byId.get(idOrPrefix);
    if (exact || idOrPrefix === '') return exact;
    const matches = this.prefixMatches(idOrPrefix, 6);
    if (matches.length > 1) {
      const shown = matches.slice(0, 5).join(', ');
      throw invalidArgument(`ID prefix ${JSON.stringify(idOrPrefix)} is ambiguous: it matches ${shown}${matches.length > 5 ? ', …' : ''}`);
    }
    return matches[0] === undefined ? undefined : this.byId.get(matches[0]);
  }

  /** Like resolve, but an ambiguous prefix is simply no match (List filters, as containerd). */
  find(idOrPrefix: string): Pod | undefined {
    try {
      return this.resolve(idOrPrefix);
    } catch {
      return undefined;
    }
  }

  private prefixMatches(prefix: string, limit: number): string[] {
    // Control-plane only: a scan is fine at 10,000 pods (well under a millisecond).
    const out: string[] = [];
    for (const id of this.byId.keys()) {
      if (id.startsWith(prefix)) {
        out.push(id);
        if (out.length >= limit) break;
      }
    }
    return out;
  }

  pods(): IterableIterator<Pod> {
    return this.byId.values();
  }

  // ── the component map ────────────────────────────────────────────────

  private serviceRoute(c: ComponentName): MutableServiceRoute {
    let route = this.routesByKey.get(c.serviceKey);
    if (!route) {
      route = { serviceKey: c.serviceKey, domain: c.domain, service: c.service, versions: [], pods: 0 };
      this.routesByKey.set(c.serviceKey, route);
      let byService = this.routes.get(c.domain);
      if (!byService) this.routes.set(c.domain, (byService = new Map()));
      byService.set(c.service, route);
    }
    return route;
  }

  /** Makes a RUNNING pod's container reachable from the data plane. */
  publish(pod: Pod, runtime: ContainerRuntime, descriptorSet: Uint8Array): RoutableContainer {
    if (pod.route) return pod.route;
    const entry: RoutableContainer = { id: pod.id, version: pod.component.version, runtime, descriptorSet };
    const route = this.serviceRoute(pod.component);
    const version = route.versions.find((v) => v.version === entry.version);
    if (version) {
      version.containers = [...version.containers, entry];
    } else {
      // New arrays, so a reader iterating the old ones is undisturbed.
      const versions = [...route.versions, { version: entry.version, containers: [entry], cursor: 0 }];
      versions.sort((a, b) => semver.rcompare(a.version, b.version));
      route.versions = versions;
    }
    pod.route = entry;
    return entry;
  }

  /** Takes a pod's container out of the data plane; calls already routed to it finish. */
  unpublish(pod: Pod): void {
    const entry = pod.route;
    if (!entry) return;
    pod.route = undefined;
    const route = this.routesByKey.get(pod.component.serviceKey);
    const version = route?.versions.find((v) => v.version === entry.version);
    if (!route || !version) return;
    const at = version.containers.indexOf(entry);
    if (at < 0) return;
    // A copy without the entry (no per-element callback: stopping 10,000 pods stays cheap).
    const containers = version.containers.slice();
    containers.splice(at, 1);
    if (containers.length > 0) {
      version.containers = containers;
      if (version.cursor >= containers.length) version.cursor = 0;
    } else {
      route.versions = route.versions.filter((v) => v !== version);
    }
  }

  lookup(domain: string, service: string): ServiceRoute | undefined {
    return this.routes.get(domain)?.get(service);
  }

  /** One Map get for callers holding `domain:package.Service`. */
  lookupKey(serviceKey: string): ServiceRoute | undefined {
    return this.routesByKey.get(serviceKey);
  }

  *runningServices(): Iterable<ServiceRoute> {
    for (const route of this.routesByKey.values()) if (route.versions.length > 0) yield route;
  }
}

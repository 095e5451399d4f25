// The pod pool: the node's one in-memory record of component pods.
//
//   sandboxes      sandbox ID ──▶ Sandbox (and its 64-hex key ──▶ Sandbox)
//   containers     container ID ──▶ Container (each knows its Sandbox)
//   component map  domain ──▶ service ──▶ ServiceRoute        (data plane: every call)
//                    ServiceRoute.versions: [VersionRoute, …] highest semver first
//                    VersionRoute.containers: [RoutableContainer, …] running ones only
//
// The component map is built for reads: a data-plane lookup is two Map gets on
// strings the caller already holds (no allocation, no scan of unrelated pods);
// `lookupKey` serves callers that hold the `domain:service` key as one string.
// publish/unpublish (container start/stop) change a version's container array
// in place in O(1) (append; swap with the last on removal): copying it on each
// change made restoring or starting n containers of one version O(n²). Readers
// use the arrays synchronously (the router picks within one call) and must not
// keep one across an await.
//
// The pool only stores: records change through the runner (src/pods/runner.ts).
import semver from 'semver';
import { Code, WorkdError, internal, invalidArgument } from '../errors.js';
import { fixedLimit } from '../limits.js';
import type { ContainerRuntime } from '../wasm/api.js';
import { randomHexId, sandboxId } from './ids.js';
import { parseComponentName, type ComponentName } from './names.js';
import { Container, Sandbox } from './pod.js';
import type { ContainerRecord, PodMetadata, SandboxRecord } from './records.js';
import type { RoutableContainer, RouteTable, ServiceRoute, VersionRoute } from './routing.js';

interface MutableVersionRoute extends VersionRoute {
  readonly containers: RoutableContainer[];
  /** Where each container is in `containers`. */
  readonly at: Map<RoutableContainer, number>;
}

interface MutableServiceRoute extends ServiceRoute {
  versions: MutableVersionRoute[];
  /** Sandboxes of this service in any state; the route exists while this is > 0. */
  pods: number;
}

function nameKey(m: PodMetadata): string {
  return `${m.namespace}\u0000${m.name}\u0000${m.uid}\u0000${m.attempt}`;
}

function nameReserved(m: PodMetadata, holder: string): WorkdError {
  return new WorkdError(Code.FAILED_PRECONDITION, `failed to reserve sandbox name ${m.namespace}/${m.name} (uid ${JSON.stringify(m.uid)}, attempt ${m.attempt}): it is reserved for ${holder}`);
}

/** The sandbox record fields a caller gives; the pool assigns id, key, n and component. */
export type NewSandbox = Omit<SandboxRecord, 'id' | 'key' | 'n' | 'component'>;
/** The container record fields a caller gives; the pool assigns id and sandboxId. */
export type NewContainer = Omit<ContainerRecord, 'id' | 'sandboxId'>;

/** A prefix lookup over one ID space: exact IDs first, then a unique prefix. */
function resolveIn<T>(map: ReadonlyMap<string, T>, what: string, idOrPrefix: string): T | undefined {
  const exact = map.get(idOrPrefix);
  if (exact || idOrPrefix === '') return exact;
  // Control-plane only: a scan is fine at 10,000 entries (well under a millisecond).
  const matches: string[] = [];
  for (const id of map.keys()) {
    if (id.startsWith(idOrPrefix)) {
      matches.push(id);
      if (matches.length > 5) break;
    }
  }
  if (matches.length > 1) {
    const shown = matches.slice(0, 5).join(', ');
    throw invalidArgument(`${what} ID prefix ${JSON.stringify(idOrPrefix)} is ambiguous: it matches ${shown}${matches.length > 5 ? ', …' : ''}`);
  }
  return matches[0] === undefined ? undefined : map.get(matches[0]);
}

const RETIRED_ROUTES = fixedLimit('podsRetiredServices');
export class PodPool implements RouteTable {
  private readonly sandboxById = new Map<string, Sandbox>();
  private readonly sandboxByKey = new Map<string, Sandbox>();
  private readonly containerById = new Map<string, Container>();
  /** Pod metadata (namespace, name, uid, attempt) → sandbox ID: one sandbox per name, as containerd reserves names. */
  private readonly byName = new Map<string, string>();
  /** Pod names held by RunPodSandbox calls still setting up (name key → sandbox key). */
  private readonly reserving = new Map<string, string>();
  /** Next N per component name; never lowered, so sandbox IDs are never reused. */
  private readonly counters = new Map<string, number>();
  private readonly routes = new Map<string, Map<string, MutableServiceRoute>>();
  private readonly routesByKey = new Map<string, MutableServiceRoute>();
  /**
   * Services whose last pod was removed, retired longest ago first. Their routes stay, with no versions, so a
   * call gets UNAVAILABLE (retry: the service is expected back, as across a pod's replacement) rather than the
   * UNIMPLEMENTED of a service this node never had; at most RETIRED_ROUTES.
   */
  private readonly retired = new Set<string>();
  /** Parsed component names by their text: a restore of n pods of one component parses (and validates) it once. */
  private readonly componentNames = new Map<string, ComponentName>();

  /** Number of sandboxes. */
  get size(): number {
    return this.sandboxById.size;
  }

  get containerCount(): number {
    return this.containerById.size;
  }

  /** The next N of a component (what a new sandbox would get). */
  nextNumber(component: string): number {
    return this.counters.get(component) ?? 0;
  }

  /** Raises a component's counter (restoring durable state); never lowers it. */
  raiseCounter(component: string, next: number): void {
    if (next > this.nextNumber(component)) this.counters.set(component, next);
  }

  /**
   * Checks that a pod name is free. As containerd's name index answers (a conflict,
   * FAILED_PRECONDITION), naming the sandbox holding it: the kubelet finds that sandbox
   * by ListPodSandbox, not by this answer.
   */
  checkName(m: PodMetadata): void {
    const holder = this.byName.get(nameKey(m));
    if (holder !== undefined) throw nameReserved(m, `pod sandbox ${holder}`);
  }

  /**
   * Holds a pod name for a RunPodSandbox from its first step, before anything is set up,
   * so a retry sent while it runs (the kubelet's, after an answer lost to its deadline) is
   * refused at once and sets nothing up. The returned function releases the hold; the
   * sandbox added under it holds the name from then on.
   */
  reserveName(m: PodMetadata, key: string): () => void {
    this.checkName(m);
    const k = nameKey(m);
    const holder = this.reserving.get(k);
    if (holder !== undefined) throw nameReserved(m, `a RunPodSandbox still in progress (sandbox key ${holder})`);
    this.reserving.set(k, key);
    return () => {
      if (this.reserving.get(k) === key) this.reserving.delete(k);
    };
  }

  /** A 64-hex key no sandbox has, for a sandbox whose network is set up before it is added. */
  newKey(): string {
    let key = randomHexId();
    while (this.sandboxByKey.has(key)) key = randomHexId();
    return key;
  }

  /** Adds a sandbox with the next ID of its component (and `key`, or a new one). */
  addSandbox(component: ComponentName, fields: NewSandbox, key: string = this.newKey()): Sandbox {
    this.checkName(fields.metadata);
    if (this.sandboxByKey.has(key)) throw internal(`pod sandbox key ${key} is already used`);
    const n = this.nextNumber(component.name);
    this.counters.set(component.name, n + 1);
    return this.insertSandbox({ ...fields, id: sandboxId(component, n), key, n, component: component.name }, component);
  }

  /** Puts back a sandbox record exactly as it was (durable state); its ID and key are kept. */
  restoreSandbox(record: SandboxRecord): Sandbox {
    if (this.sandboxById.has(record.id)) throw internal(`restore: sandbox ${record.id} is already in the pool`);
    this.checkName(record.metadata);
    this.raiseCounter(record.component, record.n + 1);
    let component = this.componentNames.get(record.component);
    if (component === undefined) this.componentNames.set(record.component, (component = parseComponentName(record.component)));
    return this.insertSandbox(record, component);
  }

  private insertSandbox(record: SandboxRecord, component: ComponentName): Sandbox {
    const sandbox = new Sandbox(record, component);
    this.sandboxById.set(record.id, sandbox);
    this.sandboxByKey.set(record.key, sandbox);
    this.byName.set(nameKey(record.metadata), record.id);
    this.serviceRoute(component).pods++;
    return sandbox;
  }

  /** Adds a container with a new random ID to a sandbox. */
  addContainer(sandbox: Sandbox, fields: NewContainer): Container {
    let id = randomHexId();
    while (this.containerById.has(id)) id = randomHexId();
    return this.insertContainer(sandbox, { ...fields, id, sandboxId: sandbox.id });
  }

  /** Puts back a container record exactly as it was (durable state). Its sandbox must be restored first. */
  restoreContainer(record: ContainerRecord): Container {
    const sandbox = this.sandboxById.get(record.sandboxId);
    if (!sandbox) throw internal(`restore: container ${record.id} names sandbox ${record.sandboxId}, which is not in the pool`);
    if (this.containerById.has(record.id)) throw internal(`restore: container ${record.id} is already in the pool`);
    return this.insertContainer(sandbox, record);
  }

  private insertContainer(sandbox: Sandbox, record: ContainerRecord): Container {
    const container = new Container(record, sandbox);
    this.containerById.set(record.id, container);
    sandbox.containers.push(container);
    return container;
  }

  /** Forgets a container (RemoveContainer); unpublishes it if it still is. */
  deleteContainer(container: Container): void {
    if (this.containerById.get(container.id) !== container) return;
    if (container.route) this.unpublish(container);
    this.containerById.delete(container.id);
    const list = container.sandbox.containers;
    const at = list.indexOf(container);
    if (at >= 0) list.splice(at, 1);
  }

  /** Forgets a sandbox (RemovePodSandbox). Its containers must have been deleted. */
  deleteSandbox(sandbox: Sandbox): void {
    if (this.sandboxById.get(sandbox.id) !== sandbox) return;
    for (const c of [...sandbox.containers]) this.deleteContainer(c);
    this.sandboxById.delete(sandbox.id);
    this.sandboxByKey.delete(sandbox.record.key);
    this.byName.delete(nameKey(sandbox.record.metadata));
    const route = this.routesByKey.get(sandbox.component.serviceKey);
    if (route && --route.pods === 0) this.retire(route);
  }

  private retire(route: MutableServiceRoute): void {
    this.retired.add(route.serviceKey);
    if (this.retired.size <= RETIRED_ROUTES) return;
    const oldest = this.retired.values().next().value!;
    this.retired.delete(oldest);
    const gone = this.routesByKey.get(oldest)!;
    this.routesByKey.delete(oldest);
    const byService = this.routes.get(gone.domain);
    byService?.delete(gone.service);
    if (byService?.size === 0) this.routes.delete(gone.domain);
  }

  sandbox(id: string): Sandbox | undefined {
    return this.sandboxById.get(id);
  }

  container(id: string): Container | undefined {
    return this.containerById.get(id);
  }

  /** The sandbox with exactly this 64-hex key. */
  sandboxByKeyOf(key: string): Sandbox | undefined {
    return this.sandboxByKey.get(key);
  }

  /**
   * The sandbox an ID, a unique ID prefix, or its exact key names (as crictl and
   * the kubelet allow prefixes). INVALID_ARGUMENT names the matches when several do.
   */
  resolveSandbox(idOrPrefix: string): Sandbox | undefined {
    return this.sandboxByKey.get(idOrPrefix) ?? resolveIn(this.sandboxById, 'pod sandbox', idOrPrefix);
  }

  /** The container an ID or a unique ID prefix names. */
  resolveContainer(idOrPrefix: string): Container | undefined {
    return resolveIn(this.containerById, 'container', idOrPrefix);
  }

  /** Like resolveSandbox, but an ambiguous prefix is simply no match (List filters, as containerd). */
  findSandbox(idOrPrefix: string): Sandbox | undefined {
    try {
      return this.resolveSandbox(idOrPrefix);
    } catch {
      return undefined;
    }
  }

  findContainer(idOrPrefix: string): Container | undefined {
    try {
      return this.resolveContainer(idOrPrefix);
    } catch {
      return undefined;
    }
  }

  sandboxes(): IterableIterator<Sandbox> {
    return this.sandboxById.values();
  }

  containers(): IterableIterator<Container> {
    return this.containerById.values();
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
    } else if (route.pods === 0) {
      this.retired.delete(c.serviceKey);
    }
    return route;
  }

  /** Makes a running container reachable from the data plane. */
  publish(container: Container, runtime: ContainerRuntime, descriptorSet: Uint8Array): RoutableContainer {
    if (container.route) return container.route;
    const component = container.sandbox.component;
    const entry: RoutableContainer = { id: container.id, version: component.version, runtime, descriptorSet };
    const route = this.serviceRoute(component);
    const version = route.versions.find((v) => v.version === entry.version);
    if (version) {
      version.at.set(entry, version.containers.push(entry) - 1);
    } else {
      const versions = [...route.versions, { version: entry.version, containers: [entry], at: new Map([[entry, 0]]), cursor: 0 }];
      versions.sort((a, b) => semver.rcompare(a.version, b.version));
      route.versions = versions;
    }
    container.route = entry;
    return entry;
  }

  /** Takes a container out of the data plane; calls already routed to it finish. */
  unpublish(container: Container): void {
    const entry = container.route;
    if (!entry) return;
    container.route = undefined;
    const route = this.routesByKey.get(container.sandbox.component.serviceKey);
    const version = route?.versions.find((v) => v.version === entry.version);
    if (!route || !version) return;
    const at = version.at.get(entry);
    if (at === undefined) return;
    version.at.delete(entry);
    const containers = version.containers;
    const last = containers.pop()!;
    if (last !== entry) {
      containers[at] = last;
      version.at.set(last, at);
    }
    if (containers.length > 0) {
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

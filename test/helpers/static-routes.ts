// A RouteTable built from plain objects, and a ContainerRuntime backed by a
// JavaScript function. For the data plane's own unit tests and benchmarks
// before (and beside) the real pod pool and executor; never used by the daemon.
import semver from 'semver';
import type { RoutableContainer, RouteTable, ServiceRoute, VersionRoute } from '../../src/pods/routing.js';
import type { ContainerRuntime, GuestCall, GuestResult } from '../../src/wasm/api.js';

export type JsMethod = (call: GuestCall) => GuestResult | Promise<GuestResult>;

export class JsRuntime implements ContainerRuntime {
  inFlight = 0;
  calls = 0;
  readonly methods: ReadonlySet<string>;
  private stopped = false;

  constructor(
    readonly containerId: string,
    private readonly impl: Readonly<Record<string, JsMethod>>,
  ) {
    this.methods = new Set(Object.keys(impl));
  }

  async call(call: GuestCall): Promise<GuestResult> {
    if (this.stopped) return { status: 14, message: `container ${this.containerId} is stopping`, trailers: [] };
    this.inFlight++;
    this.calls++;
    try {
      return await this.impl[call.method]!(call);
    } catch (err) {
      return { status: 2, message: `guest failed: ${(err as Error).message}`, trailers: [] };
    } finally {
      this.inFlight--;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }

  async reopenLog(): Promise<void> {}
}

type MutableRoute = { domain: string; service: string; serviceKey: string; versions: VersionRoute[] };

export class StaticRouteTable implements RouteTable {
  private readonly map = new Map<string, MutableRoute>();
  // Nested by domain like the pod pool, so a lookup builds no key string.
  private readonly byDomain = new Map<string, Map<string, MutableRoute>>();

  lookup(domain: string, service: string): ServiceRoute | undefined {
    return this.byDomain.get(domain)?.get(service);
  }

  *runningServices(): Iterable<ServiceRoute> {
    for (const s of this.map.values()) if (s.versions.length > 0) yield s;
  }

  /** Declares a service with no running container (UNAVAILABLE). */
  declare(domain: string, service: string): void {
    const key = `${domain}:${service}`;
    if (this.map.has(key)) return;
    const route = { domain, service, serviceKey: key, versions: [] };
    this.map.set(key, route);
    let d = this.byDomain.get(domain);
    if (d === undefined) this.byDomain.set(domain, (d = new Map()));
    d.set(service, route);
  }

  add(domain: string, service: string, container: RoutableContainer): void {
    this.declare(domain, service);
    const s = this.map.get(`${domain}:${service}`)!;
    let v = s.versions.find((x) => x.version === container.version);
    if (v === undefined) {
      v = { version: container.version, containers: [], cursor: 0 };
      s.versions.push(v);
      s.versions.sort((a, b) => semver.rcompare(a.version, b.version));
    }
    (v.containers as RoutableContainer[]).push(container);
  }

  remove(domain: string, service: string, containerId: string): void {
    const s = this.map.get(`${domain}:${service}`);
    if (s === undefined) return;
    for (const v of s.versions) {
      const list = v.containers as RoutableContainer[];
      const i = list.findIndex((c) => c.id === containerId);
      if (i >= 0) list.splice(i, 1);
    }
    s.versions = s.versions.filter((v) => v.containers.length > 0);
  }
}

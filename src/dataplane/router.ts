// Picks the container that serves a call: `:authority` host + `/package.Service/Method`
// → the pod pool's RouteTable → a version → the least-loaded container.
//
// Version choice: request metadata `workd-version` pins it, as an exact version
// (`1.2.3`) or a semver range (`^1.2`, `~1.2.3`, `>=1.0 <2`); without it the
// highest running version serves. Among that version's containers the one with
// the fewest calls in flight wins, looking at a bounded window from the
// version's round-robin cursor (pickContainer). On the common path (no pin)
// nothing is allocated.
import semver from 'semver';
import { Code, WorkdError } from '../errors.js';
import type { RoutableContainer, RouteTable, VersionRoute } from '../pods/routing.js';
import { hostOf } from './authority.js';

const RANGE_CACHE_MAX = 256;

export class Router {
  private readonly ranges = new Map<string, semver.Range | null>();
  private readonly domains = new Map<string, string>();

  constructor(readonly routes: RouteTable) {}

  /** The lowercase host of an `:authority` (`Example.com:8443` → `example.com`, `[::1]:80` → `::1`). */
  domainOf(authority: string): string {
    let d = this.domains.get(authority);
    if (d !== undefined) return d;
    d = hostOf(authority);
    // Authorities come from clients: bound the cache rather than trust them.
    if (this.domains.size >= 1024) this.domains.clear();
    this.domains.set(authority, d);
    return d;
  }

  /**
   * The container for a call, or a WorkdError: UNIMPLEMENTED (unknown service
   * or method), UNAVAILABLE (no running container, or none of the pinned
   * version), INVALID_ARGUMENT (a `workd-version` that is no version or range).
   */
  route(domain: string, service: string, method: string, versionPin: string | undefined): RoutableContainer {
    const svc = this.routes.lookup(domain, service);
    if (svc === undefined) throw new WorkdError(Code.UNIMPLEMENTED, `unknown service ${service} at ${domain || '(no authority)'}: no component ${domain}:${service} on this node`);
    const versions = svc.versions;
    if (versions.length === 0) throw new WorkdError(Code.UNAVAILABLE, `service ${domain}:${service} has no running container`);
    let vr: VersionRoute | undefined;
    if (versionPin === undefined) {
      vr = versions[0];
    } else {
      vr = this.pinned(versions, versionPin);
      if (vr === undefined) {
        const running = versions.map((v) => v.version).join(', ');
        throw new WorkdError(Code.UNAVAILABLE, `no running version of ${domain}:${service} matches workd-version ${JSON.stringify(versionPin)} (running: ${running})`);
      }
    }
    const container = pickContainer(vr!);
    if (container === undefined) throw new WorkdError(Code.UNAVAILABLE, `service ${domain}:${service}@${vr!.version} has no running container`);
    if (!container.runtime.methods.has(method)) {
      throw new WorkdError(Code.UNIMPLEMENTED, `unknown method ${method} of service ${service} (component ${domain}:${service}@${container.version})`);
    }
    return container;
  }

  private pinned(versions: readonly VersionRoute[], pin: string): VersionRoute | undefined {
    for (const v of versions) if (v.version === pin) return v;
    let range = this.ranges.get(pin);
    if (range === undefined) {
      try {
        range = new semver.Range(pin);
      } catch {
        range = null;
      }
      if (this.ranges.size >= RANGE_CACHE_MAX) this.ranges.clear();
      this.ranges.set(pin, range);
    }
    if (range === null) throw new WorkdError(Code.INVALID_ARGUMENT, `workd-version ${JSON.stringify(pin)} is neither a version like 1.2.3 nor a semver range like ^1.2`);
    // Highest first, so the first match is the highest satisfying version.
    for (const v of versions) if (range.test(v.version)) return v;
    return undefined;
  }
}

/**
 * Containers a pick looks at, from the cursor on: the pick costs the same at
 * 10,000 containers as at 8 (a scan of all of them cost ~20 µs a call when
 * every one was busy), and the cursor still moves through all of them.
 */
const PICK_WINDOW = 8;

/**
 * Least in-flight among the next PICK_WINDOW containers from the cursor (all
 * of them, when there are no more); ties go to the first, and the cursor moves
 * past the one picked, so equally loaded containers take turns.
 */
export function pickContainer(vr: VersionRoute): RoutableContainer | undefined {
  const list = vr.containers;
  const n = list.length;
  if (n === 0) return undefined;
  if (n === 1) return list[0];
  let start = vr.cursor;
  if (start >= n || start < 0) start = 0;
  let best = start;
  let bestLoad = list[start]!.runtime.inFlight;
  const window = n < PICK_WINDOW ? n : PICK_WINDOW;
  for (let k = 1; k < window && bestLoad > 0; k++) {
    let i = start + k;
    if (i >= n) i -= n;
    const load = list[i]!.runtime.inFlight;
    if (load < bestLoad) {
      best = i;
      bestLoad = load;
    }
  }
  vr.cursor = best + 1 === n ? 0 : best + 1;
  return list[best];
}

// The data plane's count of finished guest calls: per domain, service, method
// and gRPC status code, the calls, their request and response message bytes,
// and a latency histogram. The data plane is the one owner of these numbers;
// metrics read them at scrape time (forEach), nothing else counts calls.
//
// Keys are bounded by what the node runs, never by what clients send: a call
// that reached a container is counted under its real names; one to a service
// the node has but not at that method under method `other`; anything else
// under `unknown` for all three.
import { LATENCY_BUCKETS } from '../observability/buckets.js';

export const UNKNOWN = 'unknown';
export const OTHER_METHOD = 'other';

/** A status code as an index into the per-code arrays: a code outside 0–16 counts as UNKNOWN (2). */
function codeIndex(code: number): number {
  return code >= 0 && code <= 16 ? code : 2;
}

/** What one (domain, service, method) has seen, by status code (index = gRPC code). */
export class MethodStats {
  readonly calls: number[] = new Array<number>(17).fill(0);
  readonly requestBytes: number[] = new Array<number>(17).fill(0);
  readonly responseBytes: number[] = new Array<number>(17).fill(0);
  readonly seconds: number[] = new Array<number>(17).fill(0);
  /** Per code, counts per LATENCY_BUCKETS bound (not cumulative). */
  readonly buckets: (number[] | undefined)[] = new Array<number[] | undefined>(17);

  record(code: number, requestBytes: number, responseBytes: number, seconds: number): void {
    const c = codeIndex(code);
    this.calls[c]!++;
    this.requestBytes[c]! += requestBytes;
    this.responseBytes[c]! += responseBytes;
    this.seconds[c]! += seconds;
    const b = (this.buckets[c] ??= new Array<number>(LATENCY_BUCKETS.length).fill(0));
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= LATENCY_BUCKETS[i]!) {
        b[i]!++;
        return;
      }
    }
  }
}

/** What one container has served: calls by status code, and message bytes. */
export class ContainerCalls {
  readonly calls: number[] = new Array<number>(17).fill(0);
  requestBytes = 0;
  responseBytes = 0;

  record(code: number, requestBytes: number, responseBytes: number): void {
    this.calls[codeIndex(code)]!++;
    this.requestBytes += requestBytes;
    this.responseBytes += responseBytes;
  }
}

export class CallStats {
  private readonly domains = new Map<string, Map<string, Map<string, MethodStats>>>();
  /** Per container ID, for CRI stats and metrics; bounded by the containers the node has (forgetContainer at removal). */
  private readonly byContainer = new Map<string, ContainerCalls>();

  /** The counters of calls routed to one container. */
  containerEntry(containerId: string): ContainerCalls {
    let c = this.byContainer.get(containerId);
    if (c === undefined) this.byContainer.set(containerId, (c = new ContainerCalls()));
    return c;
  }

  /** What a container has served so far (undefined: no call reached it). */
  container(containerId: string): ContainerCalls | undefined {
    return this.byContainer.get(containerId);
  }

  /** Drops a removed container's counters. */
  forgetContainer(containerId: string): void {
    this.byContainer.delete(containerId);
  }

  /** The entry for a call's (already bounded) names. */
  entry(domain: string, service: string, method: string): MethodStats {
    let services = this.domains.get(domain);
    if (services === undefined) this.domains.set(domain, (services = new Map()));
    let methods = services.get(service);
    if (methods === undefined) services.set(service, (methods = new Map()));
    let m = methods.get(method);
    if (m === undefined) methods.set(method, (m = new MethodStats()));
    return m;
  }

  forEach(fn: (domain: string, service: string, method: string, stats: MethodStats) => void): void {
    for (const [d, services] of this.domains) for (const [s, methods] of services) for (const [m, st] of methods) fn(d, s, m, st);
  }
}

// grpc.health.v1.Health answered by the node on any authority. A service name
// is `package.Service` (at the request's domain first, then any domain),
// `domain:package.Service`, or "" for the node itself. SERVING when at least one
// container of the service is running.
//
// On a pod's own listener it answers for that pod alone, as the pod's server
// would (what the kubelet's grpc probe asks): "" and the pod's service name are
// SERVING while the pod's container runs and NOT_SERVING otherwise; any other
// name is unknown (NOT_FOUND, as grpc-go's health server answers).
import { join } from 'node:path';
import { Code } from '../../errors.js';
import type { RouteTable } from '../../pods/routing.js';
import type { BuiltinCallContext, BuiltinMethod } from '../grpc/builtin.js';
import { loadService, PROTO_ROOT, type LoadedService } from './protos.js';

export const HEALTH_SERVICE = 'grpc.health.v1.Health';

type Status = 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

let loaded: LoadedService | undefined;
export function healthProto(): LoadedService {
  return (loaded ??= loadService(join(PROTO_ROOT, 'grpc/health/v1/health.proto'), HEALTH_SERVICE));
}

export interface HealthOptions {
  readonly routes: RouteTable;
  /** Names of the node's own services (always SERVING). */
  readonly builtinServices: ReadonlySet<string>;
  /** How often Watch re-checks (the route table has no change events). */
  readonly watchIntervalMs?: number;
  /** Answer for this pod only (a pod listener). */
  readonly pod?: PodHealth;
}

/** The pod a pod listener's health answers for. */
export interface PodHealth {
  readonly domain: string;
  readonly service: string;
  /** True while the pod's container runs (is in the component map). */
  serving(): boolean;
}

export class HealthService {
  private readonly watches = new Set<BuiltinCallContext>();
  private closed = false;

  constructor(private readonly opts: HealthOptions) {}

  status(domain: string, name: string): Status {
    const pod = this.opts.pod;
    if (pod !== undefined) {
      if (name !== '' && name !== pod.service && name !== `${pod.domain}:${pod.service}`) return 'SERVICE_UNKNOWN';
      return !this.closed && pod.serving() ? 'SERVING' : 'NOT_SERVING';
    }
    if (name === '' || this.opts.builtinServices.has(name)) return this.closed ? 'NOT_SERVING' : 'SERVING';
    const routes = this.opts.routes;
    const colon = name.indexOf(':');
    if (colon >= 0) {
      const svc = routes.lookup(name.slice(0, colon), name.slice(colon + 1));
      if (svc === undefined) return 'SERVICE_UNKNOWN';
      return svc.versions.length > 0 ? 'SERVING' : 'NOT_SERVING';
    }
    const here = routes.lookup(domain, name);
    if (here !== undefined && here.versions.length > 0) return 'SERVING';
    for (const s of routes.runningServices()) if (s.service === name && s.versions.length > 0) return 'SERVING';
    return here !== undefined ? 'NOT_SERVING' : 'SERVICE_UNKNOWN';
  }

  methods(): Map<string, BuiltinMethod> {
    const proto = healthProto();
    const check = proto.methods.get('Check')!;
    const list = proto.methods.get('List')!;
    const watch = proto.methods.get('Watch')!;
    const prefix = `/${HEALTH_SERVICE}/`;
    const unary = (answer: (call: BuiltinCallContext, req: Record<string, unknown>) => void, codec: typeof check): BuiltinMethod => ({
      start: (call) => {
        let req: Record<string, unknown> | undefined;
        return {
          message: (bytes) => {
            if (req !== undefined) return call.finish(Code.INTERNAL, 'unary method received more than one request message');
            try {
              req = codec.request.decode(bytes);
            } catch (err) {
              call.finish(Code.INTERNAL, `cannot decode request: ${(err as Error).message}`);
            }
          },
          halfClose: () => {
            if (call.done) return;
            if (req === undefined) return call.finish(Code.INTERNAL, 'unary method received no request message');
            answer(call, req);
          },
        };
      },
    });
    return new Map<string, BuiltinMethod>([
      [
        prefix + 'Check',
        unary((call, req) => {
          const name = String(req.service ?? '');
          const status = this.status(call.domain, name);
          if (status === 'SERVICE_UNKNOWN') return call.finish(Code.NOT_FOUND, `unknown service ${JSON.stringify(name)}: no component of that service on this node`);
          call.send(check.response.encode({ status }));
          call.finish(Code.OK, '');
        }, check),
      ],
      [
        prefix + 'List',
        unary((call) => {
          const statuses: Record<string, { status: Status }> = {};
          const pod = this.opts.pod;
          if (pod !== undefined) {
            for (const name of ['', `${pod.domain}:${pod.service}`]) statuses[name] = { status: this.status(call.domain, name) };
            call.send(list.response.encode({ statuses }));
            return call.finish(Code.OK, '');
          }
          statuses[''] = { status: this.closed ? 'NOT_SERVING' : 'SERVING' };
          for (const s of this.opts.builtinServices) statuses[s] = { status: 'SERVING' };
          for (const s of this.opts.routes.runningServices()) statuses[s.serviceKey] = { status: s.versions.length > 0 ? 'SERVING' : 'NOT_SERVING' };
          call.send(list.response.encode({ statuses }));
          call.finish(Code.OK, '');
        }, list),
      ],
      [
        prefix + 'Watch',
        unary((call, req) => this.watch(call, String(req.service ?? ''), watch.response.encode), watch),
      ],
    ]);
  }

  private watch(call: BuiltinCallContext, name: string, encode: (v: Record<string, unknown>) => Uint8Array): void {
    let last: Status | undefined;
    const tick = () => {
      if (call.done) return stop();
      const now = this.status(call.domain, name);
      if (now !== last) {
        last = now;
        call.send(encode({ status: now }));
      }
    };
    const timer = setInterval(tick, this.opts.watchIntervalMs ?? 500);
    const stop = () => {
      clearInterval(timer);
      this.watches.delete(call);
    };
    this.watches.add(call);
    call.signal.addEventListener('abort', stop, { once: true });
    tick();
  }

  /** Ends every Watch (shutdown): clients see NOT_SERVING, then UNAVAILABLE. */
  close(): void {
    this.closed = true;
    const encode = healthProto().methods.get('Watch')!.response.encode;
    for (const call of this.watches) {
      call.send(encode({ status: 'NOT_SERVING' }));
      call.finish(Code.UNAVAILABLE, 'the node is shutting down');
    }
    this.watches.clear();
  }
}

// The node's own services, as built-in methods for the gRPC handler.
import type { RouteTable } from '../../pods/routing.js';
import type { BuiltinMethod } from '../grpc/builtin.js';
import { HEALTH_SERVICE, HealthService, healthProto, type PodHealth } from './health.js';
import { REFLECTION_V1, REFLECTION_V1ALPHA, ReflectionService, reflectionProto } from './reflection.js';

export interface Builtins {
  readonly methods: ReadonlyMap<string, BuiltinMethod>;
  readonly health: HealthService;
  readonly reflection: ReflectionService;
}

/** `pod`: the built-ins of one pod's listener (health answers for that pod; `routes` is that pod's). */
export function createBuiltins(routes: RouteTable, opts: { watchIntervalMs?: number; pod?: PodHealth } = {}): Builtins {
  const names = new Set([HEALTH_SERVICE, REFLECTION_V1, REFLECTION_V1ALPHA]);
  const files = [...healthProto().files, ...reflectionProto('v1').files, ...reflectionProto('v1alpha').files];
  const health = new HealthService({ routes, builtinServices: names, watchIntervalMs: opts.watchIntervalMs, pod: opts.pod });
  const reflection = new ReflectionService({ routes, builtinFiles: files });
  const methods = new Map<string, BuiltinMethod>([...health.methods(), ...reflection.methods()]);
  return { methods, health, reflection };
}

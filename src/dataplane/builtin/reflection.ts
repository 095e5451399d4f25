// Server reflection (grpc.reflection.v1 and v1alpha; same messages, two
// package names) over the running components' descriptor sets, so grpcurl,
// Postman and `workd call` need no .proto files.
//
// Scope: the services of the request's domain (the `:authority` host), or of
// every domain when that host has none (an IP address or `localhost`), plus the
// node's own services. Per service, the highest running version's descriptor
// set describes it (that version serves calls without a `workd-version` pin).
import { join } from 'node:path';
import { Code } from '../../errors.js';
import type { RouteTable } from '../../pods/routing.js';
import type { BuiltinCallContext, BuiltinMethod } from '../grpc/builtin.js';
import { indexDescriptorSet, indexFiles, type DescriptorIndex } from './descriptors.js';
import { loadService, PROTO_ROOT, type Codec, type LoadedService } from './protos.js';

export const REFLECTION_V1 = 'grpc.reflection.v1.ServerReflection';
export const REFLECTION_V1ALPHA = 'grpc.reflection.v1alpha.ServerReflection';

const loaded = new Map<string, LoadedService>();
export function reflectionProto(version: 'v1' | 'v1alpha'): LoadedService {
  const name = version === 'v1' ? REFLECTION_V1 : REFLECTION_V1ALPHA;
  let s = loaded.get(name);
  if (s === undefined) loaded.set(name, (s = loadService(join(PROTO_ROOT, `grpc/reflection/${version}/reflection.proto`), name)));
  return s;
}

interface ReflectionRequest {
  host?: string;
  message_request?: string;
  file_by_filename?: string;
  file_containing_symbol?: string;
  file_containing_extension?: { containing_type?: string; extension_number?: number };
  all_extension_numbers_of_type?: string;
  list_services?: string;
}

export interface ReflectionOptions {
  readonly routes: RouteTable;
  /** Serialized FileDescriptorProtos of the node's own services (health, reflection). */
  readonly builtinFiles: readonly Uint8Array[];
}

export class ReflectionService {
  private readonly builtin: DescriptorIndex;

  constructor(private readonly opts: ReflectionOptions) {
    this.builtin = indexFiles(opts.builtinFiles);
  }

  /** The indexes in scope for a domain, node's own services last. */
  scope(domain: string): DescriptorIndex[] {
    const mine: DescriptorIndex[] = [];
    const all: DescriptorIndex[] = [];
    for (const svc of this.opts.routes.runningServices()) {
      const top = svc.versions[0]?.containers[0];
      if (top === undefined) continue;
      let idx: DescriptorIndex;
      try {
        idx = indexDescriptorSet(top.descriptorSet);
      } catch {
        continue; // An image with a broken descriptor set is reported by the image store, not here.
      }
      all.push(idx);
      if (svc.domain === domain) mine.push(idx);
    }
    const chosen = mine.length > 0 ? mine : all;
    chosen.push(this.builtin);
    return chosen;
  }

  /** Services to list: each component's own service (not every service its files happen to declare). */
  listServices(domain: string): string[] {
    const mine: string[] = [];
    const all: string[] = [];
    for (const svc of this.opts.routes.runningServices()) {
      if (svc.versions.length === 0) continue;
      all.push(svc.service);
      if (svc.domain === domain) mine.push(svc.service);
    }
    const names = new Set(mine.length > 0 ? mine : all);
    for (const s of this.builtin.services) names.add(s);
    return [...names].sort();
  }

  methods(): Map<string, BuiltinMethod> {
    const out = new Map<string, BuiltinMethod>();
    for (const version of ['v1', 'v1alpha'] as const) {
      const proto = reflectionProto(version);
      const codec = proto.methods.get('ServerReflectionInfo')!;
      out.set(`/${proto.name}/ServerReflectionInfo`, {
        start: (call) => ({
          message: (bytes) => this.answer(call, codec.request, codec.response, bytes),
          halfClose: () => call.finish(Code.OK, ''),
        }),
      });
    }
    return out;
  }

  private answer(call: BuiltinCallContext, reqCodec: Codec, resCodec: Codec, bytes: Uint8Array): void {
    let req: ReflectionRequest;
    try {
      req = reqCodec.decode(bytes) as ReflectionRequest;
    } catch (err) {
      return call.finish(Code.INVALID_ARGUMENT, `cannot decode ServerReflectionRequest: ${(err as Error).message}`);
    }
    const base = { valid_host: req.host ?? '', original_request: req };
    const error = (code: number, message: string) => ({ ...base, error_response: { error_code: code, error_message: message } });
    const files = (names: string[], scope: DescriptorIndex[]) => ({ ...base, file_descriptor_response: { file_descriptor_proto: withDeps(names, scope) } });
    let res: Record<string, unknown>;
    switch (req.message_request) {
      case 'list_services':
        res = { ...base, list_services_response: { service: this.listServices(call.domain).map((name) => ({ name })) } };
        break;
      case 'file_by_filename': {
        const name = req.file_by_filename ?? '';
        const scope = this.scope(call.domain);
        res = scope.some((i) => i.files.has(name)) ? files([name], scope) : error(Code.NOT_FOUND, `file ${JSON.stringify(name)} not found`);
        break;
      }
      case 'file_containing_symbol': {
        const symbol = (req.file_containing_symbol ?? '').replace(/^\./, '');
        const scope = this.scope(call.domain);
        const file = lookup(scope, (i) => i.symbols.get(symbol));
        res = file !== undefined ? files([file], scope) : error(Code.NOT_FOUND, `symbol ${JSON.stringify(symbol)} not found`);
        break;
      }
      case 'file_containing_extension': {
        const type = (req.file_containing_extension?.containing_type ?? '').replace(/^\./, '');
        const num = req.file_containing_extension?.extension_number ?? 0;
        const scope = this.scope(call.domain);
        const file = lookup(scope, (i) => i.extensions.get(type)?.get(num));
        res = file !== undefined ? files([file], scope) : error(Code.NOT_FOUND, `extension ${num} of ${JSON.stringify(type)} not found`);
        break;
      }
      case 'all_extension_numbers_of_type': {
        const type = (req.all_extension_numbers_of_type ?? '').replace(/^\./, '');
        const scope = this.scope(call.domain);
        if (lookup(scope, (i) => i.symbols.get(type)) === undefined) {
          res = error(Code.NOT_FOUND, `type ${JSON.stringify(type)} not found`);
          break;
        }
        const nums = new Set<number>();
        for (const i of scope) for (const n of i.extensions.get(type)?.keys() ?? []) nums.add(n);
        res = { ...base, all_extension_numbers_response: { base_type_name: type, extension_number: [...nums].sort((a, b) => a - b) } };
        break;
      }
      default:
        res = error(Code.INVALID_ARGUMENT, 'ServerReflectionRequest sets no message_request');
    }
    call.send(resCodec.encode(res));
  }
}

function lookup<T>(scope: readonly DescriptorIndex[], get: (i: DescriptorIndex) => T | undefined): T | undefined {
  for (const i of scope) {
    const v = get(i);
    if (v !== undefined) return v;
  }
  return undefined;
}

/** The named files and everything they import, transitively, each once, dependencies first. */
function withDeps(names: readonly string[], scope: readonly DescriptorIndex[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const owner = scope.find((i) => i.files.has(name));
    if (owner === undefined) return; // An import missing from the set: the client sees what exists.
    for (const d of owner.deps.get(name) ?? []) visit(d);
    out.push(owner.files.get(name)!);
  };
  for (const n of names) visit(n);
  return out;
}

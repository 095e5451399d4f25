// The author's inputs for one component — a .wasm module, the service's .proto
// files (or a descriptor set) and the component name — read and checked by the
// node's own validator (src/wasm/validate.ts), for `workd image build`,
// `workd dev` and workd/testing.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultConfig } from '../config.js';
import { invalidArgument } from '../errors.js';
import { readWasmFile } from '../images/build.js';
import { componentIdentity, componentLayers, parseManifest } from '../images/manifest.js';
import { compileProtoFilesToBinary, parseDescriptorSet, requireService } from '../images/proto-compile.js';
import { parseComponentName, type ComponentName } from '../pods/names.js';
import { Code, WorkdError } from '../errors.js';
import { analyzeGuest, type GuestSpec } from '../wasm/guest-abi.js';
import { memoryPagesFor } from '../wasm/container.js';
import { serviceError, serviceMismatches, validateModule, type ModuleReport } from '../wasm/validate.js';

export interface ComponentSources {
  readonly wasm: string;
  readonly protoFiles?: readonly string[];
  readonly protoIncludeDirs?: readonly string[];
  readonly descriptorSet?: string;
  readonly component: string;
  /** Default: the node's default container memory limit (executor.memory_limit_bytes). */
  readonly memoryLimitBytes?: number;
}

export interface CheckedComponent {
  readonly component: ComponentName;
  readonly wasm: Uint8Array;
  readonly descriptorSet: Uint8Array;
  /** The service's rpcs, simple names. */
  readonly rpcs: readonly string[];
  readonly report: ModuleReport;
}

/** Compiles the .proto files (or reads the descriptor set) into a binary FileDescriptorSet. */
export async function readDescriptors(s: Pick<ComponentSources, 'protoFiles' | 'protoIncludeDirs' | 'descriptorSet'>): Promise<Uint8Array> {
  if ((s.protoFiles?.length ?? 0) > 0 && s.descriptorSet) throw invalidArgument('give either .proto files or a descriptor set, not both');
  if (s.descriptorSet) return readFile(s.descriptorSet).catch((e: Error) => { throw invalidArgument(`cannot read ${s.descriptorSet}: ${e.message}`); });
  if (s.protoFiles?.length) return compileProtoFilesToBinary(s.protoFiles, { includeDirs: [...(s.protoIncludeDirs ?? [])] });
  throw invalidArgument('the service needs its .proto files (--proto) or a descriptor set (--descriptor-set)');
}

/** The rpcs of `service` in a descriptor set; INVALID_ARGUMENT when the set does not define it. */
export function serviceRpcs(descriptorSet: Uint8Array, service: string): string[] {
  const { registry } = parseDescriptorSet(descriptorSet);
  requireService(registry, service);
  return registry.getService(service)!.methods.map((m) => m.name);
}

/** Checks bytes already in hand: throws what StartContainer would throw. */
export function checkComponent(wasm: Uint8Array, descriptorSet: Uint8Array, componentName: string, memoryLimitBytes?: number): CheckedComponent {
  const component = parseComponentName(componentName);
  const rpcs = serviceRpcs(descriptorSet, component.service);
  const { report } = checkComponentModule(wasm, component.service, rpcs, memoryLimitBytes ?? defaultConfig().executor.memoryLimitBytes);
  return { component, wasm, descriptorSet, rpcs, report };
}

/** Reads and checks the sources of a component. */
export async function loadComponentSources(s: ComponentSources): Promise<CheckedComponent> {
  const wasm = await readWasmFile(s.wasm);
  return checkComponent(wasm, await readDescriptors(s), s.component, s.memoryLimitBytes);
}

/**
 * Everything the node checks before a container of this module serves, by the
 * node's own functions: the ABI and the per-image rewrite (analyzeGuest, as
 * CreateContainer/StartContainer), the compile, the memory needed to start
 * (as StartContainer), and the module's methods against the service's rpcs
 * (StartContainer only warns; here either mismatch is an error).
 */
export function checkComponentModule(wasm: Uint8Array, service: string, rpcs: readonly string[], memoryLimitBytes: number): { report: ModuleReport; guest: GuestSpec } {
  const report = validateModule(wasm);
  const guest = analyzeGuest(wasm);
  try {
    new WebAssembly.Module(guest.rewrite.bytes);
  } catch (err) {
    throw new WorkdError(Code.INVALID_ARGUMENT, `the module does not compile: ${(err as Error).message}`);
  }
  const r = guest.rewrite;
  memoryPagesFor({ mutableGlobals: r.mutableGlobals, tables: r.tables, tableEntries: r.tableEntries, tableWrites: r.tableWrites, dirtyTracking: r.dirtyTracking, memoryMin: r.memory.min, memoryMax: r.memory.max, hasInitialize: guest.hasInitialize }, memoryLimitBytes);
  const { missing, extra } = serviceMismatches(service, rpcs, report.methods);
  if (missing.length + extra.length > 0) throw serviceError([...missing, ...extra]);
  return { report, guest };
}

/** Reads an OCI image layout directory (as `workd image build` writes it): the module, descriptors and component name. */
export async function readImageLayout(dir: string): Promise<{ wasm: Uint8Array; descriptorSet: Uint8Array; component: string; abiVersion: number }> {
  const blob = async (digest: string) => {
    const hex = digest.replace(/^sha256:/, '');
    return readFile(join(dir, 'blobs', 'sha256', hex)).catch((e: Error) => { throw invalidArgument(`${dir}: blob ${digest} is missing: ${e.message}`); });
  };
  const indexText = await readFile(join(dir, 'index.json'), 'utf8').catch((e: Error) => { throw invalidArgument(`${dir} is not an OCI image layout (no index.json: ${e.message}); build one with \`workd image build\``); });
  const index = JSON.parse(indexText) as { manifests?: Array<{ digest: string; mediaType?: string }> };
  const first = index.manifests?.[0];
  if (!first) throw invalidArgument(`${dir}/index.json lists no manifest`);
  const parsed = parseManifest(await blob(first.digest), first.mediaType, dir);
  const manifest = parsed.kind === 'manifest' ? parsed.manifest : undefined;
  if (!manifest) throw invalidArgument(`${dir}: the index's first entry is an index, not a component manifest`);
  const layers = componentLayers(manifest, dir);
  const { component, abiVersion } = componentIdentity(manifest, await blob(layers.config.digest), dir);
  return { wasm: await blob(layers.wasm.digest), descriptorSet: await blob(layers.descriptorSet.digest), component: component.name, abiVersion };
}

/** A component name for a .wasm given without one: the service the .proto defines (exactly one), at `localhost`, version 0.0.0. */
export function defaultComponentName(descriptorSet: Uint8Array): string {
  const { registry } = parseDescriptorSet(descriptorSet);
  const services: string[] = [];
  for (const t of registry) if (t.kind === 'service') services.push(t.typeName);
  if (services.length !== 1) {
    throw invalidArgument(`the .proto files define ${services.length === 0 ? 'no service' : `${services.length} services (${services.join(', ')})`}: name the component (e.g. example.com:${services[0] ?? 'pkg.Service'}@1.0.0)`);
  }
  return `localhost:${services[0]}@0.0.0`;
}

// The module validator: the one check of a module against guest ABI v1
// (docs/guest-abi.md), and of a component against its service's WIT world
// (validateComponent, docs/components.md), that both the node (CreateContainer/StartContainer, via
// analyzeGuest) and the author's tools (`workd image build`, `workd dev`,
// workd/testing) run, so a module refused at start is refused at build time
// with the same words. Errors say what to change; warnings name what is legal
// but most likely a mistake.
import { invalidArgument } from '../errors.js';
import { inspectModule, WasmFormatError, type FuncType, type ModuleInfo } from './wasm-binary.js';
import type { Registry } from '@bufbuild/protobuf';
import { parseDescriptorSet } from '../images/proto-compile.js';
import { mapService } from '../components/wit/mapping.js';
import { readComponentWorld, worldMismatches, type ComponentWorld } from '../components/wit/check.js';
import { ALLOC_EXPORT, isReservedName, WASI_IMPORTS, WASI_MODULE, WORKD_IMPORTS, WORKD_MODULE } from './abi.js';

const LETTER: Record<number, string> = { 0x7f: 'i', 0x7e: 'I', 0x7d: 'f', 0x7c: 'F' };
function signature(t: FuncType | undefined): string {
  if (!t) return '?';
  const s = (v: readonly number[]) => v.map((x) => LETTER[x] ?? '?').join('');
  return `${s(t.params)}>${s(t.results)}`;
}
function describe(sig: string): string {
  const [p, r] = sig.split('>') as [string, string];
  const names = (s: string) => [...s].map((c) => ({ i: 'i32', I: 'i64', f: 'f32', F: 'f64' })[c] ?? '?').join(', ');
  return `(${names(p)}) -> (${names(r)})`;
}

const METHOD_SIG = 'ii>i';
const ALLOC_SIG = 'i>i';

/** What toolchains import that the node does not provide, and how to avoid it. */
const IMPORT_HINTS: Record<string, string> = {
  'env.abort': 'AssemblyScript: extend the SDK\'s asconfig.json, or build with --use abort=~lib/workd-assemblyscript/abi/workdAbort (sdk/assemblyscript/README.md)',
  'env.seed': 'AssemblyScript: do not use Math.random without a WASI shim, or build with --use Math=NativeMath and --use seed=...',
  'env.trace': 'AssemblyScript: remove trace() calls',
};

/** WASI functions that link but can never succeed here: importing one usually means code that will fail at run time. */
const WASI_ALWAYS_FAILS: Record<string, string> = {
  path_open: 'there is no filesystem',
  sock_accept: 'there are no sockets',
  sock_recv: 'there are no sockets',
  sock_send: 'there are no sockets',
  poll_oneoff: 'it answers ENOSYS (no sleeping or polling)',
};

export interface ModuleReport {
  /** Method exports, in export order. */
  readonly methods: readonly string[];
  readonly hasInitialize: boolean;
  readonly info: ModuleInfo;
  /** The module's own memory (64 KiB pages). */
  readonly memory: { readonly min: number; readonly max?: number };
  /** Legal but most likely wrong. */
  readonly warnings: readonly string[];
}

/**
 * Checks a module against guest ABI v1. Throws INVALID_ARGUMENT listing every
 * problem ("the module does not follow guest ABI v1: ...").
 */
export function validateModule(wasm: Uint8Array): ModuleReport {
  let info: ModuleInfo;
  try {
    info = inspectModule(wasm);
  } catch (err) {
    if (err instanceof WasmFormatError) throw invalidArgument(`the module is not valid WebAssembly: ${err.message}`);
    throw err;
  }
  const problems: string[] = [];
  const warnings: string[] = [];
  for (const imp of info.imports) {
    const where = `import ${imp.module}.${imp.name}`;
    const hint = IMPORT_HINTS[`${imp.module}.${imp.name}`];
    const table = imp.module === WORKD_MODULE ? WORKD_IMPORTS : imp.module === WASI_MODULE ? WASI_IMPORTS : undefined;
    if (!table) {
      problems.push(`${where}: the node provides only the modules ${WASI_MODULE} and ${WORKD_MODULE}${hint ? ` (${hint})` : ''}`);
      continue;
    }
    const want = Object.hasOwn(table, imp.name) ? table[imp.name] : undefined;
    if (imp.kind !== 'func' || want === undefined) {
      problems.push(`${where}: not a function the node provides`);
      continue;
    }
    const got = signature(info.types[imp.typeIndex!]);
    if (got !== want) problems.push(`${where} has type ${describe(got)}; the node provides ${describe(want)}`);
    else if (imp.module === WASI_MODULE && Object.hasOwn(WASI_ALWAYS_FAILS, imp.name)) {
      warnings.push(`${where} always fails on the node: ${WASI_ALWAYS_FAILS[imp.name]}`);
    }
  }
  const funcSig = (index: number) => signature(info.types[info.funcTypes[index]!]);
  const memExport = info.exports.find((e) => e.name === 'memory');
  if (!memExport || memExport.kind !== 'memory') problems.push('the module does not export its memory as "memory"');
  const alloc = info.exports.find((e) => e.name === ALLOC_EXPORT);
  if (!alloc || alloc.kind !== 'func') problems.push(`the module does not export the function ${ALLOC_EXPORT}`);
  else if (funcSig(alloc.index) !== ALLOC_SIG) problems.push(`${ALLOC_EXPORT} has type ${describe(funcSig(alloc.index))}; it must be ${describe(ALLOC_SIG)}`);
  const methods: string[] = [];
  for (const e of info.exports) {
    if (e.kind !== 'func' || isReservedName(e.name)) continue;
    const sig = funcSig(e.index);
    if (sig !== METHOD_SIG) problems.push(`method export ${JSON.stringify(e.name)} has type ${describe(sig)}; methods must be ${describe(METHOD_SIG)}`);
    else methods.push(e.name);
  }
  const init = info.exports.find((e) => e.name === '_initialize');
  if (init && (init.kind !== 'func' || funcSig(init.index) !== '>')) problems.push('_initialize must be a function of type () -> ()');
  const start = info.exports.find((e) => e.name === '_start');
  if (start && !init) {
    problems.push(
      'the module is a WASI command (it exports _start and no _initialize): the node never calls _start, so its constructors would never run; ' +
        'build it as a reactor (clang -mexec-model=reactor; Rust: crate-type = ["cdylib"])',
    );
  } else if (start) {
    warnings.push('the module exports _start, which the node never calls (components are reactors; only _initialize runs)');
  }
  if (info.memories.length > 1) problems.push(`the module defines ${info.memories.length} memories; guest ABI v1 requires exactly one`);
  const own = info.memories[0];
  if (own?.is64) problems.push('the module uses a 64-bit memory; guest ABI v1 requires a 32-bit memory');
  if (own?.shared) problems.push('the module uses a shared memory; guest ABI v1 requires an unshared memory');
  if (problems.length > 0) throw invalidArgument(`the module does not follow guest ABI v1: ${problems.join('; ')}`);
  const mem = info.memories[0];
  if (methods.length === 0) warnings.push('the module exports no methods: every call will answer UNIMPLEMENTED');
  return { methods, hasInitialize: init !== undefined, info, memory: { min: mem?.min ?? 0, max: mem?.max }, warnings };
}

/**
 * The module's methods against the service's `.proto`: rpcs the module does
 * not export (`missing`) and method exports no rpc names (`extra`), each
 * naming the method.
 */
export function serviceMismatches(service: string, rpcs: readonly string[], exported: readonly string[]): { missing: string[]; extra: string[] } {
  const have = new Set(exported);
  const want = new Set(rpcs);
  const near = (name: string, pool: Iterable<string>) => {
    for (const p of pool) if (p.toLowerCase() === name.toLowerCase()) return ` (did you mean ${JSON.stringify(p)}? names are case-sensitive)`;
    return '';
  };
  return {
    missing: rpcs.filter((r) => !have.has(r)).map((r) => `rpc ${service}/${r} is not exported by the module${near(r, have)}`),
    extra: exported.filter((e) => !want.has(e)).map((e) => `the module exports ${JSON.stringify(e)}, which service ${service} does not name${near(e, want)}`),
  };
}

/** The error for mismatches found by serviceMismatches. */
export function serviceError(problems: readonly string[]): Error {
  return invalidArgument(`the module does not implement its service: ${problems.join('; ')}`);
}


/** What the node reads from a component that matches its service's world. */
export interface ComponentReport {
  /** The WIT functions, in the world's order. */
  readonly functions: readonly string[];
  /** As the Wasm OCI artifact's config lists them (`wasi:cli/stdout@0.2.3`, `workd:grpc/call@0.1.0`, `shop`). */
  readonly imports: readonly string[];
  readonly exports: readonly string[];
}

/**
 * Checks a component (docs/components.md) against the world its service's
 * descriptors give: it must export exactly that interface, each function with
 * exactly its type. Throws INVALID_ARGUMENT naming every missing, extra or
 * mistyped function or type. `workd image build` runs it; the node runs
 * checkComponentWorld when it prepares the image (src/components/runtime/prepare.ts).
 */
export async function validateComponent(wasm: Uint8Array, descriptors: Uint8Array | Registry, service: string): Promise<ComponentReport> {
  return checkComponentWorld(await readComponentWorld(wasm), descriptors, service);
}

/** validateComponent's check on a world already read from the component (the node keeps it with the transpile). */
export function checkComponentWorld(got: ComponentWorld, descriptors: Uint8Array | Registry, service: string): ComponentReport {
  const registry = descriptors instanceof Uint8Array ? parseDescriptorSet(descriptors).registry : descriptors;
  const world = mapService(registry, service);
  const problems = worldMismatches(world, got);
  if (problems.length > 0) throw invalidArgument(`the component does not implement the world of service ${service}: ${problems.join('; ')}`);
  return { functions: world.funcs.map((f) => f.name), imports: got.imports, exports: got.exports };
}

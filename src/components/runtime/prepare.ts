// Main thread, once per image: a component → its world checked against the
// service's → jco's transpile (`--instantiation sync`: the glue takes the core
// modules and the imports from us) → each core module checked, rewritten for
// resettable execution (as ABI v1 modules are, src/wasm/rewrite.ts) and
// compiled. Everything before the compile depends on the component's bytes
// alone and is kept on disk (transpile-cache.ts), so a daemon restart only
// compiles. The executor caches the result per image in memory.
import type { transpileBytes } from '@bytecodealliance/jco-transpile';
import { Code, WorkdError } from '../../errors.js';
import { inspectModule, rewriteModule } from '../../wasm/rewrite.js';
import { I32 } from '../../wasm/wasm-binary.js';
import type { ModuleSpec } from '../../wasm/protocol.js';
import { checkComponentWorld } from '../../wasm/validate.js';
import { parseWorld, readComponentWit } from '../wit/check.js';
import { serviceCodec } from '../codec/index.js';
import { importId, type ComponentSpec, type CoreModuleSpec } from './protocol.js';
import type { TranspileCache } from './transpile-cache.js';
import { canonLifts, type CanonLift } from './canon-lifts.js';

export interface PreparedComponent {
  /** What the worker pool sends to workers (the main core module and the spec with the component). */
  readonly module: WebAssembly.Module;
  readonly spec: ModuleSpec;
  /** The rpcs of the service (by simple name). */
  readonly methods: readonly string[];
  /** How long the transpile (or reading it from the cache) and the compiles took, in ms (logged; docs/components.md, "Cost"). */
  readonly transpileMs: number;
  readonly compileMs: number;
  /** The transpile came from the on-disk cache. */
  readonly cached: boolean;
}

/** A core module of the transpile, rewritten but not compiled: what the cache keeps. */
export interface TranspiledCore extends Omit<CoreModuleSpec, 'module'> {
  /** The rewritten module's bytes. */
  readonly bytes: Uint8Array;
  readonly memoryMax: number | undefined;
  readonly tableEntries: number;
}

/** Everything prepareComponent derives from the component's bytes alone. */
export interface TranspiledComponent {
  /** The component's own world as wasm-tools prints it (checked against the service's at every prepare). */
  readonly world: string;
  readonly glue: string;
  readonly imports: readonly string[];
  readonly cores: readonly TranspiledCore[];
  readonly lifts: readonly CanonLift[];
}

/** `world`: the component's WIT (readComponentWit), read by the caller to check it first. */
export async function transpileComponent(wasm: Uint8Array, world: string): Promise<TranspiledComponent> {
  // Loaded on first use (~100 ms of CPU): a daemon serving only core modules never needs it.
  const jco = await import('@bytecodealliance/jco-transpile');
  let out: Awaited<ReturnType<typeof transpileBytes>>;
  try {
    out = await jco.transpileBytes(wasm, { name: 'component', instantiation: 'sync', emitTypescriptDeclarations: false, base64Cutoff: 0, noComponentErrorWrapping: false });
  } catch (err) {
    throw new WorkdError(Code.INVALID_ARGUMENT, `the component cannot be transpiled: ${(err as Error).message ?? String(err)}`);
  }
  const glueFile = Object.keys(out.files).find((f) => f.endsWith('.js'));
  if (!glueFile) throw new WorkdError(Code.INTERNAL, 'jco transpile produced no glue');
  const cores: TranspiledCore[] = [];
  for (const [name, bytes] of Object.entries(out.files)) {
    if (!name.endsWith('.wasm')) continue;
    const info = inspectModule(bytes);
    const r = rewriteModule(bytes, info, { sharedMemory: true });
    const retptrImports = info.imports
      .filter((i) => i.kind === 'func' && i.typeIndex !== undefined)
      .filter((i) => {
        const t = info.types[i.typeIndex!]!;
        return t.results.length === 0 && t.params.length > 0 && t.params[t.params.length - 1] === I32;
      })
      .map((i) => importId(i.module, i.name));
    cores.push({
      name,
      bytes: r.bytes,
      mutableGlobals: r.mutableGlobals,
      tables: r.tables,
      tableWrites: r.tableWrites,
      dirtyTracking: r.dirtyTracking,
      hostMemory: r.hostMemory,
      memoryMin: r.memory.min,
      memoryMax: r.memory.max,
      tableEntries: r.tableEntries,
      retptrImports,
    });
  }
  return { world, glue: new TextDecoder().decode(out.files[glueFile]), imports: out.imports, cores, lifts: canonLifts(wasm) };
}

/**
 * Prepares a component of an image for the workers. `cache` (with the
 * image's ID as key) keeps the transpile across daemon restarts; a component
 * whose world is not the service's is refused either way.
 */
export async function prepareComponent(
  wasm: Uint8Array,
  descriptorSet: Uint8Array,
  service: string,
  cache?: { readonly store: TranspileCache; readonly key: string },
): Promise<PreparedComponent> {
  const codec = serviceCodec(descriptorSet, service);
  const t0 = performance.now();
  let t = await cache?.store.get(cache.key, wasm);
  const cached = t !== undefined;
  if (!t) {
    // The world first, so a mismatched component is refused before the long transpile.
    const world = await readComponentWit(wasm);
    checkComponentWorld(parseWorld(world), descriptorSet, service);
    t = await transpileComponent(wasm, world);
    await cache?.store.put(cache.key, wasm, t);
  } else {
    checkComponentWorld(parseWorld(t.world), descriptorSet, service);
  }
  const t1 = performance.now();
  const cores: CoreModuleSpec[] = [];
  let main: { core: CoreModuleSpec; from: TranspiledCore } | undefined;
  let tableEntries = 0;
  for (const c of t.cores) {
    let module: WebAssembly.Module;
    try {
      module = await WebAssembly.compile(c.bytes);
    } catch (err) {
      throw new WorkdError(Code.INVALID_ARGUMENT, `the component's core module ${c.name} does not compile: ${(err as Error).message}`);
    }
    const { bytes: _bytes, memoryMax: _max, tableEntries: n, ...meta } = c;
    const core: CoreModuleSpec = { ...meta, module };
    cores.push(core);
    tableEntries += n;
    if (c.hostMemory && (!main || c.memoryMin > main.from.memoryMin)) main = { core, from: c };
  }
  const t2 = performance.now();
  const first = main?.core ?? cores[0];
  if (!first) throw new WorkdError(Code.INVALID_ARGUMENT, 'the component has no core module');
  const component: ComponentSpec = { glue: t.glue, cores, imports: t.imports, descriptorSet, service, lifts: t.lifts };
  return {
    module: first.module,
    spec: {
      mutableGlobals: [],
      tables: [],
      tableEntries,
      tableWrites: false,
      dirtyTracking: true,
      memoryMin: main?.from.memoryMin ?? 0,
      memoryMax: main?.from.memoryMax,
      hasInitialize: false,
      component,
    },
    methods: [...codec.methods.keys()],
    transpileMs: t1 - t0,
    compileMs: t2 - t1,
    cached,
  };
}

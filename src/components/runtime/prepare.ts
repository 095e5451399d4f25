// Main thread, once per image: a component → jco's transpile (`--instantiation
// sync`: the glue takes the core modules and the imports from us) → each core
// module checked, rewritten for resettable execution (as ABI v1 modules are,
// src/wasm/rewrite.ts) and compiled. The executor caches the result per image.
import { transpileBytes } from '@bytecodealliance/jco-transpile';
import { Code, WorkdError } from '../../errors.js';
import { inspectModule, rewriteModule } from '../../wasm/rewrite.js';
import { I32 } from '../../wasm/wasm-binary.js';
import type { ModuleSpec } from '../../wasm/protocol.js';
import { serviceCodec } from '../codec/index.js';
import { importId, type ComponentSpec, type CoreModuleSpec } from './protocol.js';

export interface PreparedComponent {
  /** What the worker pool sends to workers (the main core module and the spec with the component). */
  readonly module: WebAssembly.Module;
  readonly spec: ModuleSpec;
  /** The rpcs of the service (by simple name). */
  readonly methods: readonly string[];
  /** How long the transpile and the compiles took, in ms (logged; docs/components.md, "Cost"). */
  readonly transpileMs: number;
  readonly compileMs: number;
}

export async function prepareComponent(wasm: Uint8Array, descriptorSet: Uint8Array, service: string): Promise<PreparedComponent> {
  const codec = serviceCodec(descriptorSet, service);
  const t0 = performance.now();
  let out: Awaited<ReturnType<typeof transpileBytes>>;
  try {
    out = await transpileBytes(wasm, { name: 'component', instantiation: 'sync', emitTypescriptDeclarations: false, base64Cutoff: 0, noComponentErrorWrapping: false });
  } catch (err) {
    throw new WorkdError(Code.INVALID_ARGUMENT, `the component cannot be transpiled: ${(err as Error).message ?? String(err)}`);
  }
  const t1 = performance.now();
  const glueFile = Object.keys(out.files).find((f) => f.endsWith('.js'));
  if (!glueFile) throw new WorkdError(Code.INTERNAL, 'jco transpile produced no glue');
  const cores: CoreModuleSpec[] = [];
  let main: { core: CoreModuleSpec; min: number; max?: number } | undefined;
  let tableEntries = 0;
  for (const [name, bytes] of Object.entries(out.files)) {
    if (!name.endsWith('.wasm')) continue;
    const info = inspectModule(bytes);
    const r = rewriteModule(bytes, info, { sharedMemory: true });
    let module: WebAssembly.Module;
    try {
      module = await WebAssembly.compile(r.bytes);
    } catch (err) {
      throw new WorkdError(Code.INVALID_ARGUMENT, `the component's core module ${name} does not compile: ${(err as Error).message}`);
    }
    const retptrImports = info.imports
      .filter((i) => i.kind === 'func' && i.typeIndex !== undefined)
      .filter((i) => {
        const t = info.types[i.typeIndex!]!;
        return t.results.length === 0 && t.params.length > 0 && t.params[t.params.length - 1] === I32;
      })
      .map((i) => importId(i.module, i.name));
    const core: CoreModuleSpec = {
      name,
      module,
      mutableGlobals: r.mutableGlobals,
      tables: r.tables,
      tableWrites: r.tableWrites,
      dirtyTracking: r.dirtyTracking,
      hostMemory: r.hostMemory,
      memoryMin: r.memory.min,
      retptrImports,
    };
    cores.push(core);
    tableEntries += r.tableEntries;
    if (r.hostMemory && (!main || r.memory.min > main.min)) main = { core, min: r.memory.min, max: r.memory.max };
  }
  const t2 = performance.now();
  const first = main?.core ?? cores[0];
  if (!first) throw new WorkdError(Code.INVALID_ARGUMENT, 'the component has no core module');
  const component: ComponentSpec = {
    glue: new TextDecoder().decode(out.files[glueFile]),
    cores,
    imports: out.imports,
    descriptorSet,
    service,
  };
  return {
    module: first.module,
    spec: {
      mutableGlobals: [],
      tables: [],
      tableEntries,
      tableWrites: false,
      dirtyTracking: true,
      memoryMin: main?.min ?? 0,
      memoryMax: main?.max,
      hasInitialize: false,
      component,
    },
    methods: [...codec.methods.keys()],
    transpileMs: t1 - t0,
    compileMs: t2 - t1,
  };
}

// What a worker thread needs to run a component: the core modules jco's
// transpile produced (rewritten and compiled once per image, as ABI v1 modules
// are), the glue (an ES module), and the service's descriptor set for the codec.
// Travels inside ModuleSpec.component (src/wasm/protocol.ts).
import type { CanonLift } from './canon-lifts.js';

export interface CoreModuleSpec {
  /** The file name the glue asks for (`getCoreModule('x.core.wasm')`). */
  readonly name: string;
  readonly module: WebAssembly.Module;
  readonly mutableGlobals: readonly number[];
  readonly tables: readonly number[];
  readonly tableWrites: boolean;
  readonly dirtyTracking: boolean;
  /** The module's memory is supplied by the host (`workd.workd_memory`), with these pages at start. */
  readonly hostMemory: boolean;
  readonly memoryMin: number;
  /**
   * Imported functions that may be given a result pointer (no results, last
   * parameter i32): the glue writes an import's results there, from
   * JavaScript, where the module's write tracking cannot see it.
   */
  readonly retptrImports: readonly string[];
}

export interface ComponentSpec {
  /** jco's glue, an ES module exporting `instantiate(getCoreModule, imports, instantiateCore)`. */
  readonly glue: string;
  readonly cores: readonly CoreModuleSpec[];
  /** Interfaces the component imports (`wasi:cli/stdout@0.2.3`, ...). */
  readonly imports: readonly string[];
  readonly descriptorSet: Uint8Array;
  readonly service: string;
  /** The component's top-level `canon lift`s (canon-lifts.ts): what direct.ts calls without the glue. */
  readonly lifts: readonly CanonLift[];
}

/** Key of an import in retptrImports. */
export const importId = (module: string, name: string) => `${module}\u0000${name}`;

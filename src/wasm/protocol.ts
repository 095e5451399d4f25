// Messages between the executor (main thread) and its worker threads.
// Modules and container contexts are sent to a worker once, lazily, before
// the first batch that needs them; calls travel in batches.
import type { MetadataEntry } from './api.js';

/** What a worker needs to instantiate and reset a prepared module. */
export interface ModuleSpec {
  readonly mutableGlobals: readonly number[];
  readonly tables: readonly number[];
  readonly tableWrites: boolean;
  readonly memoryMin: number;
  readonly memoryMax?: number;
  readonly hasInitialize: boolean;
}

/** Watchdog slots in each worker's SharedArrayBuffer (Float64Array indices). */
export const WD_DEADLINE = 0; // epoch ms after which the running call is stopped; 0 when idle
export const WD_SEQ = 1; // seq of the running call
export const WD_CALLER = 2; // 1 when the deadline is the caller's, 0 when it is the CPU limit
export const WD_SLOTS = 3;

export type ToWorker =
  | { readonly t: 'module'; readonly key: string; readonly module: WebAssembly.Module; readonly spec: ModuleSpec }
  | { readonly t: 'evict'; readonly key: string }
  | {
      readonly t: 'ctx';
      readonly id: number;
      readonly moduleKey: string;
      /** Instances are shared by contexts with the same pool key (same module, memory limit, env, args). */
      readonly poolKey: string;
      readonly memoryPages: number;
      readonly env: readonly string[];
      readonly args: readonly string[];
    }
  | { readonly t: 'drop-ctx'; readonly id: number }
  | { readonly t: 'batch'; readonly calls: readonly WireCall[] };

export interface WireCall {
  readonly seq: number;
  readonly ctx: number;
  /** Empty for a start probe (instantiate and initialise only). */
  readonly method: string;
  readonly request: Uint8Array;
  readonly metadata: readonly MetadataEntry[];
  /** Epoch ms, or 0. */
  readonly deadline: number;
  readonly cpuMs: number;
}

export interface WireResult {
  readonly seq: number;
  readonly status: number;
  readonly message: string;
  readonly response?: Uint8Array;
  readonly trailers: readonly MetadataEntry[];
  readonly stdout?: Uint8Array;
  readonly stderr?: Uint8Array;
  /** Bytes of output dropped past the per-call cap. */
  readonly dropped: number;
}

export type FromWorker = { readonly t: 'results'; readonly results: readonly WireResult[] };

/** Milliseconds since the epoch with sub-millisecond precision, comparable across threads. */
export const nowMs = () => performance.timeOrigin + performance.now();

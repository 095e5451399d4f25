// Messages between the executor (main thread) and its worker threads.
// Modules and container contexts are sent to a worker once, lazily, before
// the first batch that needs them; calls travel in batches.
import { fixedLimit } from '../limits.js';
import type { MetadataEntry } from './api.js';
import type { ComponentSpec } from '../components/runtime/protocol.js';

/** What a worker needs to instantiate and reset a prepared module. */
export interface ModuleSpec {
  readonly mutableGlobals: readonly number[];
  readonly tables: readonly number[];
  /** Entries of all tables in a fresh instance (they count against the memory limit). */
  readonly tableEntries: number;
  readonly tableWrites: boolean;
  /** Memory writes are tracked (workd_dirty_lo/hi): restore only the range written. */
  readonly dirtyTracking: boolean;
  readonly memoryMin: number;
  readonly memoryMax?: number;
  readonly hasInitialize: boolean;
  /** Set for a component (src/components/runtime): the worker runs it in its component lane. */
  readonly component?: ComponentSpec;
}

/**
 * What one table entry costs, counted against the container's memory limit:
 * V8 holds ~28 bytes per funcref entry per instance (measured: RSS of five
 * instances of a 1M-entry table), and the reset snapshot ~9 more.
 */
export const TABLE_ENTRY_BYTES = 40;
export const PAGE_BYTES = 65536;

/** Watchdog slots in each worker's SharedArrayBuffer (Float64Array indices). */
export const WD_DEADLINE = 0; // the caller's deadline (epoch ms; Infinity if none) of the running call; 0 when idle
export const WD_SEQ = 1; // seq of the running call
export const WD_CPU_LIMIT = 2; // the running call's CPU limit, ms of its thread's CPU time (counted from WD_CPU_MARK)
export const WD_START = 3; // epoch ms when the running call started
export const WD_TID = 4; // the worker's kernel thread id (its CPU clock is readable from the main thread), 0 if unknown
export const WD_CPU0 = 5; // the worker's thread CPU ns when it last attributed CPU to calls (see worker.ts)
export const WD_CPU_MARK = 6; // the same, or later: right after an instantiation (which is not the call's running long)
export const WD_SLOTS = 7;

/**
 * The running call's output, copied to a SharedArrayBuffer of its worker as it
 * is written, so that a call stopped at its limit (its worker terminated)
 * still has it logged. Int32 header: bytes of stdout, bytes of stderr, bytes
 * dropped; then OUT_CAP bytes for each stream.
 */
export const OUT_CAP = fixedLimit('executorKilledCallOutputBytes');
export const OUT_STDOUT = 0;
export const OUT_STDERR = 1;
export const OUT_DROPPED = 2;
export const OUT_HEADER_BYTES = 12;
export const OUT_BYTES = OUT_HEADER_BYTES + 2 * OUT_CAP;

/**
 * Work stealing (Int32Array slots after the Float64 ones, used with Atomics):
 * when a call runs long, the main thread takes the calls queued behind it on
 * that worker and runs them elsewhere. The worker publishes which call of which
 * batch it is on before it checks the steal mark, and the main thread sets the
 * mark before it reads that position, so each queued call either runs on this
 * worker (the main thread saw it started) or comes back unrun (STATUS_REQUEUE).
 */
export const ST_STOLEN = 0; // batches with id <= this are taken back (calls not started must not run)
export const ST_BATCH = 1; // id of the batch the worker is on
export const ST_INDEX = 2; // index in that batch of the call it is on
export const ST_SLOTS = 3;
/** Result status of a call the worker gave back unrun after a steal. */
export const STATUS_REQUEUE = -1;

/** A compiled module a worker has not been sent yet. */
export interface ModuleMessage {
  readonly t: 'module';
  readonly key: string;
  readonly module: WebAssembly.Module;
  readonly spec: ModuleSpec;
}

export type ToWorker =
  | { readonly t: 'evict'; readonly key: string }
  | { readonly t: 'drop-ctx'; readonly id: number }
  | Batch;

/** A container as the workers know it: sent once per worker, with its first batch there. */
export interface CtxMessage {
  readonly t: 'ctx';
  readonly id: number;
  readonly moduleKey: string;
  /**
   * Instances are shared by contexts with the same pool key: module and memory
   * limit, plus envHash when the module's initialisation reads env or args (the
   * snapshot then depends on them). Otherwise env and args are read per call.
   */
  readonly poolKey: string;
  readonly envHash: string;
  readonly memoryPages: number;
  /** Linear memory plus tables (TABLE_ENTRY_BYTES each) may hold this much. */
  readonly memoryLimitBytes: number;
  readonly env: readonly string[];
  readonly args: readonly string[];
}

/**
 * Calls travel packed: one Float64Array of fixed fields and one byte array of
 * all requests, both transferred, so a batch costs two buffers to post instead
 * of a structured clone of an object per call.
 */
export interface Batch {
  readonly t: 'batch';
  /** Increasing per worker (see ST_*). */
  readonly id: number;
  /** CALL_FIELDS numbers per call. */
  readonly head: Float64Array;
  readonly body: Uint8Array;
  /** Method names, indexed by the C_METHOD field. */
  readonly names: readonly string[];
  /** Request metadata per call, or undefined when no call in the batch has any. */
  readonly metadata?: readonly (readonly MetadataEntry[])[];
  /**
   * Modules and container contexts the worker needs for this batch and has not
   * been sent yet, taken in before its calls. They ride in the batch's message
   * rather than in messages of their own: each postMessage wakes the worker's
   * thread, ~50 µs of the sender's CPU here (bench:cri's restart sweep, where
   * every call is a container's first, posted two messages per call).
   */
  readonly modules?: readonly ModuleMessage[];
  readonly ctxs?: readonly CtxMessage[];
}
export const C_SEQ = 0;
export const C_CTX = 1;
export const C_METHOD = 2;
export const C_DEADLINE = 3; // epoch ms, or 0
export const C_CPU_MS = 4;
export const C_OFF = 5;
export const C_LEN = 6;
export const C_FLAGS = 7;
export const CALL_FIELDS = 8;
/**
 * C_FLAGS bit: send the results of the batch's calls run so far before this
 * one starts. Set for calls that may run long (of a long-running method, or of
 * one not measured yet): results held back behind a long call would wait for
 * it to end.
 */
export const F_POST_FIRST = 1;

/** One call as the worker runs it. */
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

/** Results travel packed the same way; `extra` only for results that carry more than status and response. */
export interface Results {
  readonly t: 'results';
  /** RESULT_FIELDS numbers per result. */
  readonly head: Float64Array;
  readonly body: Uint8Array;
  readonly extra?: readonly (ResultExtra | 0)[];
}
export const R_SEQ = 0;
export const R_STATUS = 1;
export const R_OFF = 2;
export const R_LEN = 3; // -1: no response
export const R_CPU_NS = 4; // thread CPU time attributed to the call
export const R_MEM = 5; // bytes of memory the call's instance held at its end (linear memory + tables)
export const R_SETUP_NS = 6; // the part of R_CPU_NS spent instantiating for the call (not the method's own cost)
export const RESULT_FIELDS = 7;

export interface ResultExtra {
  readonly message: string;
  readonly trailers: readonly MetadataEntry[];
  readonly stdout?: Uint8Array;
  readonly stderr?: Uint8Array;
  /** Bytes of output dropped past the per-call cap. */
  readonly dropped: number;
}

export interface WireResult extends ResultExtra {
  readonly seq: number;
  readonly status: number;
  readonly response?: Uint8Array;
}

/** Sent once when the worker has started: its kernel thread id is in WD_TID (its CPU clock can be opened). */
export interface Ready {
  readonly t: 'ready';
}

export type FromWorker = Results | Ready;

/** Milliseconds since the epoch with sub-millisecond precision, comparable across threads. */
export const nowMs = () => performance.timeOrigin + performance.now();

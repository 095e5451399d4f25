// A worker thread that runs guest calls. It keeps at most one instance per
// pool key (module + memory limit + env + args) in an LRU bounded per worker,
// and after every call restores the instance to the snapshot taken right after
// initialisation, so no call sees another's state. A runaway call is stopped
// from outside: the main thread terminates this thread (see WD_* slots).
import { parentPort, workerData } from 'node:worker_threads';
import { Code } from '../errors.js';
import { fixedLimit } from '../limits.js';
import { ALLOC_EXPORT } from './abi.js';
import { CallState, createImports, encodeStrings, GuestExit, HostCallError, type EncodedStrings, type Holder, type OutputMirror } from './host.js';
import { currentThreadId, ThreadCpuClock } from './thread-cpu.js';
import { restoreRange, withoutZeroTail } from './snapshot.js';
import type { ComponentLane } from '../components/runtime/worker-lane.js';
import {
  OUT_CAP, OUT_DROPPED, OUT_HEADER_BYTES, OUT_STDERR, OUT_STDOUT,
  nowMs, WD_CPU_LIMIT, WD_CPU0, WD_CPU_MARK, WD_DEADLINE, WD_SEQ, WD_START, WD_SLOTS, WD_TID, TABLE_ENTRY_BYTES, R_CPU_NS, R_MEM, R_SETUP_NS, ST_BATCH, ST_INDEX, ST_STOLEN, STATUS_REQUEUE, C_CPU_MS, C_CTX, C_DEADLINE, C_FLAGS, C_LEN, C_METHOD, C_OFF, C_SEQ, CALL_FIELDS, F_POST_FIRST,
  RESULT_FIELDS, R_LEN, R_OFF, R_SEQ, R_STATUS,
  type Batch, type CtxMessage, type FromWorker, type ModuleMessage, type ModuleSpec, type ResultExtra, type ToWorker, type WireCall, type WireResult,
} from './protocol.js';
import type { MetadataEntry } from './api.js';
import { DIRTY_HI_EXPORT, DIRTY_LO_EXPORT, DROPPED_EXPORT, GROW_FAILED_EXPORT, globalExportName, MEMORY_IMPORT, tableExportName } from './rewrite.js';

const port = parentPort!;
const wd = new Float64Array(workerData.watchdog as SharedArrayBuffer, 0, WD_SLOTS);
const steal = new Int32Array(workerData.watchdog as SharedArrayBuffer, WD_SLOTS * 8);
const maxInstances: number = workerData.maxInstances;
const outHead = new Int32Array(workerData.output as SharedArrayBuffer, 0, 3);
const outBytes = new Uint8Array(workerData.output as SharedArrayBuffer, OUT_HEADER_BYTES);
/** Copies what the running call writes to the shared output area (see OUT_* in protocol.ts). */
const mirror: OutputMirror = {
  write(fd, bytes) {
    const slot = fd === 1 ? OUT_STDOUT : OUT_STDERR;
    const used = outHead[slot]!;
    const n = Math.min(bytes.length, OUT_CAP - used);
    if (n > 0) {
      outBytes.set(n === bytes.length ? bytes : bytes.subarray(0, n), slot * OUT_CAP + used);
      Atomics.store(outHead, slot, used + n);
    }
    if (n < bytes.length) Atomics.add(outHead, OUT_DROPPED, bytes.length - n);
  },
};
/** Tests set WORKD_VERIFY_RESTORE=1 to check every reset byte for byte against the snapshot. */
const verifyRestore = process.env.WORKD_VERIFY_RESTORE === '1';
/** Results of a long batch are sent in parts so fast calls do not wait behind slow ones. */
const FLUSH_AFTER_MS = 0.5;
/**
 * CPU accounting: this thread's real CPU time, read once per batch part (each
 * results message), and split among that part's calls in proportion to the
 * wall time each took on this thread (a read costs ~3-4 µs, a call ~1-2 µs).
 * Between two reads the thread runs only those calls and the message handling
 * for them, so the parts add up to all the worker's CPU time.
 */
const cpuClock = ThreadCpuClock.self();
let lastCpu = cpuClock?.read() ?? 0;
wd[WD_TID] = currentThreadId();
wd[WD_CPU0] = lastCpu;
wd[WD_CPU_MARK] = lastCpu;
port.postMessage({ t: 'ready' } satisfies FromWorker);

interface Ctx {
  readonly moduleKey: string;
  readonly poolKey: string;
  readonly envHash: string;
  readonly memoryPages: number;
  readonly memoryLimitBytes: number;
  readonly env: EncodedStrings;
  readonly args: EncodedStrings;
}
interface Inst {
  readonly memory: WebAssembly.Memory;
  readonly exports: WebAssembly.Exports;
  readonly alloc: (n: number) => number;
  readonly holder: Holder;
  /** Memory right after initialisation, without its all-zero tail (most of a fresh memory). */
  readonly memSnap: Uint8Array;
  /** Memory size then, in bytes. */
  readonly memBytes: number;
  readonly globals: WebAssembly.Global[];
  readonly globalSnap: unknown[];
  readonly tables: WebAssembly.Table[];
  readonly tableSnap: unknown[][];
  /** Every table (restored or not), for the memory they hold. */
  readonly allTables: WebAssembly.Table[];
  readonly growFailed: WebAssembly.Global;
  /** Set when code dropped a data or element segment (a reset cannot bring it back). */
  readonly dropped: WebAssembly.Global;
  /** Range the guest wrote (tracked in wasm), or undefined when all memory must be restored. */
  readonly dirtyLo?: WebAssembly.Global;
  readonly dirtyHi?: WebAssembly.Global;
  /** Range the host wrote (request copy, WASI results). */
  hostLo: number;
  hostHi: number;
}

const modules = new Map<string, { module: WebAssembly.Module; spec: ModuleSpec; initReadsEnv?: boolean }>();
const ctxs = new Map<number, Ctx>();
/** LRU: most recently used last. */
const instances = new Map<string, Inst>();
/** The key set last, i.e. the last in `instances` while it is still there. */
let mruKey: string | null = null;
const discard = new CallState([]);
/** The call the component lane runs (its clock restarts after an instantiation). */
let laneCall: WireCall | undefined;
// A component's instantiation (tens of ms for componentize-js) is bounded by the time limit on its own,
// as an initialisation; the call that caused it then gets its whole limit.
let lane: ComponentLane | undefined;
let laneLoading: Promise<ComponentLane> | undefined;
/**
 * The component lane, loaded with the first component this worker is sent: its
 * codec's libraries (protobufjs, @bufbuild/protobuf) cost a worker ~130 ms of
 * CPU to load, which every worker start (a replacement after a stopped call
 * too) would otherwise pay, ABI v1 modules only or not.
 */
function componentLane(): Promise<ComponentLane> {
  laneLoading ??= import('../components/runtime/worker-lane.js').then(
    ({ ComponentLane }) =>
      (lane = new ComponentLane(maxInstances, () => {
        if (cpuClock) wd[WD_CPU_MARK] = cpuClock.read();
        if (laneCall) armWatchdog(laneCall, nowMs());
      })),
  );
  return laneLoading;
}

class StatusError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

function instantiate(ctx: Ctx, state: CallState): Inst {
  const m = modules.get(ctx.moduleKey);
  if (!m) throw new StatusError(Code.INTERNAL, `module ${ctx.moduleKey} was not sent to this worker`);
  const { module, spec } = m;
  const memory = new WebAssembly.Memory({ initial: spec.memoryMin, maximum: ctx.memoryPages });
  const holder: Holder = { cur: state, envRead: false };
  let inst: Inst | undefined;
  // Host writes during initialisation are part of the snapshot; later ones are dirt to restore.
  const written = (p: number, n: number) => {
    if (!inst) return;
    if (p < inst.hostLo) inst.hostLo = p;
    if (p + n > inst.hostHi) inst.hostHi = p + n;
  };
  const imports = createImports(memory, holder, written);
  imports[MEMORY_IMPORT.module]![MEMORY_IMPORT.name] = memory;
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(module, imports);
    if (spec.hasInitialize) (instance.exports._initialize as () => void)();
    // Learned once per module: does its initialisation depend on env/args?
    m.initReadsEnv = holder.envRead;
  } catch (err) {
    if (err instanceof WebAssembly.LinkError || err instanceof WebAssembly.CompileError) {
      throw new StatusError(Code.FAILED_PRECONDITION, `the module cannot be instantiated: ${err.message}`);
    }
    if (err instanceof GuestExit) throw new StatusError(Code.FAILED_PRECONDITION, `the module's initialisation exited with code ${err.exitCode}`);
    throw new StatusError(Code.FAILED_PRECONDITION, `the module's initialisation failed: ${(err as Error).message}`);
  }
  const ex = instance.exports;
  const globals = spec.mutableGlobals.map((i) => ex[globalExportName(i)] as WebAssembly.Global);
  const tables = spec.tableWrites ? spec.tables.map((i) => ex[tableExportName(i)] as WebAssembly.Table) : [];
  const dirtyLo = spec.dirtyTracking ? (ex[DIRTY_LO_EXPORT] as WebAssembly.Global) : undefined;
  const dirtyHi = spec.dirtyTracking ? (ex[DIRTY_HI_EXPORT] as WebAssembly.Global) : undefined;
  // A growth refused during initialisation is not the first call's failure.
  (ex[GROW_FAILED_EXPORT] as WebAssembly.Global).value = 0;
  // Segments dropped during initialisation are dropped in the snapshot too.
  (ex[DROPPED_EXPORT] as WebAssembly.Global).value = 0;
  // Writes during initialisation are part of the snapshot, not dirt.
  if (dirtyLo && dirtyHi) {
    dirtyLo.value = -1;
    dirtyHi.value = 0;
  }
  inst = {
    memory,
    exports: ex,
    alloc: ex[ALLOC_EXPORT] as (n: number) => number,
    holder,
    memSnap: withoutZeroTail(new Uint8Array(memory.buffer)),
    memBytes: memory.buffer.byteLength,
    globals,
    globalSnap: globals.map((g) => g.value),
    tables,
    tableSnap: tables.map((t) => Array.from({ length: t.length }, (_, i) => t.get(i))),
    allTables: spec.tables.map((i) => ex[tableExportName(i)] as WebAssembly.Table),
    growFailed: ex[GROW_FAILED_EXPORT] as WebAssembly.Global,
    dropped: ex[DROPPED_EXPORT] as WebAssembly.Global,
    dirtyLo,
    dirtyHi,
    hostLo: Infinity,
    hostHi: 0,
  };
  return inst;
}

/** Back to the post-initialisation snapshot; false when that is impossible (memory or a table grew, a segment was dropped). */
function restore(inst: Inst): boolean {
  const buf = inst.memory.buffer;
  const snap = inst.memSnap;
  if (buf.byteLength !== inst.memBytes || inst.dropped.value !== 0) return false;
  for (let i = 0; i < inst.tables.length; i++) if (inst.tables[i]!.length !== inst.tableSnap[i]!.length) return false;
  const mem = new Uint8Array(buf);
  if (inst.dirtyLo && inst.dirtyHi) {
    // Only the bytes written since the snapshot: by the guest (tracked in wasm) and by the host.
    const lo = Math.min(inst.dirtyLo.value >>> 0, inst.hostLo);
    const hi = Math.min(Math.max(inst.dirtyHi.value >>> 0, inst.hostHi), inst.memBytes);
    if (lo < hi) restoreRange(mem, snap, lo, hi);
    inst.dirtyLo.value = -1;
    inst.dirtyHi.value = 0;
    inst.hostLo = Infinity;
    inst.hostHi = 0;
  } else {
    restoreRange(mem, snap, 0, inst.memBytes);
  }
  for (let i = 0; i < inst.globals.length; i++) inst.globals[i]!.value = inst.globalSnap[i];
  for (let i = 0; i < inst.tables.length; i++) {
    const t = inst.tables[i]!;
    const snapT = inst.tableSnap[i]!;
    for (let j = 0; j < snapT.length; j++) t.set(j, snapT[j]);
  }
  inst.growFailed.value = 0;
  inst.holder.cur = discard;
  if (verifyRestore && !mem.every((b, i) => b === (i < snap.length ? snap[i] : 0))) {
    // Loud on purpose: the executor sees the worker die and the test's calls fail.
    console.error('workd worker: restore verification failed: memory differs from the snapshot after a reset');
    process.exit(70);
  }
  return true;
}

/** The pool an instance for this context lives in (see the ctx message in protocol.ts). */
function poolKeyOf(ctx: Ctx): string {
  return modules.get(ctx.moduleKey)?.initReadsEnv ? `${ctx.poolKey}|${ctx.envHash}` : ctx.poolKey;
}

function acquire(ctx: Ctx, state: CallState, probe: boolean): { inst: Inst; key: string } {
  let key = poolKeyOf(ctx);
  // The start probe always initialises afresh: each container's log gets its initialisation
  // output once (and never again each time a pool refills), even when an instance is pooled already.
  let inst = probe ? undefined : instances.get(key);
  if (inst) {
    // Already the most recent: moving it to the end again would only churn the Map's table.
    if (key === mruKey) {
      inst.holder.cur = state;
      return { inst, key };
    }
    instances.delete(key);
  } else {
    const w0 = nowMs();
    const c0 = cpuClock ? cpuClock.read() : 0;
    inst = instantiate(ctx, probe ? state : new CallState([], ctx.env, ctx.args));
    if (cpuClock) {
      const c1 = cpuClock.read();
      wd[WD_CPU_MARK] = c1;
      setupNs += c1 - c0;
    }
    setupWallMs += nowMs() - w0;
    key = poolKeyOf(ctx);
    instances.delete(key);
    while (instances.size >= maxInstances) instances.delete(instances.keys().next().value!);
  }
  instances.set(key, inst);
  mruKey = key;
  inst.holder.cur = state;
  return { inst, key };
}

/** Memory the instance holds: its linear memory and its tables. */
function memoryInUse(inst: Inst): number {
  let entries = 0;
  for (let i = 0; i < inst.allTables.length; i++) entries += inst.allTables[i]!.length;
  return inst.memory.buffer.byteLength + entries * TABLE_ENTRY_BYTES;
}

/** Memory held by the instance of the last call run (see memoryInUse), reported with its result. */
let callMemory = 0;
/**
 * Thread CPU ns and wall ms the last call run spent instantiating (two clock
 * reads, only when it instantiates): charged to its container, but kept out of
 * its method's CPU average, which a fresh worker's first call would otherwise
 * push past LONG_RUNNING_CPU_MS for a 100-byte echo.
 */
let setupNs = 0;
let setupWallMs = 0;

/**
 * Tells the main thread's watchdog that `call` runs from `start`: its CPU limit
 * (this thread's CPU time since WD_CPU_MARK) and the caller's deadline.
 */
function armWatchdog(call: WireCall, start: number): void {
  wd[WD_SEQ] = call.seq;
  wd[WD_START] = start;
  wd[WD_CPU_LIMIT] = call.cpuMs;
  wd[WD_DEADLINE] = call.deadline !== 0 ? call.deadline : Infinity;
}

function run(call: WireCall): WireResult {
  const ctx = ctxs.get(call.ctx);
  const state = ctx ? new CallState(call.metadata, ctx.env, ctx.args) : new CallState(call.metadata);
  state.mirror = mirror;
  if (outHead[OUT_STDOUT] !== 0 || outHead[OUT_STDERR] !== 0 || outHead[OUT_DROPPED] !== 0) {
    Atomics.store(outHead, OUT_STDOUT, 0);
    Atomics.store(outHead, OUT_STDERR, 0);
    Atomics.store(outHead, OUT_DROPPED, 0);
  }
  const start = nowMs();
  callMemory = -1;
  setupNs = 0;
  setupWallMs = 0;
  if (call.deadline && start >= call.deadline) return result(call.seq, state, Code.DEADLINE_EXCEEDED, 'the deadline passed before the call started');
  if (!ctx) return result(call.seq, state, Code.INTERNAL, 'unknown container context on worker');
  armWatchdog(call, start);
  if (lane?.has(ctx.moduleKey)) {
    laneCall = call;
    try {
      const r = lane.run(ctx, call.method, call.request, call.metadata, state);
      callMemory = r.memory;
      return result(call.seq, state, r.status, r.error ? withLastWords(r.message, state, r.error) : r.message, r.response);
    } finally {
      wd[WD_DEADLINE] = 0;
    }
  }
  let inst: Inst | undefined;
  let key = '';
  try {
    ({ inst, key } = acquire(ctx, state, call.method === ''));
    callMemory = memoryInUse(inst);
    if (call.method === '') return result(call.seq, state, Code.OK, '');
    const fn = inst.exports[call.method];
    if (typeof fn !== 'function') return result(call.seq, state, Code.UNIMPLEMENTED, `the component does not implement ${call.method}`);
    const len = call.request.length;
    const ptr = inst.alloc(len) >>> 0;
    // The ABI lets workd_alloc(0) return any address; nothing is copied, so nothing is dirtied either.
    if (len > 0) {
      const buf = inst.memory.buffer;
      if (ptr + len > buf.byteLength) throw new HostCallError(`${ALLOC_EXPORT}(${len}) returned ${ptr}, outside the guest's memory`);
      new Uint8Array(buf, ptr, len).set(call.request);
      if (ptr < inst.hostLo) inst.hostLo = ptr;
      if (ptr + len > inst.hostHi) inst.hostHi = ptr + len;
    }
    const status = (fn as (p: number, n: number) => number)(ptr, len);
    callMemory = memoryInUse(inst);
    // Linear memory cannot pass its maximum, but tables grown by the call can push the total past the limit.
    if (callMemory > ctx.memoryLimitBytes) return result(call.seq, state, Code.RESOURCE_EXHAUSTED, memoryLimitMessage(ctx, inst));
    if (status === 0) return result(call.seq, state, Code.OK, '', state.response ?? new Uint8Array(0));
    if (status > 0 && status <= 16) return result(call.seq, state, status, state.message);
    return result(call.seq, state, Code.UNKNOWN, `the component returned an invalid status ${status}${state.message ? `: ${state.message}` : ''}`);
  } catch (err) {
    if (inst) callMemory = memoryInUse(inst);
    const [code, message] = classify(err, inst, ctx);
    return result(call.seq, state, code, withLastWords(message, state, err));
  } finally {
    wd[WD_DEADLINE] = 0;
    if (inst && !restore(inst)) instances.delete(key);
  }
}

function classify(err: unknown, inst: Inst | undefined, ctx: Ctx): [number, string] {
  if (err instanceof StatusError) return [err.code, err.message];
  if (err instanceof GuestExit) return [Code.INTERNAL, err.message];
  if (err instanceof HostCallError) return [Code.INTERNAL, err.message];
  if (inst && inst.growFailed.value !== 0) {
    return [Code.RESOURCE_EXHAUSTED, memoryLimitMessage(ctx, inst)];
  }
  if (err instanceof WebAssembly.RuntimeError) return [Code.INTERNAL, `the component trapped: ${err.message}`];
  if (err instanceof RangeError && /Maximum call stack/.test(err.message)) return [Code.INTERNAL, 'the component trapped: call stack exhausted'];
  if (err instanceof RangeError && /allocate|memory/i.test(err.message)) return [Code.RESOURCE_EXHAUSTED, `the node could not allocate memory for the call: ${err.message}`];
  return [Code.INTERNAL, `the call failed: ${(err as Error)?.message ?? String(err)}`];
}

export const LAST_WORDS_BYTES = fixedLimit('executorLastWordsBytes');

/**
 * A guest that aborts or panics says why on stderr first (AssemblyScript's
 * abort, Rust's panic message, C's message before abort()), then traps or
 * exits: its last lines of stderr go into the status message, after the trap.
 */
function withLastWords(message: string, state: CallState, err: unknown): string {
  if (!(err instanceof WebAssembly.RuntimeError || (err instanceof GuestExit && err.exitCode !== 0))) return message;
  const lines = state.stderr
    .tail(4 * LAST_WORDS_BYTES)
    .split('\n')
    // Status messages travel in a header: no control characters.
    .map((l) => l.replace(/[\x00-\x1f\x7f]/g, '').trim())
    // Rust's advice on backtraces says nothing about this failure.
    .filter((l) => l !== '' && !l.startsWith('note: run with `RUST_BACKTRACE'));
  let words = lines.slice(-3).join(' | ');
  if (words === '') return message;
  if (words.length > LAST_WORDS_BYTES) words = `…${words.slice(words.length - LAST_WORDS_BYTES)}`;
  return `${message}; the component's last stderr output: ${words}`;
}

function memoryLimitMessage(ctx: Ctx, inst: Inst): string {
  const tables = memoryInUse(inst) - inst.memory.buffer.byteLength;
  return `the component reached its memory limit of ${ctx.memoryLimitBytes} bytes (linear memory ${inst.memory.buffer.byteLength} bytes, tables ${tables} bytes)`;
}

function result(seq: number, state: CallState, status: number, message: string, response?: Uint8Array): WireResult {
  const dropped = state.stdout.dropped + state.stderr.dropped;
  return { seq, status, message, response, trailers: state.trailers, stdout: state.stdout.take(), stderr: state.stderr.take(), dropped };
}

/** Packs results into one head array and one body buffer (see protocol.ts). */
class Packer {
  private head = new Float64Array(64 * RESULT_FIELDS);
  /** Wall ms each result's call took on this thread, less its instantiation (its share of the part's CPU time). */
  private walls = new Float64Array(64);
  /** CPU ns each result's call spent instantiating (measured, not shared out). */
  private setups = new Float64Array(64);
  private body = new Uint8Array(64 * 1024);
  private used = 0;
  private n = 0;
  private extra?: (ResultExtra | 0)[];

  get size(): number {
    return this.n;
  }

  /**
   * @param memory bytes the call's instance held, or -1 when no instance was reached
   * @param setup CPU ns and wall ms of `wallMs` it spent instantiating
   */
  add(r: WireResult, wallMs: number, memory: number, setup = 0, setupWall = 0): void {
    if ((this.n + 1) * RESULT_FIELDS > this.head.length) {
      const h = new Float64Array(this.head.length * 2);
      h.set(this.head);
      this.head = h;
      const w = new Float64Array(this.walls.length * 2);
      w.set(this.walls);
      this.walls = w;
      const u = new Float64Array(this.setups.length * 2);
      u.set(this.setups);
      this.setups = u;
    }
    const o = this.n * RESULT_FIELDS;
    this.head[o + R_SEQ] = r.seq;
    this.head[o + R_STATUS] = r.status;
    this.head[o + R_MEM] = memory;
    this.walls[this.n] = Math.max(0, wallMs - setupWall);
    this.setups[this.n] = setup;
    if (r.response) {
      const len = r.response.length;
      if (this.used + len > this.body.length) {
        const b = new Uint8Array(Math.max(this.body.length * 2, this.used + len));
        b.set(this.body.subarray(0, this.used));
        this.body = b;
      }
      this.body.set(r.response, this.used);
      this.head[o + R_OFF] = this.used;
      this.head[o + R_LEN] = len;
      this.used += len;
    } else {
      this.head[o + R_LEN] = -1;
    }
    if (r.message || r.trailers.length || r.stdout || r.stderr || r.dropped) {
      this.extra ??= [];
      while (this.extra.length < this.n) this.extra.push(0);
      this.extra.push({ message: r.message, trailers: r.trailers, stdout: r.stdout, stderr: r.stderr, dropped: r.dropped });
    }
    this.n++;
  }

  post(): void {
    const cpu = cpuClock ? cpuClock.read() : lastCpu;
    const spent = cpu - lastCpu;
    lastCpu = cpu;
    wd[WD_CPU0] = cpu;
    wd[WD_CPU_MARK] = cpu;
    let wall = 0;
    let setup = 0;
    for (let i = 0; i < this.n; i++) {
      wall += this.walls[i]!;
      setup += this.setups[i]!;
    }
    const rest = Math.max(0, spent - setup);
    for (let i = 0; i < this.n; i++) {
      const o = i * RESULT_FIELDS;
      this.head[o + R_SETUP_NS] = this.setups[i]!;
      this.head[o + R_CPU_NS] = this.setups[i]! + (wall > 0 ? (rest * this.walls[i]!) / wall : rest / this.n);
    }
    const head = this.head.slice(0, this.n * RESULT_FIELDS);
    const body = this.body.slice(0, this.used);
    const transfer: ArrayBuffer[] = [head.buffer, body.buffer];
    for (const e of this.extra ?? []) {
      if (!e) continue;
      for (const b of [e.stdout, e.stderr]) if (b && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) transfer.push(b.buffer as ArrayBuffer);
    }
    port.postMessage({ t: 'results', head, body, extra: this.extra }, transfer);
    this.n = 0;
    this.used = 0;
    this.extra = undefined;
  }
}

const packer = new Packer();
const NO_METADATA: readonly MetadataEntry[] = [];

function runBatch(b: Batch): void {
  let last = nowMs();
  let prev = last;
  const n = b.head.length / CALL_FIELDS;
  for (let i = 0; i < n; i++) {
    const o = i * CALL_FIELDS;
    // Publish the position, then look at the steal mark (the main thread does the reverse).
    Atomics.store(steal, ST_BATCH, b.id);
    Atomics.store(steal, ST_INDEX, i);
    if (Atomics.load(steal, ST_STOLEN) >= b.id) {
      // Taken back: the main thread runs these elsewhere unless it saw this one start.
      for (let j = i; j < n; j++) packer.add(requeued(b.head[j * CALL_FIELDS + C_SEQ]!), 0, -1);
      break;
    }
    if (b.head[o + C_FLAGS]! & F_POST_FIRST && packer.size > 0) {
      packer.post();
      last = nowMs();
    }
    const off = b.head[o + C_OFF]!;
    const call: WireCall = {
      seq: b.head[o + C_SEQ]!,
      ctx: b.head[o + C_CTX]!,
      method: b.names[b.head[o + C_METHOD]!]!,
      request: b.body.subarray(off, off + b.head[o + C_LEN]!),
      metadata: b.metadata?.[i] ?? NO_METADATA,
      deadline: b.head[o + C_DEADLINE]!,
      cpuMs: b.head[o + C_CPU_MS]!,
    };
    const r = run(call);
    const now = nowMs();
    packer.add(r, now - prev, callMemory, setupNs, setupWallMs);
    prev = now;
    if (now - last > FLUSH_AFTER_MS) {
      packer.post();
      last = now;
    }
  }
  if (packer.size > 0) packer.post();
}

function requeued(seq: number): WireResult {
  return { seq, status: STATUS_REQUEUE, message: '', trailers: NO_METADATA, dropped: 0 };
}

function addModule(msg: ModuleMessage): void {
  modules.set(msg.key, { module: msg.module, spec: msg.spec });
  // Receiving a module costs CPU that is no call's running long.
  if (cpuClock) wd[WD_CPU_MARK] = cpuClock.read();
}

function addCtx(msg: CtxMessage): void {
  ctxs.set(msg.id, { ...msg, env: encodeStrings(msg.env), args: encodeStrings(msg.args) });
}

/** Messages that arrive while a component's glue loads (an async import) wait for it, in order. */
let holding: Promise<void> | null = null;
const backlog: ToWorker[] = [];

port.on('message', (msg: ToWorker) => {
  if (holding) backlog.push(msg);
  else handle(msg);
});

function handle(msg: ToWorker): void {
  switch (msg.t) {
    case 'evict':
      modules.delete(msg.key);
      lane?.evict(msg.key);
      for (const [id, c] of ctxs) if (c.moduleKey === msg.key) ctxs.delete(id);
      for (const k of [...instances.keys()]) if (k.startsWith(`${msg.key}|`)) instances.delete(k);
      return;
    case 'drop-ctx':
      ctxs.delete(msg.id);
      return;
    case 'batch': {
      const loads: Promise<void>[] = [];
      for (const m of msg.modules ?? []) {
        const component = m.spec.component;
        if (component) loads.push(componentLane().then((l) => l.load(m.key, component)));
        else addModule(m);
      }
      if (msg.ctxs) for (const c of msg.ctxs) addCtx(c);
      if (loads.length === 0) return runBatch(msg);
      holding = Promise.all(loads).then(() => {
        holding = null;
        if (cpuClock) wd[WD_CPU_MARK] = cpuClock.read();
        runBatch(msg);
        while (backlog.length > 0 && !holding) handle(backlog.shift()!);
      });
    }
  }
}

// The pool of worker threads that run guest calls. Calls wait in their
// container's lane of a fair queue (fair-queue.ts) and are sent in batches,
// one message per worker per event-loop turn (a thread hop costs 50-80 µs
// here), as packed buffers (protocol.ts). A watchdog stops a call that runs
// past its limit by terminating its worker; a ready spare takes over and the
// other calls that worker held are dispatched again. A call that runs long
// (but within its limit) makes its worker give back the calls queued behind it.
//
// Sharing between containers: the lanes are served in turn. A container whose
// calls are long-running (their CPU average, or one seen running long) gets
// its calls sent one to a worker, nothing queued behind them, and long-running
// calls together hold at most all workers but RESERVED_WORKERS, shared among
// the long-running containers; the other workers serve the rest. When calls
// that looked short turn long on every worker while other containers wait, the
// last one started is preempted: its worker is terminated and the call runs
// again later from the start, with the CPU time it already used deducted from
// its limit (a call changes nothing outside itself but its output).
import { Worker } from 'node:worker_threads';
import { availableParallelism, setPriority } from 'node:os';
import type { Logger } from '../observability/log.js';
import { Code } from '../errors.js';
import { fixedLimit } from '../limits.js';
import type { GuestResult, MetadataEntry } from './api.js';
import {
  OUT_BYTES, OUT_CAP, OUT_DROPPED, OUT_HEADER_BYTES, OUT_STDERR, OUT_STDOUT,
  nowMs, WD_CPU_LIMIT, WD_CPU0, WD_CPU_MARK, WD_TID, R_CPU_NS, R_MEM, R_SETUP_NS, WD_DEADLINE, WD_SEQ, WD_SLOTS, WD_START, ST_BATCH, ST_INDEX, ST_SLOTS, ST_STOLEN, STATUS_REQUEUE, C_CPU_MS, C_CTX, C_DEADLINE, C_FLAGS, C_LEN, C_METHOD, C_OFF, C_SEQ, CALL_FIELDS, F_POST_FIRST,
  RESULT_FIELDS, R_LEN, R_OFF, R_SEQ, R_STATUS,
  type CtxMessage, type FromWorker, type ModuleMessage, type ModuleSpec, type ResultExtra, type Results, type ToWorker,
} from './protocol.js';
import { IdMap } from '../util/id-map.js';
import { ThreadCpuClock } from './thread-cpu.js';
import { FairQueue, Lane, LANE_QUANTUM, LONG_RUNNING_CPU_MS, type Fifo } from './fair-queue.js';

const MAX_INSTANCES_PER_WORKER = fixedLimit('executorMaxInstancesPerWorker');
const WATCHDOG_MS = 5;
/** A call running this long makes its worker give back the calls queued behind it. */
const STEAL_AFTER_MS = 10;
const WORKER_HEAP_MB = 512;
/** The nice value of a worker thread holding a long-running call: the lowest priority there is. */
const LONG_NICE = 19;
/** A call is dispatched at most this often when workers die under it. */
const MAX_ATTEMPTS = 3;
export const RESERVED_WORKERS = fixedLimit('executorReservedWorkers');
export const MAX_CALLS_PER_WORKER = fixedLimit('executorMaxCallsPerWorker');

/** What the pool needs from the container a call belongs to. */
export interface PoolClient {
  readonly containerId: string;
  /** Read when a call is sent to a worker: a limit changed by an update applies from the next call. */
  readonly ctx: CtxMessage;
  readonly module: WebAssembly.Module;
  readonly spec: ModuleSpec;
  readonly cpuMs: number;
  inFlight: number;
  /** The worker finished (or abandoned) one of its calls. */
  finished(): void;
  /** Guest output of a finished call. */
  output(r: ResultExtra): void;
  /** A call ran: the worker thread CPU time it took, and the memory its instance held at its end (-1: none reached). */
  ran(cpuNanos: number, memoryBytes: number): void;
}

/** Executor-wide counters (see ExecutorUsage in api.ts). */
export interface PoolUsage {
  readonly workers: number;
  readonly busyWorkers: number;
  readonly queued: number;
  readonly workerCpuNanos: number;
  readonly workersReplaced: number;
}

interface Pending {
  readonly seq: number;
  readonly container: PoolClient;
  /** Empty for a start probe. */
  readonly method: string;
  readonly request: Uint8Array;
  readonly metadata: readonly MetadataEntry[];
  /** Epoch ms, or 0. */
  readonly deadline: number;
  readonly resolve: (r: GuestResult) => void;
  /** Where it was sent: batch id and index in the batch (for stealing). */
  batch: number;
  index: number;
  settled: boolean;
  released: boolean;
  attempts: number;
  /** The signal's lasting guard, while it points at this call. */
  guard: Guard | null;
  readonly lane: Lane<Pending>;
  /** Holds a worker of its own as a long-running call (see the header). */
  holds: boolean;
  /** CPU ms it used in runs that were preempted (deducted from its CPU limit). */
  spentCpuMs: number;
  /** Removes this call's own abort listener (a signal shared by calls running at once). */
  unlisten: (() => void) | null;
}

/** Which call a reused AbortSignal's one lasting 'abort' listener cancels. */
interface Guard {
  call: Pending | null;
}

interface Slot {
  readonly worker: Worker;
  readonly wd: Float64Array;
  readonly steal: Int32Array;
  /** Id of the last batch sent. */
  batchSeq: number;
  /** Its calls were taken back because one ran long; not dispatched to until it answers again. */
  stuck: boolean;
  /** The long-running call it holds (nothing is sent to it until that ends). */
  long: Pending | null;
  /** What the running call has written so far (OUT_* in protocol.ts). */
  readonly output: SharedArrayBuffer;
  /** The worker thread's CPU clock, opened when the worker says it started (null: not yet, or unavailable). */
  clock: ThreadCpuClock | null;
  /** When the running call's CPU time is read next (see pastCpuLimit), for the call started at cpuCheckStart. */
  cpuCheckAt: number;
  cpuCheckStart: number;
  /** Its thread's nice value (LONG_NICE while it holds a long-running call). */
  nice: number;
  readonly modules: Set<string>;
  /** Contexts sent to the worker: id → module key (an evict drops that module's contexts there too). */
  readonly ctxs: Map<number, string>;
  queue: Pending[];
  /** By call sequence number (an IdMap, not a Map: see util/id-map.ts). */
  readonly inflight: IdMap<Pending>;
  dead: boolean;
}

const NO_TRAILERS: readonly MetadataEntry[] = [];
const NO_METADATA: readonly MetadataEntry[] = [];
export const failure = (status: number, message: string): GuestResult => ({ status, message, trailers: [] });

/** Copies a view that shares a larger buffer, so posting it does not clone the whole buffer. */
const own = (b: Uint8Array): Uint8Array => (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice());

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private spare?: Slot;
  private seq = 0;
  private flushQueued = false;
  private closed = false;
  private readonly guards = new WeakMap<AbortSignal, Guard>();
  private readonly lanes = new WeakMap<PoolClient, Lane<Pending>>();
  private readonly queue = new FairQueue<Pending>();
  /**
   * Per image (its compiled module): methods whose first call in some container
   * was short. A container's first call of such a method is not flagged
   * F_POST_FIRST: after a restore, every call is some container's first, and
   * the flag made workers post one results message per call.
   */
  private readonly shortMethods = new WeakMap<WebAssembly.Module, Set<string>>();
  /** Calls submitted and not yet released. */
  private pending = 0;
  private cpuNanos = 0;
  private replaced = 0;
  /** Runs only while some worker has calls: an idle node should not wake every few ms. */
  private watchdog: NodeJS.Timeout | null = null;

  private readonly cores = availableParallelism();
  /** Whether workers holding long-running calls are reniced (see holdLong): lowering a nice value back takes root. */
  private renice = process.getuid?.() === 0;

  constructor(
    size: number,
    private readonly log: Logger,
  ) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
    this.spare = this.spawn();
  }

  /** Forgets a module on every worker (its containers send it again if they still run). */
  evict(key: string): void {
    for (const s of [...this.slots, this.spare]) {
      if (!s || !s.modules.delete(key)) continue;
      s.worker.postMessage({ t: 'evict', key } satisfies ToWorker);
      // Only that module's: the worker keeps the others, and only a drop-ctx for them frees them there.
      for (const [id, key2] of s.ctxs) if (key2 === key) s.ctxs.delete(id);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    const all = [...this.slots, ...(this.spare ? [this.spare] : [])];
    this.slots.length = 0;
    this.spare = undefined;
    const waiting = this.queue.lanes.flatMap((l) => l.drain());
    for (const s of all) {
      s.dead = true;
      waiting.push(...s.queue, ...s.inflight.values());
    }
    for (const p of waiting) this.settle(p, failure(Code.UNAVAILABLE, 'the executor is shutting down'), true);
    await Promise.all(all.map((s) => s.worker.terminate()));
  }

  /**
   * One lasting 'abort' listener per signal, aimed at the call it guards now:
   * the gRPC layer reuses its AbortControllers, and adding and removing an
   * EventTarget listener per call cost more than the rest of submit().
   */
  private guardOf(signal: AbortSignal): Guard {
    let guard = this.guards.get(signal);
    if (guard === undefined) {
      const g: Guard = { call: null };
      signal.addEventListener('abort', () => {
        if (g.call !== null) this.cancel(g.call);
      });
      this.guards.set(signal, g);
      guard = g;
    }
    return guard;
  }

  /** Queues one call; resolves when it completes (never rejects). */
  submit(container: PoolClient, method: string, request: Uint8Array, metadata: readonly MetadataEntry[], deadlineEpoch: number, signal: AbortSignal | undefined): Promise<GuestResult> {
    if (this.closed) return Promise.resolve(failure(Code.UNAVAILABLE, 'the executor is closed'));
    let lane = this.lanes.get(container);
    if (lane === undefined) {
      lane = new Lane<Pending>();
      this.lanes.set(container, lane);
    }
    const l = lane;
    return new Promise<GuestResult>((resolve) => {
      const p: Pending = {
        seq: ++this.seq,
        container,
        method,
        request,
        metadata: metadata.length === 0 ? NO_METADATA : metadata.map(([k, v]) => [k, typeof v === 'string' ? v : own(v)] as const),
        deadline: deadlineEpoch,
        resolve,
        batch: 0,
        index: 0,
        settled: false,
        released: false,
        attempts: 0,
        guard: null,
        unlisten: null,
        lane: l,
        holds: false,
        spentCpuMs: 0,
      };
      container.inFlight++;
      this.pending++;
      if (signal) {
        const guard = this.guardOf(signal);
        if (guard.call === null) {
          // A field cleared in settle(), not a cleanup closure per call: with the
          // closure, V8's allocation-site pretenuring kicked in and finished calls
          // survived every scavenge and were promoted (~1.3 MB per scavenge under
          // HTTP/3 load, --trace-gc-nvp; the same code run with
          // --no-allocation-site-pretenuring kept nothing). With the field, none do.
          guard.call = p;
          p.guard = guard;
        } else {
          // The signal already guards a running call (one signal for several calls): this one gets its own listener.
          const onAbort = () => this.cancel(p);
          signal.addEventListener('abort', onAbort, { once: true });
          p.unlisten = () => signal.removeEventListener('abort', onAbort);
        }
      }
      this.dispatch(p);
    });
  }

  /**
   * The caller gave up on a call: it answers CANCELLED now. If it is running
   * and has run long, its worker is stopped too rather than left to run it to
   * its CPU limit for nobody (at low priority on a busy node, that can take
   * long in wall time, holding a worker and the container's in-flight count).
   */
  private cancel(p: Pending): void {
    const r = failure(Code.CANCELLED, 'the call was cancelled');
    this.settle(p, r, false);
    const now = nowMs();
    for (const s of this.slots) {
      if (s.wd[WD_DEADLINE] === 0 || s.wd[WD_SEQ] !== p.seq || s.inflight.get(p.seq) !== p) continue;
      if (now - s.wd[WD_START]! > STEAL_AFTER_MS) {
        this.stopRunning(s, p);
        this.replace(s, p.seq, r);
      }
      return;
    }
  }

  /** Puts a call in its container's lane (at the front: it was sent before and came back unrun). */
  private dispatch(p: Pending, front = false): void {
    const fifo = p.lane.fifo(p.method);
    if (front) fifo.pushFront(p);
    else fifo.push(p);
    this.queue.activate(p.lane);
    if (!this.watchdog) {
      this.watchdog = setInterval(() => this.checkDeadlines(), WATCHDOG_MS);
      this.watchdog.unref();
    }
    this.kick();
  }

  /** Sends what can be sent on the next event-loop turn. */
  private kick(): void {
    if (this.flushQueued || this.queue.lanes.length === 0) return;
    this.flushQueued = true;
    setImmediate(() => this.flush());
  }

  /**
   * Workers long-running calls may hold in all: all but RESERVED_WORKERS of
   * the workers, or of the cores when there are more workers than cores (each
   * long call keeps a core busy).
   */
  private longCap(): number {
    const n = Math.min(this.slots.length, this.cores);
    return n > RESERVED_WORKERS ? n - RESERVED_WORKERS : 1;
  }

  /** The least loaded worker that can take calls now, if any. */
  private openSlot(): Slot | undefined {
    let best: Slot | undefined;
    let load = MAX_CALLS_PER_WORKER;
    for (const s of this.slots) {
      if (s.stuck || s.long !== null) continue;
      const l = s.queue.length + s.inflight.size;
      if (l < load) {
        best = s;
        load = l;
      }
    }
    return best;
  }

  /** Moves calls from the lanes to the workers' outgoing queues, lane by lane in turn (see the header). */
  private place(): void {
    const cap = this.longCap();
    let held = 0;
    const longLanes = new Set<Lane<Pending>>();
    for (const s of this.slots) {
      if (s.long === null) continue;
      held++;
      longLanes.add(s.long.lane);
    }
    for (const l of this.queue.lanes) if (l.long.size > 0) longLanes.add(l);
    const share = Math.max(1, Math.floor(cap / Math.max(1, longLanes.size)));
    this.queue.serve((lane) => {
      let progress = this.dropSettled(lane.long) || this.dropSettled(lane.short);
      if (lane.long.size > 0 && held < cap && lane.holding < share) {
        const s = this.openSlot();
        if (s) {
          const p = lane.long.shift()!;
          s.queue.push(p);
          this.holdLong(s, p);
          p.holds = true;
          lane.holding++;
          held++;
          progress = true;
        }
      }
      if (lane.short.size > 0) {
        const s = this.openSlot();
        if (s) {
          let room = Math.min(LANE_QUANTUM, MAX_CALLS_PER_WORKER - s.queue.length - s.inflight.size);
          let p: Pending | undefined;
          while (room-- > 0 && (p = lane.short.shift()) !== undefined) {
            if (p.settled) this.release(p);
            else s.queue.push(p);
          }
          progress = true;
        }
      }
      return progress;
    });
  }

  /** Releases cancelled calls waiting at the front of a queue; whether there were any. */
  private dropSettled(fifo: Fifo<Pending>): boolean {
    let any = false;
    for (let p = fifo.peek(); p !== undefined && p.settled; p = fifo.peek()) {
      fifo.shift();
      this.release(p);
      any = true;
    }
    return any;
  }

  /** A call leaves the worker it was sent to (answered, taken back, or the worker is gone). */
  private leave(s: Slot, p: Pending): void {
    if (!p.holds) return;
    p.holds = false;
    p.lane.holding--;
    if (s.long === p) {
      s.long = null;
      this.nice(s, 0);
    }
  }

  /**
   * A worker takes a long-running call: its thread runs at the lowest CPU
   * priority (nice 19) until the call leaves it, so a looping guest gets only
   * the CPU time the node's other threads (the network thread, the workers of
   * short calls) leave idle; at nice 0, one looping worker on 2 cores took
   * half of the core the others shared and their calls waited on the kernel's
   * scheduler. The CPU limit counts the thread's CPU time (pastCpuLimit), so a
   * deprioritised call is not stopped early for the time it waited.
   */
  private holdLong(s: Slot, p: Pending): void {
    s.long = p;
    this.nice(s, LONG_NICE);
  }

  /** Sets a worker thread's nice value (Linux: per thread, by kernel thread id). */
  private nice(s: Slot, value: number): void {
    if (!this.renice || s.nice === value || s.dead) return;
    const tid = s.wd[WD_TID];
    if (!tid) return;
    try {
      setPriority(tid, value);
      s.nice = value;
    } catch (err) {
      // Raising a nice value is always allowed; lowering it back needs CAP_SYS_NICE. Without it, stop
      // renicing (this worker keeps its value until it is replaced).
      this.renice = false;
      this.log.warn({ err }, 'cannot change worker thread priorities; long-running calls share the CPU with short ones equally');
    }
  }

  private flush(): void {
    this.flushQueued = false;
    this.place();
    for (const s of this.slots) {
      if (s.queue.length === 0) continue;
      const live: Pending[] = [];
      let bytes = 0;
      let withMetadata = false;
      let modules: ModuleMessage[] | undefined;
      let ctxs: CtxMessage[] | undefined;
      for (const p of s.queue) {
        if (p.settled) {
          this.release(p);
          continue;
        }
        const c = p.container;
        if (!s.modules.has(c.ctx.moduleKey)) {
          (modules ??= []).push({ t: 'module', key: c.ctx.moduleKey, module: c.module, spec: c.spec });
          s.modules.add(c.ctx.moduleKey);
        }
        if (!s.ctxs.has(c.ctx.id)) {
          (ctxs ??= []).push(c.ctx);
          s.ctxs.set(c.ctx.id, c.ctx.moduleKey);
        }
        s.inflight.set(p.seq, p);
        live.push(p);
        bytes += p.request.length;
        if (p.metadata.length > 0) withMetadata = true;
      }
      s.queue = [];
      if (live.length === 0) continue;
      const head = new Float64Array(live.length * CALL_FIELDS);
      const body = new Uint8Array(bytes);
      const names: string[] = [];
      const nameIndex = new Map<string, number>();
      let off = 0;
      for (let i = 0; i < live.length; i++) {
        const p = live[i]!;
        let m = nameIndex.get(p.method);
        if (m === undefined) {
          m = names.push(p.method) - 1;
          nameIndex.set(p.method, m);
        }
        const o = i * CALL_FIELDS;
        head[o + C_SEQ] = p.seq;
        head[o + C_CTX] = p.container.ctx.id;
        head[o + C_METHOD] = m;
        head[o + C_DEADLINE] = p.deadline;
        head[o + C_CPU_MS] = Math.max(1, p.container.cpuMs - p.spentCpuMs);
        head[o + C_OFF] = off;
        head[o + C_LEN] = p.request.length;
        head[o + C_FLAGS] = p.holds || (!p.lane.known(p.method) && this.shortMethods.get(p.container.module)?.has(p.method) !== true) ? F_POST_FIRST : 0;
        body.set(p.request, off);
        off += p.request.length;
      }
      const metadata = withMetadata ? live.map((p) => p.metadata) : undefined;
      const id = ++s.batchSeq;
      for (let i = 0; i < live.length; i++) {
        live[i]!.batch = id;
        live[i]!.index = i;
      }
      s.worker.postMessage({ t: 'batch', id, head, body, names, metadata, modules, ctxs } satisfies ToWorker, [head.buffer, body.buffer]);
    }
  }

  private onResults(s: Slot, m: Results): void {
    s.stuck = false;
    const n = m.head.length / RESULT_FIELDS;
    for (let i = 0; i < n; i++) {
      const o = i * RESULT_FIELDS;
      const p = s.inflight.get(m.head[o + R_SEQ]!);
      if (!p) continue;
      s.inflight.delete(p.seq);
      this.leave(s, p);
      if (m.head[o + R_STATUS] === STATUS_REQUEUE) {
        if (!p.settled) this.dispatch(p, true);
        else this.release(p);
        continue;
      }
      const len = m.head[o + R_LEN]!;
      const off = m.head[o + R_OFF]!;
      const extra: ResultExtra | 0 | undefined = m.extra?.[i];
      const cpu = m.head[o + R_CPU_NS]!;
      this.cpuNanos += cpu;
      p.container.ran(cpu, m.head[o + R_MEM]!);
      // The start probe (instantiation) says nothing about how long calls are.
      // Nor does instantiating for the call (a fresh worker, a pool refill): that is charged, not averaged.
      if (p.method !== '') {
        const own = cpu - m.head[o + R_SETUP_NS]!;
        if (!p.lane.known(p.method)) this.firstMeasured(p, own);
        p.lane.measured(p.method, own);
      }
      if (extra) p.container.output(extra);
      const res: GuestResult = {
        status: m.head[o + R_STATUS]!,
        message: extra ? extra.message : '',
        response: len >= 0 ? m.body.subarray(off, off + len) : undefined,
        trailers: extra ? extra.trailers : NO_TRAILERS,
      };
      this.settle(p, res, true);
    }
    this.kick();
  }

  /** A container's first measured call of a method: what its image's other containers may expect. */
  private firstMeasured(p: Pending, cpuNanos: number): void {
    let short = this.shortMethods.get(p.container.module);
    if (short === undefined) this.shortMethods.set(p.container.module, (short = new Set()));
    if (cpuNanos < LONG_RUNNING_CPU_MS * 1e6) short.add(p.method);
    else short.delete(p.method);
  }

  private settle(p: Pending, r: GuestResult, release: boolean): void {
    if (!p.settled) {
      p.settled = true;
      const guard = p.guard;
      if (guard !== null) {
        if (guard.call === p) guard.call = null;
        p.guard = null;
      } else if (p.unlisten !== null) {
        p.unlisten();
        p.unlisten = null;
      }
      p.resolve(r);
    }
    if (release) this.release(p);
  }

  private release(p: Pending): void {
    if (p.released) return;
    p.released = true;
    this.pending--;
    p.container.finished();
  }

  /** Fails every call of one container still queued or running (stop past its timeout). */
  abandon(container: PoolClient, r: GuestResult): void {
    const lane = this.lanes.get(container);
    if (lane) for (const p of lane.drain()) this.settle(p, r, true);
    for (const s of [...this.slots]) {
      const running = s.wd[WD_DEADLINE] !== 0 ? s.inflight.get(s.wd[WD_SEQ]!) : undefined;
      for (const p of [...s.queue, ...s.inflight.values()]) if (p.container === container) this.settle(p, r, true);
      // Nobody waits for a call of a stopped container: free its worker now rather than at the CPU limit.
      if (running?.container === container) {
        this.stopRunning(s, running);
        this.replace(s, running.seq, r);
      }
    }
  }

  /** Forgets a container context on every worker (the container was stopped, or its limits changed). */
  dropContext(id: number): void {
    for (const s of [...this.slots, this.spare]) {
      if (s?.ctxs.delete(id)) s.worker.postMessage({ t: 'drop-ctx', id } satisfies ToWorker);
    }
  }

  private spawn(): Slot {
    const sab = new SharedArrayBuffer(WD_SLOTS * 8 + ST_SLOTS * 4);
    const output = new SharedArrayBuffer(OUT_BYTES);
    const worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: { watchdog: sab, output, maxInstances: MAX_INSTANCES_PER_WORKER },
      // Guests cannot grow the JS heap much (output and trailers are capped), but if
      // something does, only this worker dies and is replaced, not the daemon.
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
    worker.unref();
    const s: Slot = {
      worker,
      wd: new Float64Array(sab, 0, WD_SLOTS),
      steal: new Int32Array(sab, WD_SLOTS * 8, ST_SLOTS),
      batchSeq: 0,
      stuck: false,
      long: null,
      output,
      clock: null,
      cpuCheckAt: 0,
      cpuCheckStart: 0,
      nice: 0,
      modules: new Set(),
      ctxs: new Map(),
      queue: [],
      inflight: new IdMap(),
      dead: false,
    };
    worker.on('message', (m: FromWorker) => {
      if (m.t === 'results' && !s.dead) this.onResults(s, m);
      else if (m.t === 'ready' && !s.dead && s.clock === null) {
        // Opened once per worker, so a node's descriptors do not depend on which calls ran long.
        s.clock = s.wd[WD_TID] ? ThreadCpuClock.ofThread(s.wd[WD_TID]) : null;
      }
    });
    worker.on('error', (err) => {
      this.log.error({ err }, 'executor worker failed');
      const seq = s.wd[WD_DEADLINE] !== 0 ? s.wd[WD_SEQ]! : -1;
      this.replace(s, seq, failure(Code.INTERNAL, `the component crashed its worker thread: ${err.message}`));
    });
    worker.on('exit', (code) => {
      if (!s.dead && !this.closed) {
        this.log.error({ code }, 'executor worker exited');
        this.replace(s, -1, failure(Code.INTERNAL, 'worker exited'));
      }
    });
    return s;
  }

  private checkDeadlines(): void {
    if (this.queue.lanes.length === 0 && this.slots.every((s) => s.queue.length === 0 && s.inflight.size === 0)) {
      clearInterval(this.watchdog!);
      this.watchdog = null;
      return;
    }
    const now = nowMs();
    for (const s of [...this.slots]) {
      const d = s.wd[WD_DEADLINE]!;
      if (d === 0) continue;
      const seq = s.wd[WD_SEQ]!;
      const p = s.inflight.get(seq);
      const overLimit = now <= d && this.pastCpuLimit(s, now);
      if (now <= d && !overLimit) {
        const ran = now - s.wd[WD_START]!;
        if (ran > STEAL_AFTER_MS) {
          // Seen using 10 ms of CPU time (not wall time: on loaded cores a short call can wait long for a
          // core; and well past what a first call's lazy compilation or a GC costs): its method is
          // long-running, and this call holds its worker.
          const cpuMs = p && s.long === null ? this.cpuSince(s, WD_CPU_MARK) / 1e6 : 0;
          if (p && s.long === null && cpuMs >= STEAL_AFTER_MS) {
            p.lane.ranLong(p.method, cpuMs);
            this.shortMethods.get(p.container.module)?.delete(p.method);
            this.holdLong(s, p);
            p.holds = true;
            p.lane.holding++;
          }
          if (!s.stuck && s.inflight.size > 1) this.stealFrom(s);
        }
        continue;
      }
      const r = overLimit
        ? failure(Code.RESOURCE_EXHAUSTED, `the call ran past its CPU limit of ${p?.container.cpuMs ?? '?'} ms and was stopped`)
        : failure(Code.DEADLINE_EXCEEDED, 'the deadline passed while the component was running; the call was stopped');
      this.log.warn({ containerId: p?.container.containerId, method: p?.method }, 'stopping a runaway guest call');
      this.stopRunning(s, p);
      this.replace(s, seq, r);
    }
    this.preemptIfStarving(now);
    this.kick();
  }

  /**
   * Whether the call running on `s` has used its CPU limit: its worker
   * thread's CPU time since WD_CPU_MARK (the worker's last report or
   * instantiation, at most a batch part of other calls before it), not the
   * wall time, which a loaded or deprioritised thread spends partly waiting for
   * a core. The clock is read only once the wall time could have reached the
   * limit, and again no sooner than the CPU left could be used.
   */
  private pastCpuLimit(s: Slot, now: number): boolean {
    const start = s.wd[WD_START]!;
    const limit = s.wd[WD_CPU_LIMIT]!;
    if (s.cpuCheckStart !== start) {
      s.cpuCheckStart = start;
      s.cpuCheckAt = start + limit;
    }
    if (now < s.cpuCheckAt) return false;
    // No clock (no schedstat): wall time is all there is.
    const used = s.clock ? this.cpuSince(s, WD_CPU_MARK) / 1e6 : now - start;
    if (used >= limit) return true;
    s.cpuCheckAt = now + (limit - used);
    return false;
  }

  /**
   * Long-running calls hold more workers than they may (they looked short when
   * they were sent) while a container with short calls waits: the one started
   * last, of the container holding the most workers, is stopped and runs again later.
   */
  private preemptIfStarving(now: number): void {
    const holding = this.slots.filter((s) => s.long !== null && s.wd[WD_DEADLINE] !== 0 && s.inflight.get(s.wd[WD_SEQ]!) === s.long);
    // Calls that ran before a long call in its batch, their results held back until it ends (it was not expected to be long).
    let victim = holding.find((s) => s.stuck && s.inflight.size > 1);
    if (!victim) {
      if (this.slots.length <= RESERVED_WORKERS || holding.length <= this.longCap()) return;
      if (!this.queue.lanes.some((l) => l.short.size > 0)) return;
      victim = holding[0]!;
      for (const s of holding) {
        const a = s.long!.lane.holding;
        const b = victim.long!.lane.holding;
        if (a > b || (a === b && s.wd[WD_START]! > victim.wd[WD_START]!)) victim = s;
      }
    }
    const p = victim.long!;
    p.spentCpuMs += victim.clock ? this.cpuSince(victim, WD_CPU_MARK) / 1e6 : now - victim.wd[WD_START]!;
    this.log.info({ containerId: p.container.containerId, method: p.method }, 'preempting a long-running call: other containers are waiting');
    this.stopRunning(victim, p, true);
    this.replace(victim, -1, failure(Code.INTERNAL, 'preempted'), true);
  }

  /**
   * Terminates a worker in the middle of a call. The CPU the worker spent since
   * it last reported (that call, mostly) is read from its thread's clock first
   * and charged to the call's container.
   */
  private stopRunning(s: Slot, p: Pending | undefined, rerun = false): void {
    const spent = this.cpuSince(s, WD_CPU0);
    this.cpuNanos += spent;
    p?.container.ran(spent, -1);
    // What it wrote before it was stopped belongs in its log (unless it runs again and writes it again).
    if (p && !rerun) {
      const head = new Int32Array(s.output, 0, 3);
      const bytes = new Uint8Array(s.output, OUT_HEADER_BYTES);
      const out = Atomics.load(head, OUT_STDOUT);
      const err = Atomics.load(head, OUT_STDERR);
      const dropped = Atomics.load(head, OUT_DROPPED);
      if (out + err + dropped > 0) {
        p.container.output({
          message: '',
          trailers: NO_TRAILERS,
          stdout: out > 0 ? bytes.slice(0, out) : undefined,
          stderr: err > 0 ? bytes.slice(OUT_CAP, OUT_CAP + err) : undefined,
          dropped,
        });
      }
    }
    s.clock?.close();
    s.clock = null;
    void s.worker.terminate();
  }

  /** CPU ns the worker's thread used since the reading in a WD_CPU* slot (0 if its clock cannot be read). */
  private cpuSince(s: Slot, slot: typeof WD_CPU0 | typeof WD_CPU_MARK): number {
    return s.clock ? Math.max(0, s.clock.read() - s.wd[slot]!) : 0;
  }

  usage(): PoolUsage {
    let busy = 0;
    for (const s of this.slots) if (s.wd[WD_DEADLINE] !== 0) busy++;
    return { workers: this.slots.length, busyWorkers: busy, queued: this.pending - busy, workerCpuNanos: this.cpuNanos, workersReplaced: this.replaced };
  }

  /**
   * A call is running long on `s`: the calls queued behind it go back to their
   * lanes, to run on other workers (or on this one once it answers again).
   */
  private stealFrom(s: Slot): void {
    // Set the mark, then read the worker's position (it publishes, then checks).
    Atomics.store(s.steal, ST_STOLEN, s.batchSeq);
    const batch = Atomics.load(s.steal, ST_BATCH);
    const index = Atomics.load(s.steal, ST_INDEX);
    s.stuck = true;
    const moved: Pending[] = [];
    for (const p of s.inflight.values()) {
      if (p.batch > batch || (p.batch === batch && p.index > index)) moved.push(p);
    }
    for (const p of moved) {
      s.inflight.delete(p.seq);
      this.leave(s, p);
    }
    moved.push(...s.queue);
    s.queue = [];
    // Back to the front of their lanes, last first, so each lane keeps its order.
    for (let i = moved.length - 1; i >= 0; i--) {
      const p = moved[i]!;
      if (p.settled) this.release(p);
      else this.dispatch(p, true);
    }
  }

  /**
   * Takes a dead or stopped worker out: its culprit call fails, its other calls
   * run elsewhere (without counting an attempt when the worker was preempted).
   */
  private replace(s: Slot, culprit: number, r: GuestResult, preempted = false): void {
    if (s.dead) return;
    s.dead = true;
    this.replaced++;
    s.clock?.close();
    s.clock = null;
    const i = this.slots.indexOf(s);
    if (i >= 0) {
      this.slots[i] = this.spare ?? this.spawn();
      this.spare = undefined;
    } else if (this.spare === s) {
      this.spare = undefined;
    }
    this.spare ??= this.spawn();
    const orphans = [...s.inflight.values(), ...s.queue];
    s.queue = [];
    s.inflight.clear();
    s.long = null;
    for (let i = orphans.length - 1; i >= 0; i--) {
      const p = orphans[i]!;
      this.leave(s, p);
      if (p.seq === culprit) this.settle(p, r, true);
      else if (p.settled || this.closed) this.release(p);
      else if (!preempted && ++p.attempts >= MAX_ATTEMPTS) this.settle(p, failure(Code.UNAVAILABLE, 'the call lost its worker thread too often'), true);
      else this.dispatch(p, true);
    }
    this.kick();
  }
}

// The executor: compiles each image's module once, and runs calls on a pool
// of worker threads in batches (one message per worker per event-loop turn,
// since a thread hop costs 50-80 µs here). A watchdog stops a call that runs
// past its limit by terminating its worker; a ready spare takes over and the
// other calls that worker held are dispatched again.
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { createHash } from 'node:crypto';
import type { Config } from '../config.js';
import type { Logger } from '../observability/log.js';
import { Code, WorkdError, failedPrecondition, unavailable } from '../errors.js';
import type { ContainerRuntime, Executor, GuestCall, GuestResult, MetadataEntry, PreparedModule, StartOptions } from './api.js';
import { analyzeGuest, checkAbiVersion } from './guest-abi.js';
import { ContainerLog } from './logs.js';
import {
  nowMs, WD_CALLER, WD_DEADLINE, WD_SEQ, WD_SLOTS, WD_START, ST_BATCH, ST_INDEX, ST_SLOTS, ST_STOLEN, STATUS_REQUEUE, C_CPU_MS, C_CTX, C_DEADLINE, C_LEN, C_METHOD, C_OFF, C_SEQ, CALL_FIELDS,
  RESULT_FIELDS, R_LEN, R_OFF, R_SEQ, R_STATUS,
  type FromWorker, type ModuleSpec, type ResultExtra, type ToWorker,
} from './protocol.js';

const PAGE = 65536;
/** Live instances per worker (each reserves address space: ~13,000 Wasm memories fit in one process). */
const MAX_INSTANCES_PER_WORKER = 512;
const WATCHDOG_MS = 5;
/** A call running this long makes its worker give back the calls queued behind it. */
const STEAL_AFTER_MS = 10;
const WORKER_HEAP_MB = 512;
/** A call is dispatched at most this often when workers die under it. */
const MAX_ATTEMPTS = 3;

interface Image {
  readonly prepared: PreparedModule;
  readonly module: WebAssembly.Module;
  readonly spec: ModuleSpec;
}

interface Pending {
  readonly seq: number;
  readonly container: Container;
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
  cleanup?: () => void;
}

interface Slot {
  readonly worker: Worker;
  readonly wd: Float64Array;
  readonly steal: Int32Array;
  /** Id of the last batch sent. */
  batchSeq: number;
  /** Its calls were taken back because one ran long; not dispatched to until it answers again. */
  stuck: boolean;
  readonly modules: Set<string>;
  readonly ctxs: Set<number>;
  queue: Pending[];
  readonly inflight: Map<number, Pending>;
  dead: boolean;
}

const NO_TRAILERS: readonly MetadataEntry[] = [];
const NO_METADATA: readonly MetadataEntry[] = [];
const failure = (status: number, message: string): GuestResult => ({ status, message, trailers: [] });

/** Copies a view that shares a larger buffer, so posting it does not clone the whole buffer. */
const own = (b: Uint8Array): Uint8Array => (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice());

export function createExecutor(cfg: Config['executor'], log: Logger): Executor {
  return new WorkerExecutor(cfg, log);
}

class WorkerExecutor implements Executor {
  private readonly images = new Map<string, Promise<Image>>();
  private readonly ready = new Map<string, Image>();
  readonly containers = new Set<Container>();
  private readonly slots: Slot[] = [];
  private spare?: Slot;
  private readonly size: number;
  private seq = 0;
  private ctxSeq = 0;
  private flushQueued = false;
  private closed = false;
  private readonly watchdog: NodeJS.Timeout;

  constructor(
    private readonly cfg: Config['executor'],
    private readonly log: Logger,
  ) {
    this.size = cfg.workers > 0 ? cfg.workers : availableParallelism();
    for (let i = 0; i < this.size; i++) this.slots.push(this.spawn());
    this.spare = this.spawn();
    this.watchdog = setInterval(() => this.checkDeadlines(), WATCHDOG_MS);
    this.watchdog.unref();
  }

  async prepare(imageId: string, wasm: Uint8Array, abiVersion: number): Promise<PreparedModule> {
    checkAbiVersion(abiVersion);
    let p = this.images.get(imageId);
    if (!p) {
      p = this.compile(imageId, wasm, abiVersion);
      this.images.set(imageId, p);
      p.then(
        (img) => this.ready.set(imageId, img),
        () => this.images.delete(imageId),
      );
    }
    return (await p).prepared;
  }

  private async compile(imageId: string, wasm: Uint8Array, abiVersion: number): Promise<Image> {
    const guest = analyzeGuest(wasm);
    let module: WebAssembly.Module;
    try {
      module = await WebAssembly.compile(guest.rewrite.bytes);
    } catch (err) {
      throw new WorkdError(Code.INVALID_ARGUMENT, `the module does not compile: ${(err as Error).message}`);
    }
    const r = guest.rewrite;
    this.log.debug({ imageId, methods: guest.methods, bytes: wasm.length }, 'compiled guest module');
    return {
      prepared: { imageId, abiVersion, methods: new Set(guest.methods) },
      module,
      spec: {
        mutableGlobals: r.mutableGlobals,
        tables: r.tables,
        tableWrites: r.tableWrites,
        dirtyTracking: r.dirtyTracking,
        memoryMin: r.memory.min,
        memoryMax: r.memory.max,
        hasInitialize: guest.hasInitialize,
      },
    };
  }

  async start(o: StartOptions): Promise<ContainerRuntime> {
    if (this.closed) throw unavailable('the executor is closed');
    const image = this.ready.get(o.module.imageId) ?? (await this.images.get(o.module.imageId));
    if (!image) throw failedPrecondition(`image ${o.module.imageId} has not been prepared (or was evicted)`);
    const limitBytes = o.limits.memoryBytes && o.limits.memoryBytes > 0 ? o.limits.memoryBytes : this.cfg.memoryLimitBytes;
    let pages = Math.floor(limitBytes / PAGE);
    if (image.spec.memoryMax !== undefined) pages = Math.min(pages, image.spec.memoryMax);
    if (pages < image.spec.memoryMin) {
      throw failedPrecondition(
        `the module needs ${image.spec.memoryMin * PAGE} bytes of memory to start; the container's memory limit is ${limitBytes} bytes`,
      );
    }
    const env = Object.entries(o.env).map(([k, v]) => `${k}=${v}`);
    const args = [...(o.args ?? [])];
    const hash = createHash('sha256').update(JSON.stringify([env, args])).digest('base64url').slice(0, 16);
    const ctx: ToWorker & { t: 'ctx' } = {
      t: 'ctx',
      id: ++this.ctxSeq,
      moduleKey: image.prepared.imageId,
      poolKey: `${image.prepared.imageId}|${pages}`,
      envHash: hash,
      memoryPages: pages,
      env,
      args,
    };
    const container = new Container(this, o, image, ctx, {
      cpuMs: o.limits.cpuMsPerCall && o.limits.cpuMsPerCall > 0 ? o.limits.cpuMsPerCall : this.cfg.cpuMsPerCall,
      maxInFlight: o.limits.maxInFlight && o.limits.maxInFlight > 0 ? o.limits.maxInFlight : this.cfg.maxInFlight,
    });
    const probe = await this.submit(container, '', new Uint8Array(0), [], 0, undefined);
    if (probe.status !== Code.OK) {
      await container.discard();
      throw new WorkdError(probe.status as Code, probe.message);
    }
    return container;
  }

  evict(imageId: string): void {
    this.images.delete(imageId);
    this.ready.delete(imageId);
    for (const s of [...this.slots, this.spare]) {
      if (!s || !s.modules.delete(imageId)) continue;
      s.worker.postMessage({ t: 'evict', key: imageId } satisfies ToWorker);
      s.ctxs.clear();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.watchdog);
    const all = [...this.slots, ...(this.spare ? [this.spare] : [])];
    this.slots.length = 0;
    this.spare = undefined;
    for (const s of all) {
      s.dead = true;
      for (const p of [...s.queue, ...s.inflight.values()]) this.settle(p, failure(Code.UNAVAILABLE, 'the executor is shutting down'), true);
    }
    await Promise.all([...all.map((s) => s.worker.terminate()), ...[...this.containers].map((c) => c.discard())]);
  }

  /** Queues one call; resolves when it completes (never rejects). */
  submit(container: Container, method: string, request: Uint8Array, metadata: readonly MetadataEntry[], deadlineEpoch: number, signal: AbortSignal | undefined): Promise<GuestResult> {
    if (this.closed) return Promise.resolve(failure(Code.UNAVAILABLE, 'the executor is closed'));
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
      };
      container.inFlight++;
      if (signal) {
        const onAbort = () => this.settle(p, failure(Code.CANCELLED, 'the call was cancelled'), false);
        signal.addEventListener('abort', onAbort, { once: true });
        p.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      this.dispatch(p);
    });
  }

  private dispatch(p: Pending): void {
    let best = this.slots[0]!;
    let load = Infinity;
    for (const s of this.slots) {
      const l = s.queue.length + s.inflight.size + (s.stuck ? 1e9 : 0);
      if (l < load) {
        best = s;
        load = l;
      }
    }
    best.queue.push(p);
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushQueued = false;
    for (const s of this.slots) {
      if (s.queue.length === 0) continue;
      const live: Pending[] = [];
      let bytes = 0;
      let withMetadata = false;
      for (const p of s.queue) {
        if (p.settled) {
          this.release(p);
          continue;
        }
        const c = p.container;
        if (!s.modules.has(c.ctx.moduleKey)) {
          s.worker.postMessage({ t: 'module', key: c.ctx.moduleKey, module: c.image.module, spec: c.image.spec } satisfies ToWorker);
          s.modules.add(c.ctx.moduleKey);
        }
        if (!s.ctxs.has(c.ctx.id)) {
          s.worker.postMessage(c.ctx);
          s.ctxs.add(c.ctx.id);
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
        head[o + C_CPU_MS] = p.container.cpuMs;
        head[o + C_OFF] = off;
        head[o + C_LEN] = p.request.length;
        body.set(p.request, off);
        off += p.request.length;
      }
      const metadata = withMetadata ? live.map((p) => p.metadata) : undefined;
      const id = ++s.batchSeq;
      for (let i = 0; i < live.length; i++) {
        live[i]!.batch = id;
        live[i]!.index = i;
      }
      s.worker.postMessage({ t: 'batch', id, head, body, names, metadata } satisfies ToWorker, [head.buffer, body.buffer]);
    }
  }

  private onResults(s: Slot, m: FromWorker): void {
    s.stuck = false;
    const n = m.head.length / RESULT_FIELDS;
    for (let i = 0; i < n; i++) {
      const o = i * RESULT_FIELDS;
      const p = s.inflight.get(m.head[o + R_SEQ]!);
      if (!p) continue;
      s.inflight.delete(p.seq);
      if (m.head[o + R_STATUS] === STATUS_REQUEUE) {
        if (!p.settled) this.dispatch(p);
        else this.release(p);
        continue;
      }
      const len = m.head[o + R_LEN]!;
      const off = m.head[o + R_OFF]!;
      const extra: ResultExtra | 0 | undefined = m.extra?.[i];
      if (extra) p.container.output(extra);
      const res: GuestResult = {
        status: m.head[o + R_STATUS]!,
        message: extra ? extra.message : '',
        response: len >= 0 ? m.body.subarray(off, off + len) : undefined,
        trailers: extra ? extra.trailers : NO_TRAILERS,
      };
      this.settle(p, res, true);
    }
  }

  private settle(p: Pending, r: GuestResult, release: boolean): void {
    if (!p.settled) {
      p.settled = true;
      p.cleanup?.();
      p.resolve(r);
    }
    if (release) this.release(p);
  }

  private release(p: Pending): void {
    if (p.released) return;
    p.released = true;
    p.container.finished();
  }

  /** Fails every call of one container still queued or running (stop past its timeout). */
  abandon(container: Container, r: GuestResult): void {
    for (const s of [...this.slots]) {
      const running = s.wd[WD_DEADLINE] !== 0 ? s.inflight.get(s.wd[WD_SEQ]!) : undefined;
      for (const p of [...s.queue, ...s.inflight.values()]) if (p.container === container) this.settle(p, r, true);
      // Nobody waits for a call of a stopped container: free its worker now rather than at the CPU limit.
      if (running?.container === container) {
        void s.worker.terminate();
        this.replace(s, running.seq, r);
      }
    }
  }

  dropContext(container: Container): void {
    for (const s of [...this.slots, this.spare]) {
      if (s?.ctxs.delete(container.ctx.id)) s.worker.postMessage({ t: 'drop-ctx', id: container.ctx.id } satisfies ToWorker);
    }
  }

  private spawn(): Slot {
    const sab = new SharedArrayBuffer(WD_SLOTS * 8 + ST_SLOTS * 4);
    const worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: { watchdog: sab, maxInstances: MAX_INSTANCES_PER_WORKER },
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
      modules: new Set(),
      ctxs: new Set(),
      queue: [],
      inflight: new Map(),
      dead: false,
    };
    worker.on('message', (m: FromWorker) => {
      if (m.t === 'results' && !s.dead) this.onResults(s, m);
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
    const now = nowMs();
    for (const s of [...this.slots]) {
      const d = s.wd[WD_DEADLINE]!;
      if (d === 0) continue;
      if (now <= d) {
        if (!s.stuck && now - s.wd[WD_START]! > STEAL_AFTER_MS && s.inflight.size > 1) this.stealFrom(s);
        continue;
      }
      const seq = s.wd[WD_SEQ]!;
      const p = s.inflight.get(seq);
      const r = s.wd[WD_CALLER] === 1
        ? failure(Code.DEADLINE_EXCEEDED, 'the deadline passed while the component was running; the call was stopped')
        : failure(Code.RESOURCE_EXHAUSTED, `the call ran past its CPU limit of ${p?.container.cpuMs ?? '?'} ms and was stopped`);
      this.log.warn({ containerId: p?.container.containerId, method: p?.method }, 'stopping a runaway guest call');
      void s.worker.terminate();
      this.replace(s, seq, r);
    }
  }

  /** A call is running long on `s`: run the calls queued behind it on other workers. */
  private stealFrom(s: Slot): void {
    if (this.slots.every((x) => x === s || x.stuck)) return; // nowhere better to go
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
      if (p.settled) this.release(p);
      else this.dispatch(p);
    }
    if (s.queue.length > 0) {
      const queued = s.queue;
      s.queue = [];
      for (const p of queued) this.dispatch(p);
    }
  }

  /** Takes a dead or stopped worker out: its culprit call fails, its other calls run elsewhere. */
  private replace(s: Slot, culprit: number, r: GuestResult): void {
    if (s.dead) return;
    s.dead = true;
    const i = this.slots.indexOf(s);
    if (i >= 0) {
      this.slots[i] = this.spare ?? this.spawn();
      this.spare = undefined;
    } else if (this.spare === s) {
      this.spare = undefined;
    }
    this.spare ??= this.spawn();
    const orphans = [...s.queue, ...s.inflight.values()];
    s.queue = [];
    s.inflight.clear();
    for (const p of orphans) {
      if (p.seq === culprit) this.settle(p, r, true);
      else if (p.settled || this.closed) this.release(p);
      else if (++p.attempts >= MAX_ATTEMPTS) this.settle(p, failure(Code.UNAVAILABLE, 'the call lost its worker thread too often'), true);
      else this.dispatch(p);
    }
  }
}

class Container implements ContainerRuntime {
  inFlight = 0;
  private stopping = false;
  private drained?: () => void;
  private readonly log?: ContainerLog;
  readonly containerId: string;
  readonly methods: ReadonlySet<string>;
  readonly cpuMs: number;
  private readonly maxInFlight: number;

  constructor(
    private readonly executor: WorkerExecutor,
    o: StartOptions,
    readonly image: Image,
    readonly ctx: ToWorker & { t: 'ctx' },
    limits: { cpuMs: number; maxInFlight: number },
  ) {
    this.containerId = o.containerId;
    this.methods = image.prepared.methods;
    this.cpuMs = limits.cpuMs;
    this.maxInFlight = limits.maxInFlight;
    if (o.logPath) this.log = new ContainerLog(o.logPath);
    executor.containers.add(this);
  }

  call(c: GuestCall): Promise<GuestResult> {
    if (this.stopping) return Promise.resolve(failure(Code.UNAVAILABLE, `container ${this.containerId} is stopping`));
    if (!this.methods.has(c.method)) return Promise.resolve(failure(Code.UNIMPLEMENTED, `the component does not implement the method ${JSON.stringify(c.method)}`));
    if (c.signal?.aborted) return Promise.resolve(failure(Code.CANCELLED, 'the call was cancelled'));
    if (c.deadline !== undefined && performance.now() >= c.deadline) return Promise.resolve(failure(Code.DEADLINE_EXCEEDED, 'the deadline passed before the call started'));
    if (this.inFlight >= this.maxInFlight) {
      return Promise.resolve(failure(Code.RESOURCE_EXHAUSTED, `container ${this.containerId} already has ${this.inFlight} calls in flight (its limit)`));
    }
    const deadline = c.deadline === undefined ? 0 : performance.timeOrigin + c.deadline;
    return this.executor.submit(this, c.method, c.request, c.metadata, deadline, c.signal);
  }

  output(r: ResultExtra): void {
    if (!this.log) return;
    if (r.stdout) this.log.write('stdout', r.stdout);
    if (r.stderr) this.log.write('stderr', r.stderr);
    if (r.dropped > 0) this.log.noteDropped('stderr', r.dropped);
  }

  finished(): void {
    this.inFlight--;
    if (this.inFlight === 0) this.drained?.();
  }

  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    if (this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.drained = resolve;
        timer = setTimeout(resolve, Math.max(0, timeoutMs));
      });
      clearTimeout(timer);
      this.drained = undefined;
      if (this.inFlight > 0) this.executor.abandon(this, failure(Code.UNAVAILABLE, `container ${this.containerId} was stopped`));
    }
    await this.discard();
  }

  async discard(): Promise<void> {
    this.stopping = true;
    this.executor.containers.delete(this);
    this.executor.dropContext(this);
    await this.log?.close();
  }

  async reopenLog(): Promise<void> {
    await this.log?.reopen();
  }
}

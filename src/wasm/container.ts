// The running side of one container: admission (in-flight limit, deadline,
// cancellation), its log, and stop with draining. Calls run on the shared
// worker pool; no instance is kept per container.
import { Code, failedPrecondition } from '../errors.js';
import type { ContainerRuntime, ContainerUsage, GuestCall, GuestResult, ResourceUpdate, StartOptions } from './api.js';
import { ContainerLog, OutputTap, type OutputListener } from './logs.js';
import { PAGE_BYTES, TABLE_ENTRY_BYTES, type CtxMessage, type ModuleSpec, type ResultExtra } from './protocol.js';
import { failure, type PoolClient, type WorkerPool } from './worker-pool.js';

export interface ContainerImage {
  readonly methods: ReadonlySet<string>;
  readonly module: WebAssembly.Module;
  readonly spec: ModuleSpec;
}

/** The limits a container runs under, resolved against the node's defaults. */
export interface ResolvedLimits {
  readonly memoryLimitBytes: number;
  /** Linear memory pages allowed: the limit less what the tables hold, at most the module's own maximum. */
  readonly memoryPages: number;
  readonly cpuMs: number;
}

/**
 * Resolves a memory limit for a module: tables count against it (a table entry
 * costs the node TABLE_ENTRY_BYTES), and the module must fit in what is left.
 * Throws FAILED_PRECONDITION naming the sizes if it does not.
 */
export function memoryPagesFor(spec: ModuleSpec, limitBytes: number): number {
  const tableBytes = spec.tableEntries * TABLE_ENTRY_BYTES;
  let pages = Math.floor(Math.max(0, limitBytes - tableBytes) / PAGE_BYTES);
  if (spec.memoryMax !== undefined) pages = Math.min(pages, spec.memoryMax);
  if (pages < spec.memoryMin) {
    const tables = tableBytes > 0 ? ` and its tables of ${spec.tableEntries} entries hold ${tableBytes} bytes` : '';
    throw failedPrecondition(
      `the module needs ${spec.memoryMin * PAGE_BYTES} bytes of memory to start${tables}; the container's memory limit is ${limitBytes} bytes`,
    );
  }
  return pages;
}

export class Container implements ContainerRuntime, PoolClient {
  inFlight = 0;
  private cpuNanos = 0;
  private memoryBytes = 0;
  private memoryPeakBytes = 0;
  private callsCompleted = 0;
  /** Contexts replaced by an update while calls that use them may still be on workers. */
  private retiredCtxs: number[] = [];
  private stopping = false;
  private discarded = false;
  /** Stops waiting for the in-flight calls to end (StopContainer may be called again while one waits). */
  private readonly drainWaiters = new Set<() => void>();
  private readonly log?: ContainerLog;
  private readonly tap = new OutputTap();
  readonly containerId: string;
  readonly methods: ReadonlySet<string>;
  readonly module: WebAssembly.Module;
  readonly spec: ModuleSpec;
  ctx: CtxMessage;
  cpuMs: number;
  private memoryLimitBytes: number;
  private readonly maxInFlight: number;

  constructor(
    private readonly pool: WorkerPool,
    o: StartOptions,
    image: ContainerImage,
    limits: ResolvedLimits & { maxInFlight: number },
    /** Makes the workers' context for these limits (a new ID each time). */
    private readonly contextFor: (l: ResolvedLimits) => CtxMessage,
    /** Resolves an update against the current limits and the node's defaults (throws if the module cannot fit). */
    private readonly resolve: (u: ResourceUpdate, current: ResolvedLimits) => ResolvedLimits,
    /** Called once when the container is discarded (stopped or failed to start). */
    private readonly onDiscard: (c: Container) => void,
  ) {
    this.containerId = o.containerId;
    this.methods = image.methods;
    this.module = image.module;
    this.spec = image.spec;
    this.cpuMs = limits.cpuMs;
    this.memoryLimitBytes = limits.memoryLimitBytes;
    this.maxInFlight = limits.maxInFlight;
    this.ctx = contextFor(limits);
    if (o.logPath) this.log = new ContainerLog(o.logPath, o.logDirectory);
  }

  update(u: ResourceUpdate): void {
    if (this.discarded) throw failedPrecondition(`container ${this.containerId} is not running`);
    const next = this.resolve(u, { memoryLimitBytes: this.memoryLimitBytes, memoryPages: this.ctx.memoryPages, cpuMs: this.cpuMs });
    this.cpuMs = next.cpuMs;
    if (next.memoryLimitBytes === this.memoryLimitBytes) return;
    this.memoryLimitBytes = next.memoryLimitBytes;
    // Calls already sent name the old context: it is dropped once they are done.
    this.retiredCtxs.push(this.ctx.id);
    this.ctx = this.contextFor(next);
    if (this.inFlight === 0) this.dropRetired();
  }

  private dropRetired(): void {
    for (const id of this.retiredCtxs) this.pool.dropContext(id);
    this.retiredCtxs = [];
  }

  ran(cpuNanos: number, memoryBytes: number): void {
    this.cpuNanos += cpuNanos;
    if (memoryBytes < 0) return;
    this.memoryBytes = memoryBytes;
    if (memoryBytes > this.memoryPeakBytes) this.memoryPeakBytes = memoryBytes;
  }

  usage(): ContainerUsage {
    return {
      cpuNanos: Math.round(this.cpuNanos),
      memoryBytes: this.memoryBytes,
      memoryPeakBytes: this.memoryPeakBytes,
      inFlight: this.inFlight,
      callsCompleted: this.callsCompleted,
      memoryLimitBytes: this.memoryLimitBytes,
      cpuMsPerCall: this.cpuMs,
      timestampMs: Date.now(),
    };
  }

  /**
   * Creates the log file, then instantiates once (through the pool) to prove the module links and initialises.
   * `instantiate` false (a container restored after a daemon restart, which passed this probe with the same
   * content-addressed image and options before) only creates the log: its first call instantiates as usual.
   */
  async probe(instantiate = true): Promise<GuestResult> {
    try {
      await this.log?.create();
    } catch (err) {
      return failure(Code.FAILED_PRECONDITION, `cannot create the container log ${this.log?.path}: ${(err as Error).message}`);
    }
    if (!instantiate) return { status: Code.OK, message: '', trailers: [] };
    const r = await this.pool.submit(this, '', new Uint8Array(0), [], 0, undefined);
    // The probe is the container's initialisation, not one of its calls (its CPU and memory do count).
    this.callsCompleted = 0;
    return r;
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
    return this.pool.submit(this, c.method, c.request, c.metadata, deadline, c.signal);
  }

  output(r: ResultExtra): void {
    if (this.tap.size > 0) {
      if (r.stdout) this.tap.emit('stdout', r.stdout);
      if (r.stderr) this.tap.emit('stderr', r.stderr);
    }
    if (!this.log) return;
    if (r.stdout) this.log.write('stdout', r.stdout);
    if (r.stderr) this.log.write('stderr', r.stderr);
    if (r.dropped > 0) this.log.noteDropped('stderr', r.dropped);
  }

  subscribeOutput(fn: OutputListener): () => void {
    return this.tap.subscribe(fn);
  }

  finished(): void {
    this.inFlight--;
    this.callsCompleted++;
    if (this.inFlight === 0) {
      if (this.retiredCtxs.length > 0) this.dropRetired();
      for (const w of this.drainWaiters) w();
    }
  }

  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    if (this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      let waiter: (() => void) | undefined;
      await new Promise<void>((resolve) => {
        waiter = resolve;
        this.drainWaiters.add(resolve);
        timer = setTimeout(resolve, Math.max(0, timeoutMs));
      });
      clearTimeout(timer);
      this.drainWaiters.delete(waiter!);
      if (this.inFlight > 0) this.pool.abandon(this, failure(Code.UNAVAILABLE, `container ${this.containerId} was stopped`));
    }
    await this.discard();
  }

  async discard(): Promise<void> {
    if (this.discarded) return;
    this.discarded = true;
    this.stopping = true;
    this.onDiscard(this);
    this.dropRetired();
    this.pool.dropContext(this.ctx.id);
    await this.log?.close();
  }

  async reopenLog(): Promise<void> {
    await this.log?.reopen();
  }
}

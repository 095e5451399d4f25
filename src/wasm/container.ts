// The running side of one container: admission (in-flight limit, deadline,
// cancellation), its log, and stop with draining. Calls run on the shared
// worker pool; no instance is kept per container.
import { Code } from '../errors.js';
import type { ContainerRuntime, GuestCall, GuestResult, StartOptions } from './api.js';
import { ContainerLog } from './logs.js';
import type { CtxMessage, ModuleSpec, ResultExtra } from './protocol.js';
import { failure, type PoolClient, type WorkerPool } from './worker-pool.js';

export interface ContainerImage {
  readonly methods: ReadonlySet<string>;
  readonly module: WebAssembly.Module;
  readonly spec: ModuleSpec;
}

export class Container implements ContainerRuntime, PoolClient {
  inFlight = 0;
  private stopping = false;
  private discarded = false;
  /** Stops waiting for the in-flight calls to end (StopContainer may be called again while one waits). */
  private readonly drainWaiters = new Set<() => void>();
  private readonly log?: ContainerLog;
  readonly containerId: string;
  readonly methods: ReadonlySet<string>;
  readonly module: WebAssembly.Module;
  readonly spec: ModuleSpec;
  readonly cpuMs: number;
  private readonly maxInFlight: number;

  constructor(
    private readonly pool: WorkerPool,
    o: StartOptions,
    image: ContainerImage,
    readonly ctx: CtxMessage,
    limits: { cpuMs: number; maxInFlight: number },
    /** Called once when the container is discarded (stopped or failed to start). */
    private readonly onDiscard: (c: Container) => void,
  ) {
    this.containerId = o.containerId;
    this.methods = image.methods;
    this.module = image.module;
    this.spec = image.spec;
    this.cpuMs = limits.cpuMs;
    this.maxInFlight = limits.maxInFlight;
    if (o.logPath) this.log = new ContainerLog(o.logPath, o.logDirectory);
  }

  /** Creates the log file, then instantiates once (through the pool) to prove the module links and initialises. */
  async probe(): Promise<GuestResult> {
    try {
      await this.log?.create();
    } catch (err) {
      return failure(Code.FAILED_PRECONDITION, `cannot create the container log ${this.log?.path}: ${(err as Error).message}`);
    }
    return this.pool.submit(this, '', new Uint8Array(0), [], 0, undefined);
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
    if (!this.log) return;
    if (r.stdout) this.log.write('stdout', r.stdout);
    if (r.stderr) this.log.write('stderr', r.stderr);
    if (r.dropped > 0) this.log.noteDropped('stderr', r.dropped);
  }

  finished(): void {
    this.inFlight--;
    if (this.inFlight === 0) for (const w of this.drainWaiters) w();
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
    this.pool.dropContext(this);
    await this.log?.close();
  }

  async reopenLog(): Promise<void> {
    await this.log?.reopen();
  }
}

// The executor: checks, rewrites and compiles each image's module once
// (guest-abi.ts, rewrite.ts), and starts containers whose calls run on the
// shared worker pool (worker-pool.ts, worker.ts).
import { availableParallelism } from 'node:os';
import { createHash } from 'node:crypto';
import type { Config } from '../config.js';
import type { Logger } from '../observability/log.js';
import { Code, WorkdError, failedPrecondition, unavailable } from '../errors.js';
import type { ContainerRuntime, Executor, PreparedModule, StartOptions } from './api.js';
import { analyzeGuest, checkAbiVersion } from './guest-abi.js';
import { Container } from './container.js';
import { WorkerPool } from './worker-pool.js';
import type { CtxMessage, ModuleSpec } from './protocol.js';

const PAGE = 65536;

interface Image {
  readonly prepared: PreparedModule;
  readonly module: WebAssembly.Module;
  readonly spec: ModuleSpec;
}

export function createExecutor(cfg: Config['executor'], log: Logger): Executor {
  return new WorkerExecutor(cfg, log);
}

class WorkerExecutor implements Executor {
  private readonly images = new Map<string, Promise<Image>>();
  private readonly ready = new Map<string, Image>();
  private readonly containers = new Set<Container>();
  private readonly pool: WorkerPool;
  private ctxSeq = 0;
  private closed = false;

  constructor(
    private readonly cfg: Config['executor'],
    private readonly log: Logger,
  ) {
    this.pool = new WorkerPool(cfg.workers > 0 ? cfg.workers : availableParallelism(), log);
  }

  async prepare(imageId: string, wasm: Uint8Array, abiVersion: number): Promise<PreparedModule> {
    checkAbiVersion(abiVersion);
    let p = this.images.get(imageId);
    if (!p) {
      p = this.compile(imageId, wasm, abiVersion);
      this.images.set(imageId, p);
      const compiling = p;
      // Only if this compile is still the image's: an evict (or a later prepare) while it ran must win.
      compiling.then(
        (img) => {
          if (this.images.get(imageId) === compiling) this.ready.set(imageId, img);
        },
        () => {
          if (this.images.get(imageId) === compiling) this.images.delete(imageId);
        },
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
    const ctx: CtxMessage = {
      t: 'ctx',
      id: ++this.ctxSeq,
      moduleKey: image.prepared.imageId,
      poolKey: `${image.prepared.imageId}|${pages}`,
      envHash: hash,
      memoryPages: pages,
      env,
      args,
    };
    const limits = {
      cpuMs: o.limits.cpuMsPerCall && o.limits.cpuMsPerCall > 0 ? o.limits.cpuMsPerCall : this.cfg.cpuMsPerCall,
      maxInFlight: o.limits.maxInFlight && o.limits.maxInFlight > 0 ? o.limits.maxInFlight : this.cfg.maxInFlight,
    };
    const container = new Container(this.pool, o, { methods: image.prepared.methods, module: image.module, spec: image.spec }, ctx, limits, (c) =>
      this.containers.delete(c),
    );
    this.containers.add(container);
    const probe = await container.probe();
    if (probe.status !== Code.OK) {
      await container.discard();
      throw new WorkdError(probe.status as Code, probe.message);
    }
    return container;
  }

  evict(imageId: string): void {
    this.images.delete(imageId);
    this.ready.delete(imageId);
    this.pool.evict(imageId);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.pool.close(), ...[...this.containers].map((c) => c.discard())]);
  }
}

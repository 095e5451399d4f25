// The executor: checks, rewrites and compiles each image's module once
// (guest-abi.ts, rewrite.ts), and starts containers whose calls run on the
// shared worker pool (worker-pool.ts, worker.ts).
import { availableParallelism } from 'node:os';
import { createHash } from 'node:crypto';
import type { Config } from '../config.js';
import type { Logger } from '../observability/log.js';
import { Code, WorkdError, failedPrecondition, notFound, unavailable } from '../errors.js';
import { fixedLimit } from '../limits.js';
import type { ComponentSource, ContainerRuntime, ContainerUsage, Executor, ExecutorUsage, PreparedModule, ResourceUpdate, StartOptions } from './api.js';
import { analyzeGuest, checkAbiVersion } from './guest-abi.js';
import { Container, memoryPagesFor, type ResolvedLimits } from './container.js';
import { WorkerPool } from './worker-pool.js';
import type { CtxMessage, ModuleSpec } from './protocol.js';
import { prepareComponent } from '../components/runtime/prepare.js';
import { TranspileCache } from '../components/runtime/transpile-cache.js';

export const MAX_STOPPED_USAGE = fixedLimit('executorMaxStoppedUsage');

interface Image {
  readonly prepared: PreparedModule;
  readonly module: WebAssembly.Module;
  readonly spec: ModuleSpec;
}

export interface ExecutorOptions {
  /** Where component transpiles are kept across restarts (`<state dir>/components`); none: in memory only. */
  readonly componentCacheDir?: string;
}

export function createExecutor(cfg: Config['executor'], log: Logger, opts: ExecutorOptions = {}): Executor {
  return new WorkerExecutor(cfg, log, opts);
}

class WorkerExecutor implements Executor {
  private readonly images = new Map<string, Promise<Image>>();
  private readonly ready = new Map<string, Image>();
  private readonly containers = new Map<string, Container>();
  /** Last counters of stopped containers, oldest first. */
  private readonly stopped = new Map<string, ContainerUsage>();
  private readonly pool: WorkerPool;
  private ctxSeq = 0;
  private closed = false;
  private transpiles?: Promise<TranspileCache | undefined>;

  constructor(
    private readonly cfg: Config['executor'],
    private readonly log: Logger,
    private readonly opts: ExecutorOptions,
  ) {
    this.pool = new WorkerPool(cfg.workers > 0 ? cfg.workers : availableParallelism(), log);
  }

  async prepare(imageId: string, wasm: Uint8Array, abiVersion: number, component?: ComponentSource): Promise<PreparedModule> {
    if (!component) checkAbiVersion(abiVersion);
    let p = this.images.get(imageId);
    if (!p) {
      p = component ? this.compileComponent(imageId, wasm, abiVersion, component) : this.compile(imageId, wasm, abiVersion);
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
        tableEntries: r.tableEntries,
        tableWrites: r.tableWrites,
        dirtyTracking: r.dirtyTracking,
        memoryMin: r.memory.min,
        memoryMax: r.memory.max,
        hasInitialize: guest.hasInitialize,
      },
    };
  }

  /** The on-disk transpile cache, opened on first use; undefined when not configured or not usable (logged). */
  private transpileCache(): Promise<TranspileCache | undefined> {
    const dir = this.opts.componentCacheDir;
    this.transpiles ??= dir === undefined ? Promise.resolve(undefined) : TranspileCache.open(dir, this.log).catch((err: Error) => {
      this.log.warn({ dir, err: err.message }, 'cannot open the component transpile cache; components are transpiled at every daemon start');
      return undefined;
    });
    return this.transpiles;
  }

  private async compileComponent(imageId: string, wasm: Uint8Array, abiVersion: number, c: ComponentSource): Promise<Image> {
    const store = await this.transpileCache();
    const p = await prepareComponent(wasm, c.descriptorSet, c.service, store && { store, key: imageId });
    this.log.info({ imageId, bytes: wasm.length, cached: p.cached, transpileMs: Math.round(p.transpileMs), compileMs: Math.round(p.compileMs) }, p.cached ? 'compiled component (transpile from the cache)' : 'transpiled and compiled component');
    return { prepared: { imageId, abiVersion, methods: new Set(p.methods) }, module: p.module, spec: p.spec };
  }

  async start(o: StartOptions): Promise<ContainerRuntime> {
    if (this.closed) throw unavailable('the executor is closed');
    const image = this.ready.get(o.module.imageId) ?? (await this.images.get(o.module.imageId));
    if (!image) throw failedPrecondition(`image ${o.module.imageId} has not been prepared (or was evicted)`);
    const env = Object.entries(o.env).map(([k, v]) => `${k}=${v}`);
    const args = [...(o.args ?? [])];
    const hash = createHash('sha256').update(JSON.stringify([env, args])).digest('base64url').slice(0, 16);
    const contextFor = (l: ResolvedLimits): CtxMessage => ({
      t: 'ctx',
      id: ++this.ctxSeq,
      moduleKey: image.prepared.imageId,
      poolKey: `${image.prepared.imageId}|${l.memoryPages}|${l.memoryLimitBytes}`,
      envHash: hash,
      memoryPages: l.memoryPages,
      memoryLimitBytes: l.memoryLimitBytes,
      env,
      args,
    });
    const resolve = (u: ResourceUpdate, cur: ResolvedLimits) => this.resolve(image.spec, u, cur);
    const limits = {
      ...resolve({ memoryLimitBytes: o.limits.memoryBytes ?? 0, cpuMsPerCall: o.limits.cpuMsPerCall ?? 0 }, { memoryLimitBytes: 0, memoryPages: 0, cpuMs: 0 }),
      maxInFlight: o.limits.maxInFlight && o.limits.maxInFlight > 0 ? o.limits.maxInFlight : this.cfg.maxInFlight,
    };
    if (this.containers.has(o.containerId)) throw failedPrecondition(`container ${o.containerId} is already running`);
    const container = new Container(this.pool, o, { methods: image.prepared.methods, module: image.module, spec: image.spec }, limits, contextFor, resolve, (c) => {
      if (this.containers.get(c.containerId) !== c) return;
      this.containers.delete(c.containerId);
      this.stopped.set(c.containerId, c.usage());
      if (this.stopped.size > MAX_STOPPED_USAGE) this.stopped.delete(this.stopped.keys().next().value!);
    });
    this.stopped.delete(o.containerId);
    this.containers.set(o.containerId, container);
    const probe = await container.probe(!o.restored);
    if (probe.status !== Code.OK) {
      await container.discard();
      this.stopped.delete(o.containerId);
      throw new WorkdError(probe.status as Code, probe.message);
    }
    return container;
  }

  /** Limits after an update: a field left out keeps its value, 0 (or less) means the node's default. */
  private resolve(spec: ModuleSpec, u: ResourceUpdate, cur: ResolvedLimits): ResolvedLimits {
    const pick = (v: number | undefined, current: number, dflt: number) => (v === undefined ? current : v > 0 ? v : dflt);
    const memoryLimitBytes = pick(u.memoryLimitBytes, cur.memoryLimitBytes, this.cfg.memoryLimitBytes);
    return {
      memoryLimitBytes,
      memoryPages: memoryLimitBytes === cur.memoryLimitBytes ? cur.memoryPages : memoryPagesFor(spec, memoryLimitBytes),
      cpuMs: pick(u.cpuMsPerCall, cur.cpuMs, this.cfg.cpuMsPerCall),
    };
  }

  update(containerId: string, u: ResourceUpdate): void {
    const c = this.containers.get(containerId);
    if (!c) throw notFound(`no running container ${containerId} in the executor`);
    c.update(u);
  }

  containerUsage(containerId: string): ContainerUsage | undefined {
    return this.containers.get(containerId)?.usage() ?? this.stopped.get(containerId);
  }

  forget(containerId: string): void {
    this.stopped.delete(containerId);
  }

  usage(): ExecutorUsage {
    return { ...this.pool.usage(), containers: this.containers.size, timestampMs: Date.now() };
  }

  evict(imageId: string): void {
    // After a prepare still running, which would write the entry again.
    const preparing = this.images.get(imageId);
    if (this.opts.componentCacheDir !== undefined) {
      void Promise.allSettled([preparing]).then(async () => (await this.transpileCache())?.remove(imageId));
    }
    this.images.delete(imageId);
    this.ready.delete(imageId);
    this.pool.evict(imageId);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.pool.close(), ...[...this.containers.values()].map((c) => c.discard())]);
  }
}

// The component lane of a worker thread (src/wasm/worker.ts dispatches here
// for images whose ModuleSpec carries a component): the loaded components and
// a pool of instances per (image, memory limit[, env]), LRU, as for modules.
import { Code } from '../../errors.js';
import type { CallState } from '../../wasm/host.js';
import type { MetadataEntry } from '../../wasm/api.js';
import { ComponentInstance, loadComponent, StatusError, type ComponentCallResult, type LoadedComponent } from './instance.js';
import type { ComponentSpec } from './protocol.js';

export interface LaneContext {
  readonly moduleKey: string;
  readonly poolKey: string;
  readonly envHash: string;
  readonly memoryPages: number;
  readonly memoryLimitBytes: number;
}

export interface LaneResult extends ComponentCallResult {
  /** Bytes the instance held at the end of the call, -1 when none was reached. */
  readonly memory: number;
}

export class ComponentLane {
  private readonly loaded = new Map<string, LoadedComponent | Error>();
  /** Components whose initialisation read env or args: their instances are per environment. */
  private readonly readsEnv = new Set<string>();
  /** LRU: most recently used last. */
  private readonly instances = new Map<string, ComponentInstance>();

  constructor(
    private readonly maxInstances: number,
    /** Called after an instantiation (its CPU is not the call's running long). */
    private readonly instantiated: () => void,
  ) {
    // jco's glue reads process.env.JCO_DEBUG on every call (several times); Node's env object asks the
    // C library each time (~2 µs a call here). A plain copy answers the same from this thread's heap.
    process.env = { ...process.env };
  }

  async load(key: string, spec: ComponentSpec): Promise<void> {
    try {
      this.loaded.set(key, await loadComponent(spec));
    } catch (err) {
      this.loaded.set(key, err instanceof Error ? err : new Error(String(err)));
    }
  }

  has(key: string): boolean {
    return this.loaded.has(key);
  }

  evict(key: string): void {
    this.loaded.delete(key);
    this.readsEnv.delete(key);
    for (const k of [...this.instances.keys()]) if (k.startsWith(`${key}|`)) this.instances.delete(k);
  }

  /** `method` empty: the start probe (instantiate afresh, so initialisation output is logged once per container). */
  run(ctx: LaneContext, method: string, request: Uint8Array, metadata: readonly MetadataEntry[], state: CallState): LaneResult {
    const c = this.loaded.get(ctx.moduleKey);
    if (!c) return { status: Code.INTERNAL, message: `component ${ctx.moduleKey} was not sent to this worker`, memory: -1 };
    if (c instanceof Error) return { status: Code.FAILED_PRECONDITION, message: `the component cannot be loaded: ${c.message}`, memory: -1 };
    const probe = method === '';
    let key = this.keyOf(ctx);
    let inst = probe ? undefined : this.instances.get(key);
    if (inst) {
      this.instances.delete(key);
    } else {
      try {
        inst = new ComponentInstance(c, ctx.memoryPages, state);
      } catch (err) {
        const e = err instanceof StatusError ? err : new StatusError(Code.FAILED_PRECONDITION, String(err));
        return { status: e.code, message: e.message, memory: -1, error: err };
      } finally {
        this.instantiated();
      }
      if (inst.holder.envRead) this.readsEnv.add(ctx.moduleKey);
      key = this.keyOf(ctx);
    }
    this.instances.set(key, inst);
    while (this.instances.size > this.maxInstances) this.instances.delete(this.instances.keys().next().value!);
    if (probe) return { status: Code.OK, message: '', memory: inst.memoryInUse() };
    const r = inst.call(method, request, metadata, state);
    const memory = inst.memoryInUse();
    if (inst.broken) this.instances.delete(key);
    if (memory > ctx.memoryLimitBytes || (r.status === Code.RESOURCE_EXHAUSTED && r.message === '')) {
      return { ...r, status: Code.RESOURCE_EXHAUSTED, message: `the component reached its memory limit of ${ctx.memoryLimitBytes} bytes (memories and tables hold ${memory} bytes)`, memory };
    }
    return { ...r, memory };
  }

  private keyOf(ctx: LaneContext): string {
    return this.readsEnv.has(ctx.moduleKey) ? `${ctx.poolKey}|${ctx.envHash}` : ctx.poolKey;
  }
}

// One component instance on a worker thread: jco's glue over the component's
// core instances, reset to its pristine state after every call.
//
// Pristine state covers everything a call can change:
//  - every core instance's memory, mutable globals and tables, restored from
//    the snapshot taken right after instantiation, as for ABI v1 modules: the
//    guest's own writes are tracked by the rewritten module; what the glue
//    writes from JavaScript lands only in memory the guest allocated for it
//    (its `*realloc` exports, which are wrapped to record the range) or at an
//    import's result pointer (recorded by the import's forwarder);
//  - the glue's own state (its resource tables, its task bookkeeping, the
//    "trapped" flag): a call that left it changed for the guest (a resource
//    it was given still alive, or dropped out of order; see HostTracker), or
//    that failed other than with a grpc-status, makes the next call run the
//    glue's `instantiate` afresh over the restored core instances, which are
//    reused. Their imports forward to the current glue's functions, so no
//    core module is instantiated again.
import { Code, WorkdError } from '../../errors.js';
import { CallState, GuestExit, HostCallError, type Holder } from '../../wasm/host.js';
import type { MetadataEntry } from '../../wasm/api.js';
import { DIRTY_HI_EXPORT, DIRTY_LO_EXPORT, DROPPED_EXPORT, GROW_FAILED_EXPORT, globalExportName, MEMORY_IMPORT, tableExportName } from '../../wasm/rewrite.js';
import { TABLE_ENTRY_BYTES } from '../../wasm/protocol.js';
import { restoreRange, withoutZeroTail } from '../../wasm/snapshot.js';
import { serviceCodec, type ServiceCodec } from '../codec/index.js';
import { createComponentImports, HostTracker } from './wasi.js';
import { importId, type ComponentSpec, type CoreModuleSpec } from './protocol.js';
import { callDirect, directPlans, FALLBACK, type DirectBinding, type DirectPlan } from './direct.js';

type Instantiate = (
  getCoreModule: (name: string) => WebAssembly.Module,
  imports: Record<string, unknown>,
  instantiateCore: (module: WebAssembly.Module, imports?: WebAssembly.Imports) => { exports: WebAssembly.Exports },
) => Record<string, unknown>;

/** A component as a worker holds it: its glue loaded, its codec built. */
export interface LoadedComponent {
  readonly spec: ComponentSpec;
  readonly instantiate: Instantiate;
  readonly codec: ServiceCodec;
  readonly byModule: ReadonlyMap<WebAssembly.Module, CoreModuleSpec>;
  readonly byName: ReadonlyMap<string, WebAssembly.Module>;
  /** The rpcs called without the glue (direct.ts), by rpc name. */
  readonly direct: ReadonlyMap<string, DirectPlan>;
}

/** Loads the glue (an ES module) and builds the codec; once per image per worker. `direct` false: every call through the glue. */
export async function loadComponent(spec: ComponentSpec, opts: { direct?: boolean } = {}): Promise<LoadedComponent> {
  const url = `data:text/javascript;base64,${Buffer.from(spec.glue).toString('base64')}`;
  const glue = (await import(url)) as { instantiate?: Instantiate };
  if (typeof glue.instantiate !== 'function') throw new WorkdError(Code.FAILED_PRECONDITION, 'the component glue has no instantiate function (not transpiled with --instantiation)');
  const codec = serviceCodec(spec.descriptorSet, spec.service);
  return {
    spec,
    instantiate: glue.instantiate,
    codec,
    direct: (opts.direct ?? DIRECT) ? directPlans(codec.world, spec.lifts) : new Map(),
    byModule: new Map(spec.cores.map((c) => [c.module, c])),
    byName: new Map(spec.cores.map((c) => [c.name, c.module])),
  };
}

/** A memory and its post-instantiation snapshot, with the ranges the host wrote since. */
interface MemState {
  readonly memory: WebAssembly.Memory;
  snap: Uint8Array;
  bytes: number;
  /** [lo, hi) pairs written from JavaScript during the call. */
  host: number[];
}

interface Slot {
  readonly module: WebAssembly.Module;
  readonly spec: CoreModuleSpec;
  readonly instance: WebAssembly.Instance;
  /** What the glue gets: the exports, with `*realloc` wrapped. */
  readonly exports: WebAssembly.Exports;
  /** The current glue run's import object (the forwarders read it). */
  current: WebAssembly.Imports;
  /** Non-function imports by `module\0name`: a later glue run must pass the same objects. */
  readonly fixed: Map<string, unknown>;
  mem?: MemState;
  globals: WebAssembly.Global[];
  globalSnap: unknown[];
  tables: WebAssembly.Table[];
  tableSnap: unknown[][];
  readonly dirtyLo?: WebAssembly.Global;
  readonly dirtyHi?: WebAssembly.Global;
  readonly growFailed?: WebAssembly.Global;
  readonly dropped?: WebAssembly.Global;
}

/** A later glue run passed a memory, table or global the core instances were not made with. */
class NeedsFreshInstance extends Error {}

export class StatusError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

export interface ComponentCallResult {
  readonly status: number;
  readonly message: string;
  readonly response?: Uint8Array;
  /** The error that failed the call, for the worker's trap reporting (last words). */
  readonly error?: unknown;
}

export class ComponentInstance {
  private readonly slots: Slot[] = [];
  private readonly mems: MemState[] = [];
  private readonly tracker = new HostTracker();
  readonly holder: Holder;
  private exportsObj!: Record<string, unknown>;
  /** The glue's state may differ from the pristine one: run its instantiate again before the next call. */
  private glueDirty = false;
  /** A reset is impossible (memory or a table grew, a segment was dropped, ...): throw this instance away. */
  broken = false;
  /** The direct calls' core exports, by rpc name. */
  private readonly direct = new Map<string, DirectBinding>();

  constructor(
    private readonly c: LoadedComponent,
    private readonly memoryPages: number,
    state: CallState,
  ) {
    this.holder = { cur: state, envRead: false };
    try {
      this.runGlue(true);
    } catch (err) {
      if (err instanceof WebAssembly.LinkError || err instanceof WebAssembly.CompileError) {
        throw new StatusError(Code.FAILED_PRECONDITION, `the component cannot be instantiated: ${err.message}`);
      }
      if (err instanceof GuestExit) throw new StatusError(Code.FAILED_PRECONDITION, `the component's initialisation exited with code ${err.exitCode}`);
      throw new StatusError(Code.FAILED_PRECONDITION, `the component's initialisation failed: ${(err as Error)?.message ?? String(err)}`);
    }
    this.snapshot();
    for (const [rpc, plan] of c.direct) {
      const b = this.bind(plan);
      if (b) this.direct.set(rpc, b);
    }
  }

  /** The rpcs this instance calls without the glue. */
  directRpcs(): string[] {
    return [...this.direct.keys()];
  }

  /** The core exports a direct plan names, if the core instances have them as it expects. */
  private bind(plan: DirectPlan): DirectBinding | undefined {
    const fn = this.slots[plan.func.instance]?.instance.exports[plan.func.name];
    const memory = this.slots[plan.memory.instance]?.instance.exports[plan.memory.name];
    const rslot = this.slots[plan.realloc.instance];
    // The wrapped realloc (it records what it hands out for the reset), of the slot whose memory this is.
    const realloc = rslot?.exports[plan.realloc.name];
    const post = plan.postReturn && this.slots[plan.postReturn.instance]?.instance.exports[plan.postReturn.name];
    if (typeof fn !== 'function' || !(memory instanceof WebAssembly.Memory) || typeof realloc !== 'function' || rslot?.mem?.memory !== memory) return undefined;
    if (realloc === rslot.instance.exports[plan.realloc.name]) return undefined;
    if (plan.postReturn && typeof post !== 'function') return undefined;
    return {
      plan,
      fn: fn as DirectBinding['fn'],
      memory,
      realloc: realloc as DirectBinding['realloc'],
      postReturn: post as DirectBinding['postReturn'],
    };
  }

  /** Memory the instance holds: its memories and tables (as counted against the limit). */
  memoryInUse(): number {
    let n = 0;
    for (const m of this.mems) n += m.memory.buffer.byteLength;
    for (const t of (this.allTables ??= this.uniqueTables())) n += t.length * TABLE_ENTRY_BYTES;
    return n;
  }

  /** Every table of the core instances, once each (they are fixed objects; their lengths are read per call). */
  private allTables?: WebAssembly.Table[];
  private uniqueTables(): WebAssembly.Table[] {
    const seen = new Set<WebAssembly.Table>();
    for (const s of this.slots) {
      for (const i of s.spec.tables) {
        const t = s.instance.exports[tableExportName(i)] as WebAssembly.Table | undefined;
        if (t) seen.add(t);
      }
    }
    return [...seen];
  }

  growFailed(): boolean {
    return this.slots.some((s) => s.growFailed !== undefined && s.growFailed.value !== 0);
  }

  /** Runs the glue's instantiate: `first` creates the core instances, later runs reuse them. */
  private runGlue(first: boolean): void {
    let next = 0;
    const stable = new Set<unknown>();
    for (const s of this.slots) for (const v of Object.values(s.exports)) stable.add(v);
    const instantiateCore = (module: WebAssembly.Module, imports: WebAssembly.Imports = {}) => {
      if (!first) {
        const slot = this.slots[next++];
        if (!slot || slot.module !== module) throw new NeedsFreshInstance('the glue instantiated its core modules in another order');
        for (const [key, v] of slot.fixed) {
          const [m, n] = key.split('\u0000') as [string, string];
          if (imports[m]?.[n] !== v) throw new NeedsFreshInstance(`the glue passed a new ${m}.${n}`);
        }
        slot.current = imports;
        return { exports: slot.exports };
      }
      const slot = this.instantiateSlot(module, imports, stable);
      for (const v of Object.values(slot.exports)) stable.add(v);
      return { exports: slot.exports };
    };
    this.exportsObj = this.c.instantiate((name) => {
      const m = this.c.byName.get(name);
      if (!m) throw new WorkdError(Code.FAILED_PRECONDITION, `the component glue asks for a core module ${name} the transpile did not produce`);
      return m;
    }, createComponentImports(this.holder, this.tracker, this.c.spec.imports), instantiateCore);
  }

  private instantiateSlot(module: WebAssembly.Module, given: WebAssembly.Imports, stable: Set<unknown>): Slot {
    const spec = this.c.byModule.get(module);
    if (!spec) throw new WorkdError(Code.FAILED_PRECONDITION, 'the component glue instantiated a core module the transpile did not produce');
    const retptr = new Set(spec.retptrImports);
    const actual: WebAssembly.Imports = {};
    const fixed = new Map<string, unknown>();
    let importedMemory: WebAssembly.Memory | undefined;
    const slotRef: { slot?: Slot } = {};
    for (const d of WebAssembly.Module.imports(module)) {
      const v = given[d.module]?.[d.name];
      (actual[d.module] ??= {});
      if (d.kind === 'function' && typeof v === 'function' && !stable.has(v)) {
        // The glue's own function: forward to the current glue run's.
        const m = d.module;
        const n = d.name;
        const marks = retptr.has(importId(m, n));
        actual[m]![n] = (...a: number[]) => {
          const s = slotRef.slot!;
          const r = (s.current[m]![n] as (...x: number[]) => unknown)(...a);
          if (marks && s.mem && a.length > 0) markHost(s.mem, a[a.length - 1]! >>> 0, RETPTR_BYTES);
          return r;
        };
      } else {
        actual[d.module]![d.name] = v as WebAssembly.ImportValue;
        if (d.kind !== 'function') fixed.set(importId(d.module, d.name), v);
        if (d.kind === 'memory') importedMemory = v as WebAssembly.Memory;
      }
    }
    let hostMemory: WebAssembly.Memory | undefined;
    if (spec.hostMemory) {
      hostMemory = new WebAssembly.Memory({ initial: spec.memoryMin, maximum: Math.max(spec.memoryMin, this.memoryPages) });
      (actual[MEMORY_IMPORT.module] ??= {})[MEMORY_IMPORT.name] = hostMemory;
    }
    const instance = new WebAssembly.Instance(module, actual);
    const memory = hostMemory ?? importedMemory;
    let mem = memory ? this.mems.find((x) => x.memory === memory) : undefined;
    if (memory && !mem) {
      mem = { memory, snap: new Uint8Array(0), bytes: 0, host: [] };
      this.mems.push(mem);
    }
    const ex = instance.exports;
    const exports: WebAssembly.Exports = { ...ex };
    for (const [name, v] of Object.entries(ex)) {
      if (typeof v !== 'function' || !/realloc/.test(name) || !mem) continue;
      const fn = v as (a: number, b: number, c: number, d: number) => number;
      const target = mem;
      // The glue copies arguments and import results into what realloc returns.
      exports[name] = (old: number, oldSize: number, align: number, size: number) => {
        const p = fn(old, oldSize, align, size);
        markHost(target, p >>> 0, size >>> 0);
        return p;
      };
    }
    const slot: Slot = {
      module,
      spec,
      instance,
      exports,
      current: given,
      fixed,
      mem,
      globals: [],
      globalSnap: [],
      tables: [],
      tableSnap: [],
      dirtyLo: spec.dirtyTracking ? (ex[DIRTY_LO_EXPORT] as WebAssembly.Global) : undefined,
      dirtyHi: spec.dirtyTracking ? (ex[DIRTY_HI_EXPORT] as WebAssembly.Global) : undefined,
      growFailed: ex[GROW_FAILED_EXPORT] as WebAssembly.Global | undefined,
      dropped: ex[DROPPED_EXPORT] as WebAssembly.Global | undefined,
    };
    slotRef.slot = slot;
    this.slots.push(slot);
    return slot;
  }

  /** Records the pristine state: after instantiation, before the first call. */
  private snapshot(): void {
    for (const m of this.mems) {
      m.snap = withoutZeroTail(new Uint8Array(m.memory.buffer));
      m.bytes = m.memory.buffer.byteLength;
      m.host = [];
    }
    const seenTables = new Set<WebAssembly.Table>();
    for (const s of this.slots) {
      const ex = s.instance.exports;
      s.globals = s.spec.mutableGlobals.map((i) => ex[globalExportName(i)] as WebAssembly.Global);
      s.globalSnap = s.globals.map((g) => g.value);
      s.tables = s.spec.tableWrites
        ? s.spec.tables.map((i) => ex[tableExportName(i)] as WebAssembly.Table).filter((t) => !seenTables.has(t) && seenTables.add(t))
        : [];
      s.tableSnap = s.tables.map((t) => Array.from({ length: t.length }, (_, i) => t.get(i)));
      if (s.growFailed) s.growFailed.value = 0;
      if (s.dropped) s.dropped.value = 0;
      if (s.dirtyLo && s.dirtyHi) {
        s.dirtyLo.value = -1;
        s.dirtyHi.value = 0;
      }
    }
  }

  /**
   * Runs one call; never throws. The instance is reset afterwards (or marked broken);
   * `reset` false only for bench/executor's baseline (what isolation costs).
   */
  call(method: string, request: Uint8Array, metadata: readonly MetadataEntry[], state: CallState, reset = true): ComponentCallResult {
    this.holder.cur = state;
    this.tracker.reset();
    let failed = false;
    try {
      if (this.glueDirty) {
        this.glueDirty = false;
        this.runGlue(false);
      }
      const d = this.direct.get(method);
      if (d) {
        const r = callDirect(d, request, metadata);
        if (r !== FALLBACK) return r;
      }
      const codec = this.c.codec;
      const m = codec.method(method);
      if (!m) return { status: Code.UNIMPLEMENTED, message: `the component does not implement ${method}` };
      const iface = this.exportsObj[codec.jsExportName] as Record<string, (...a: unknown[]) => unknown> | undefined;
      const fn = iface?.[m.jsName];
      if (typeof fn !== 'function') return { status: Code.UNIMPLEMENTED, message: `the component does not export ${codec.exportName}.${m.funcName}` };
      const args: unknown[] = [codec.context(metadata)];
      if (m.takesRequest) args.push(m.decodeRequest(request));
      let value: unknown;
      try {
        value = fn.apply(iface, args);
      } catch (err) {
        const st = codec.errorStatus(err);
        if (!st) throw err;
        return { status: st.code === Code.OK ? Code.UNKNOWN : st.code, message: st.code === Code.OK ? `the component returned an error with status OK: ${st.message}` : st.message };
      }
      return { status: Code.OK, message: '', response: m.encodeResponse(m.returnsValue ? value : undefined) };
    } catch (err) {
      failed = true;
      return this.failure(err);
    } finally {
      if (failed || !this.tracker.clean()) this.glueDirty = true;
      if (reset && !this.restore()) this.broken = true;
      this.holder.cur = DISCARD;
    }
  }

  private failure(err: unknown): ComponentCallResult {
    if (err instanceof NeedsFreshInstance) {
      this.broken = true;
      return { status: Code.UNAVAILABLE, message: `the component must be instantiated again (${err.message}); try again`, error: err };
    }
    if (err instanceof WorkdError) return { status: err.code, message: err.message, error: err };
    if (err instanceof StatusError) return { status: err.code, message: err.message, error: err };
    if (err instanceof GuestExit || err instanceof HostCallError) return { status: Code.INTERNAL, message: err.message, error: err };
    // The lane words it: it knows the limit.
    if (this.growFailed()) return { status: Code.RESOURCE_EXHAUSTED, message: '', error: err };
    if (err instanceof WebAssembly.RuntimeError) return { status: Code.INTERNAL, message: `the component trapped: ${err.message.replace(/^wasm trap: /, '')}`, error: err };
    if (err instanceof RangeError && /Maximum call stack/.test(err.message)) return { status: Code.INTERNAL, message: 'the component trapped: call stack exhausted', error: err };
    return { status: Code.INTERNAL, message: `the call failed: ${(err as Error)?.message ?? String(err)}`, error: err };
  }

  /** Back to the snapshot; false when that is impossible. */
  private restore(): boolean {
    for (const m of this.mems) if (m.memory.buffer.byteLength !== m.bytes) return false;
    for (const s of this.slots) {
      if (s.dropped && s.dropped.value !== 0) return false;
      for (let i = 0; i < s.tables.length; i++) if (s.tables[i]!.length !== s.tableSnap[i]!.length) return false;
    }
    for (const s of this.slots) {
      if (!s.mem) continue;
      const mem = new Uint8Array(s.mem.memory.buffer);
      if (s.dirtyLo && s.dirtyHi) {
        const lo = s.dirtyLo.value >>> 0;
        const hi = Math.min(s.dirtyHi.value >>> 0, s.mem.bytes);
        if (lo < hi) restoreRange(mem, s.mem.snap, lo, hi);
        s.dirtyLo.value = -1;
        s.dirtyHi.value = 0;
      } else {
        restoreRange(mem, s.mem.snap, 0, s.mem.bytes);
      }
    }
    for (const m of this.mems) {
      const mem = new Uint8Array(m.memory.buffer);
      for (let i = 0; i < m.host.length; i += 2) restoreRange(mem, m.snap, m.host[i]!, Math.min(m.host[i + 1]!, m.bytes));
      m.host.length = 0;
    }
    for (const s of this.slots) {
      for (let i = 0; i < s.globals.length; i++) s.globals[i]!.value = s.globalSnap[i];
      for (let i = 0; i < s.tables.length; i++) {
        const t = s.tables[i]!;
        const snap = s.tableSnap[i]!;
        for (let j = 0; j < snap.length; j++) t.set(j, snap[j]);
      }
      if (s.growFailed) s.growFailed.value = 0;
    }
    if (VERIFY_RESTORE) this.verify();
    return true;
  }

  private verify(): void {
    for (const m of this.mems) {
      const mem = new Uint8Array(m.memory.buffer);
      if (!mem.every((b, i) => b === (i < m.snap.length ? m.snap[i] : 0))) {
        // Loud on purpose, as for ABI v1 modules: the executor sees the worker die and the test's calls fail.
        console.error('workd worker: restore verification failed: a component memory differs from the snapshot after a reset');
        process.exit(70);
      }
    }
  }
}

/** Bytes marked written at an import's result pointer: more than any WASI 0.2 function's results take. */
const RETPTR_BYTES = 256;
const VERIFY_RESTORE = process.env.WORKD_VERIFY_RESTORE === '1';
/** `WORKD_COMPONENT_DIRECT=0`: every call through jco's glue (bench/executor's same-run baseline, the tests comparing both). */
const DIRECT = process.env.WORKD_COMPONENT_DIRECT !== '0';
const DISCARD = new CallState([]);

function markHost(m: MemState, p: number, n: number): void {
  if (n === 0) return;
  const h = m.host;
  // Neighbouring writes (a list and its elements) extend the last range instead of adding one.
  const last = h.length - 1;
  if (last > 0 && p >= h[last - 1]! && p <= h[last]!) {
    if (p + n > h[last]!) h[last] = p + n;
    return;
  }
  h.push(p, p + n);
}

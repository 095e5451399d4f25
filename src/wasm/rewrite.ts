// A small WebAssembly binary rewriter, run once per image at prepare time.
//
// Per-call isolation restores a pooled instance to its post-initialisation
// snapshot, but JavaScript can only reset what a module exports. So the module
// is rewritten to:
//  - export every mutable global (`workd_g<index>`) and table (`workd_t<index>`),
//    including the toolchain's hidden ones (C's __stack_pointer, AssemblyScript's
//    heap offset);
//  - import its memory (`workd.workd_memory`) instead of defining it, so the host
//    creates it with the container's maximum while one compiled module serves
//    containers with different limits;
//  - route every memory write (stores, memory.fill/copy/init) through small
//    appended helpers that record the lowest and highest address written, so a
//    reset copies back only that range instead of all of memory;
//  - route every `memory.grow` through an appended function that records a
//    failed growth in an exported global (`workd_grow_failed`), so a call that
//    then traps can be reported as RESOURCE_EXHAUSTED rather than a bare trap;
//  - route every `data.drop` and `elem.drop` through a helper that sets an
//    exported global (`workd_dropped`): JavaScript cannot restore a dropped
//    segment, so an instance whose call dropped one is discarded, not reused.
// Function, global and table indices of the original module are unchanged
// (everything is appended), so names, elements and calls stay valid.
import { invalidArgument } from '../errors.js';
import {
  I32, V128, Reader, Writer, inspectModule, sections, skipFc, skipImmediates, skipSimd,
  type Limits, type ModuleInfo,
} from './wasm-binary.js';

export { inspectModule, WasmFormatError, type FuncType, type Limits, type ModuleInfo } from './wasm-binary.js';

export const MEMORY_IMPORT = { module: 'workd', name: 'workd_memory' } as const;
export const GROW_FAILED_EXPORT = 'workd_grow_failed';
export const DIRTY_LO_EXPORT = 'workd_dirty_lo';
export const DIRTY_HI_EXPORT = 'workd_dirty_hi';
export const DROPPED_EXPORT = 'workd_dropped';
// Per store opcode 0x36..0x3e: the stored value's type and width in bytes.
const STORES: [number, number][] = [
  [0x7f, 4], [0x7e, 8], [0x7d, 4], [0x7c, 8], [0x7f, 1], [0x7f, 2], [0x7e, 1], [0x7e, 2], [0x7e, 4],
];
export const globalExportName = (i: number) => `workd_g${i}`;
export const tableExportName = (i: number) => `workd_t${i}`;

export interface RewriteResult {
  readonly bytes: Uint8Array;
  /** Indices of the mutable globals now exported as `workd_g<i>`. */
  readonly mutableGlobals: readonly number[];
  /** Indices of the tables now exported as `workd_t<i>`. */
  readonly tables: readonly number[];
  /** Their initial sizes added up. */
  readonly tableEntries: number;
  /** The memory the host must supply (the module's own declaration). */
  readonly memory: Limits;
  /** How many `memory.grow` instructions were redirected. */
  readonly growSites: number;
  /** Whether any code can write a table (table.set/fill/copy/init/grow); if not, tables need no reset. */
  readonly tableWrites: boolean;
  /**
   * Whether every memory write of the module goes through a helper recording the
   * range written (exported globals `workd_dirty_lo`/`workd_dirty_hi`), so a reset
   * restores only that range. False when the module has instructions the
   * rewriter does not track (atomics): then all memory must be restored.
   */
  readonly dirtyTracking: boolean;
  /** Whether the module's memory is now the host's import `workd.workd_memory` (false: it imports its memory, or has none). */
  readonly hostMemory: boolean;
}

export interface RewriteOptions {
  /**
   * Also accept a module that imports its one memory or has none (the core
   * modules of a component share the main module's memory): its writes are
   * tracked the same way, and its imports are left as they are.
   */
  readonly sharedMemory?: boolean;
}

// Canonical order of non-custom sections (the tag section sits between memory and global).
const ORDER = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];
const rank = (id: number) => ORDER.indexOf(id);

/**
 * Rewrites a module for pooled, resettable execution (see the header comment).
 * The module must define exactly one memory and import none.
 */
export function rewriteModule(buf: Uint8Array, info: ModuleInfo = inspectModule(buf), opts: RewriteOptions = {}): RewriteResult {
  const hostMemory = info.memories.length === 1 && info.importedMemories === 0;
  if (opts.sharedMemory) {
    if (info.memories.length + info.importedMemories > 1) throw invalidArgument(`a core module of the component has ${info.memories.length + info.importedMemories} memories; the node supports one`);
  } else {
    if (info.importedMemories > 0) throw invalidArgument('the module imports its memory; guest ABI v1 requires a memory the module defines');
    if (info.memories.length !== 1) throw invalidArgument(`the module defines ${info.memories.length} memories; guest ABI v1 requires exactly one`);
  }
  const memory = info.memories[0] ?? { min: 0, shared: false, is64: false };
  if (memory.is64) throw invalidArgument('the module uses a 64-bit memory; guest ABI v1 requires a 32-bit memory');
  if (memory.shared) throw invalidArgument('the module uses a shared memory; guest ABI v1 requires an unshared memory');
  const mutableGlobals: number[] = [];
  info.globals.forEach((g, i) => {
    if (!g.mutable) return;
    if (g.valtype === V128) throw invalidArgument(`mutable global ${i} is a v128, which the node cannot reset between calls`);
    mutableGlobals.push(i);
  });
  const tables = Array.from({ length: info.tableCount }, (_, i) => i);
  const F = info.funcTypes.length;
  const growFunc = F;
  const markFunc = F + 1;
  const growGlobal = info.globals.length;
  const loGlobal = growGlobal + 1;
  const hiGlobal = growGlobal + 2;
  const droppedGlobal = growGlobal + 3;
  const taken = new Set(info.exports.map((e) => e.name));
  const newExports: [string, number, number][] = [];
  for (const g of mutableGlobals) newExports.push([globalExportName(g), 3, g]);
  for (const t of tables) newExports.push([tableExportName(t), 1, t]);
  newExports.push([GROW_FAILED_EXPORT, 3, growGlobal], [DIRTY_LO_EXPORT, 3, loGlobal], [DIRTY_HI_EXPORT, 3, hiGlobal], [DROPPED_EXPORT, 3, droppedGlobal]);
  for (const [name] of newExports) {
    if (taken.has(name)) throw invalidArgument(`the module exports ${name}, a name reserved for the node`);
  }

  const original = sections(buf);
  let growSites = 0;
  let tableWrites = false;
  let dirtyTracking = true;

  // New types, appended after the module's own: deduplicated by signature.
  const newTypes: string[] = [];
  const typeIndex = (params: number[], results: number[]) => {
    const key = `${params.join(',')}>${results.join(',')}`;
    let i = newTypes.indexOf(key);
    if (i < 0) i = newTypes.push(key) - 1;
    return info.types.length + i;
  };
  const growType = typeIndex([I32], [I32]);
  const markType = typeIndex([I32, I32], []);
  // Helpers that perform one memory-writing instruction and record the range it wrote.
  const helpers: { type: number; body: Uint8Array }[] = [];
  const helperByKey = new Map<string, number>();
  const helperIndex = (key: string, make: () => { type: number; body: Uint8Array }) => {
    let i = helperByKey.get(key);
    if (i === undefined) {
      i = helpers.push(make()) - 1;
      helperByKey.set(key, i);
    }
    return F + 2 + i;
  };
  // (param addr T) (local i32): addr value STORE; mark(addr+offset, addr+offset+size)
  const storeHelper = (instr: Uint8Array, valtype: number, offset: number, size: number) =>
    helperIndex(`s:${String.fromCharCode(...instr)}`, () => ({
      type: typeIndex([I32, valtype], []),
      body: new Writer()
        .u32(1).u32(1).byte(I32)
        .byte(0x20).u32(0).byte(0x20).u32(1).raw(instr)
        .byte(0x20).u32(0).byte(0x41).s32(offset).byte(0x6a).byte(0x22).u32(2)
        .byte(0x20).u32(2).byte(0x41).s32(size).byte(0x6a)
        .byte(0x10).u32(markFunc).byte(0x0b)
        .toBytes(),
    }));
  // (param dest x n): dest x n BULK; mark(dest, dest+n)
  const bulkHelper = (instr: Uint8Array) =>
    helperIndex(`b:${String.fromCharCode(...instr)}`, () => ({
      type: typeIndex([I32, I32, I32], []),
      body: new Writer()
        .u32(0)
        .byte(0x20).u32(0).byte(0x20).u32(1).byte(0x20).u32(2).raw(instr)
        .byte(0x20).u32(0).byte(0x20).u32(0).byte(0x20).u32(2).byte(0x6a)
        .byte(0x10).u32(markFunc).byte(0x0b)
        .toBytes(),
    }));
  // (): DROP; dropped = 1
  const dropHelper = (instr: Uint8Array) =>
    helperIndex(`d:${String.fromCharCode(...instr)}`, () => ({
      type: typeIndex([], []),
      body: new Writer().u32(0).raw(instr).byte(0x41).byte(1).byte(0x24).u32(droppedGlobal).byte(0x0b).toBytes(),
    }));

  // code: redirect memory.grow and every memory write, then append the helpers
  const bodies: Uint8Array[] = [];
  const codeSection = original.find((x) => x.id === 10);
  if (codeSection) {
    const r = new Reader(buf, codeSection.start, codeSection.end);
    const n = r.u32();
    for (let i = 0; i < n; i++) {
      const size = r.u32();
      const bodyEnd = r.pos + size;
      const body = new Reader(buf, r.pos, bodyEnd);
      const out = new Writer();
      const locals = body.u32();
      out.u32(locals);
      for (let j = 0; j < locals; j++) {
        out.u32(body.u32());
        const at = body.pos;
        body.valtype();
        out.raw(buf.subarray(at, body.pos));
      }
      let copyFrom = body.pos;
      const redirect = (at: number, func: number) => {
        out.raw(buf.subarray(copyFrom, at));
        out.byte(0x10).u32(func);
        copyFrom = body.pos;
      };
      while (body.pos < bodyEnd) {
        const at = body.pos;
        const op = body.byte();
        if (op === 0x40) {
          if (body.u32() !== 0) throw invalidArgument('memory.grow on a memory other than 0');
          redirect(at, growFunc);
          growSites++;
        } else if (op >= 0x36 && op <= 0x3e) {
          const align = body.u32();
          if (align & 0x40) body.u32();
          const offset = body.u32();
          const [valtype, width] = STORES[op - 0x36]!;
          redirect(at, storeHelper(buf.slice(at, body.pos), valtype, offset, width));
        } else if (op === 0xfc) {
          const save = body.pos;
          const sub = body.u32();
          body.pos = save;
          if (sub === 12 || sub === 14 || sub === 15 || sub === 17) tableWrites = true;
          body.u32();
          skipFc(body, sub);
          if (sub === 8 || sub === 10 || sub === 11) redirect(at, bulkHelper(buf.slice(at, body.pos)));
          else if (sub === 9 || sub === 13) redirect(at, dropHelper(buf.slice(at, body.pos)));
        } else if (op === 0xfd) {
          const sub = body.u32();
          skipSimd(body, sub);
          if (sub === 11 || (sub >= 88 && sub <= 91)) {
            // re-read the memarg offset (after align and an optional memory index)
            const m = new Reader(buf, at + 1, body.pos);
            m.u32();
            const align = m.u32();
            if (align & 0x40) m.u32();
            const offset = m.u32();
            const width = sub === 11 ? 16 : [1, 2, 4, 8][sub - 88]!;
            redirect(at, storeHelper(buf.slice(at, body.pos), V128, offset, width));
          }
        } else {
          if (op === 0x26) tableWrites = true;
          else if (op === 0xfe) dirtyTracking = false; // atomics: fall back to restoring all memory
          skipImmediates(body, op);
        }
      }
      out.raw(buf.subarray(copyFrom, bodyEnd));
      bodies.push(out.toBytes());
      r.pos = bodyEnd;
    }
  }
  // The grow trampoline:
  // (func (param i32) (result i32) (local i32)
  //   local.get 0  memory.grow 0  local.tee 1  i32.const -1  i32.eq
  //   if  i32.const 1  global.set $failed  end  local.get 1)
  // A module without a memory has no memory.grow to redirect: its helper only has to validate.
  const growBody = info.memories.length + info.importedMemories === 0 ? new Writer().u32(0).byte(0x41).byte(0x7f).byte(0x0b).toBytes() : new Writer()
    .u32(1).u32(1).byte(I32)
    .byte(0x20).u32(0).byte(0x40).byte(0).byte(0x22).u32(1).byte(0x41).byte(0x7f).byte(0x46)
    .byte(0x04).byte(0x40).byte(0x41).byte(1).byte(0x24).u32(growGlobal).byte(0x0b)
    .byte(0x20).u32(1).byte(0x0b)
    .toBytes();
  // mark(start, end): lo = min(lo, start); hi = max(hi, end) (unsigned)
  const markBody = new Writer()
    .u32(0)
    .byte(0x20).u32(0).byte(0x23).u32(loGlobal).byte(0x49).byte(0x04).byte(0x40).byte(0x20).u32(0).byte(0x24).u32(loGlobal).byte(0x0b)
    .byte(0x20).u32(1).byte(0x23).u32(hiGlobal).byte(0x4b).byte(0x04).byte(0x40).byte(0x20).u32(1).byte(0x24).u32(hiGlobal).byte(0x0b)
    .byte(0x0b)
    .toBytes();
  const newBodies = [growBody, markBody, ...helpers.map((h) => h.body)];
  const newFuncTypes = [growType, markType, ...helpers.map((h) => h.type)];

  const replaced = new Map<number, Uint8Array>();
  const appendVec = (id: number, extra: (w: Writer) => number) => {
    const s = original.find((x) => x.id === id);
    const w = new Writer();
    let count = 0;
    let rest: Uint8Array = new Uint8Array(0);
    if (s) {
      const r = new Reader(buf, s.start, s.end);
      count = r.u32();
      rest = buf.subarray(r.pos, s.end);
    }
    const tail = new Writer();
    const added = extra(tail);
    w.u32(count + added).raw(rest).raw(tail.toBytes());
    replaced.set(id, w.toBytes());
  };
  appendVec(1, (w) => {
    for (const key of newTypes) {
      const [p, r] = key.split('>') as [string, string];
      const list = (x: string) => (x ? x.split(',').map(Number) : []);
      w.byte(0x60).u32(list(p).length).raw(list(p)).u32(list(r).length).raw(list(r));
    }
    return newTypes.length;
  });
  if (hostMemory) appendVec(2, (w) => {
    w.name(MEMORY_IMPORT.module).name(MEMORY_IMPORT.name).byte(2);
    w.byte(memory.max === undefined ? 0 : 1).u32(memory.min);
    if (memory.max !== undefined) w.u32(memory.max);
    return 1;
  });
  appendVec(3, (w) => {
    for (const t of newFuncTypes) w.u32(t);
    return newFuncTypes.length;
  });
  if (hostMemory) replaced.set(5, new Uint8Array(0)); // dropped: the memory is imported now
  appendVec(6, (w) => {
    w.byte(I32).byte(1).byte(0x41).byte(0).byte(0x0b); // grow failed
    w.byte(I32).byte(1).byte(0x41).byte(0x7f).byte(0x0b); // dirty lo = -1 (none)
    w.byte(I32).byte(1).byte(0x41).byte(0).byte(0x0b); // dirty hi = 0
    w.byte(I32).byte(1).byte(0x41).byte(0).byte(0x0b); // dropped = 0
    return 4;
  });
  appendVec(7, (w) => {
    for (const [name, kind, index] of newExports) w.name(name).byte(kind).u32(index);
    return newExports.length;
  });
  {
    const w = new Writer().u32(bodies.length + newBodies.length);
    for (const b of [...bodies, ...newBodies]) w.u32(b.length).raw(b);
    replaced.set(10, w.toBytes());
  }

  const out = new Writer().raw(buf.subarray(0, 8));
  const emitted = new Set<number>();
  const emit = (id: number, content: Uint8Array) => {
    emitted.add(id);
    if (id === 5 && hostMemory) return;
    out.byte(id).u32(content.length).raw(content);
  };
  const emitMissingBefore = (r: number) => {
    for (const id of ORDER) {
      if (rank(id) >= r) break;
      if (!emitted.has(id) && replaced.has(id) && !original.some((s) => s.id === id)) emit(id, replaced.get(id)!);
    }
  };
  for (const s of original) {
    if (s.id === 0) {
      out.byte(0).u32(s.end - s.start).raw(buf.subarray(s.start, s.end));
      continue;
    }
    emitMissingBefore(rank(s.id));
    emit(s.id, replaced.get(s.id) ?? buf.subarray(s.start, s.end));
  }
  emitMissingBefore(ORDER.length);
  return { bytes: out.toBytes(), mutableGlobals, tables, tableEntries: info.tableEntries, memory, growSites, tableWrites, dirtyTracking, hostMemory };
}

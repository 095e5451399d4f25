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
//    then traps can be reported as RESOURCE_EXHAUSTED rather than a bare trap.
// Function, global and table indices of the original module are unchanged
// (everything is appended), so names, elements and calls stay valid.
import { invalidArgument } from '../errors.js';

export const MEMORY_IMPORT = { module: 'workd', name: 'workd_memory' } as const;
export const GROW_FAILED_EXPORT = 'workd_grow_failed';
export const DIRTY_LO_EXPORT = 'workd_dirty_lo';
export const DIRTY_HI_EXPORT = 'workd_dirty_hi';
// Per store opcode 0x36..0x3e: the stored value's type and width in bytes.
const STORES: [number, number][] = [
  [0x7f, 4], [0x7e, 8], [0x7d, 4], [0x7c, 8], [0x7f, 1], [0x7f, 2], [0x7e, 1], [0x7e, 2], [0x7e, 4],
];
export const globalExportName = (i: number) => `workd_g${i}`;
export const tableExportName = (i: number) => `workd_t${i}`;

export type ExternKind = 'func' | 'table' | 'memory' | 'global' | 'tag';
const KINDS: ExternKind[] = ['func', 'table', 'memory', 'global', 'tag'];

export interface FuncType {
  readonly params: readonly number[];
  readonly results: readonly number[];
}
export interface Limits {
  readonly min: number;
  readonly max?: number;
  readonly shared: boolean;
  readonly is64: boolean;
}
export interface ImportEntry {
  readonly module: string;
  readonly name: string;
  readonly kind: ExternKind;
  /** For functions: the type index. */
  readonly typeIndex?: number;
}
export interface ExportEntry {
  readonly name: string;
  readonly kind: ExternKind;
  readonly index: number;
}
export interface ModuleInfo {
  readonly types: readonly FuncType[];
  readonly imports: readonly ImportEntry[];
  readonly exports: readonly ExportEntry[];
  /** Type index of every function, imported ones first. */
  readonly funcTypes: readonly number[];
  /** Every global, imported ones first. */
  readonly globals: readonly { readonly valtype: number; readonly mutable: boolean }[];
  readonly tableCount: number;
  /** Memories the module defines (not imported ones). */
  readonly memories: readonly Limits[];
  readonly importedMemories: number;
}

export interface RewriteResult {
  readonly bytes: Uint8Array;
  /** Indices of the mutable globals now exported as `workd_g<i>`. */
  readonly mutableGlobals: readonly number[];
  /** Indices of the tables now exported as `workd_t<i>`. */
  readonly tables: readonly number[];
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
}

export class WasmFormatError extends Error {}

const I32 = 0x7f;
const V128 = 0x7b;

class Reader {
  pos: number;
  constructor(readonly buf: Uint8Array, start = 0, readonly end = buf.length) {
    this.pos = start;
  }
  byte(): number {
    if (this.pos >= this.end) throw new WasmFormatError(`unexpected end of data at byte ${this.pos}`);
    return this.buf[this.pos++]!;
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      if (shift === 28 && b > 0x0f) throw new WasmFormatError(`integer too large at byte ${this.pos - 1}`);
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
  }
  /** Skips a signed LEB128 of any width. */
  skipLeb(): void {
    while (this.byte() & 0x80) {
      /* continuation */
    }
  }
  bytes(n: number): Uint8Array {
    if (this.pos + n > this.end) throw new WasmFormatError(`unexpected end of data at byte ${this.pos}`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  name(): string {
    return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes(this.u32()));
  }
  valtype(): number {
    const t = this.byte();
    if (t === 0x63 || t === 0x64) this.skipLeb(); // (ref null? heaptype)
    return t;
  }
  limits(): Limits {
    const flags = this.byte();
    if (flags > 0x07) throw new WasmFormatError(`unknown limits flags 0x${flags.toString(16)}`);
    const min = this.u32orSkip64(flags & 4);
    const max = flags & 1 ? this.u32orSkip64(flags & 4) : undefined;
    return { min, max, shared: (flags & 2) !== 0, is64: (flags & 4) !== 0 };
  }
  private u32orSkip64(is64: number): number {
    if (!is64) return this.u32();
    this.skipLeb();
    return 0;
  }
}

class Writer {
  private buf = new Uint8Array(256);
  private len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  byte(b: number): this {
    this.room(1);
    this.buf[this.len++] = b;
    return this;
  }
  u32(v: number): this {
    this.room(5);
    let n = v >>> 0;
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n !== 0) b |= 0x80;
      this.buf[this.len++] = b;
    } while (n !== 0);
    return this;
  }
  /** Signed LEB128 of a 32-bit value (i32.const immediates); u32 inputs wrap to their i32 meaning. */
  s32(v: number): this {
    this.room(5);
    let n = v | 0;
    for (;;) {
      const b = n & 0x7f;
      n >>= 7;
      if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
        this.buf[this.len++] = b;
        return this;
      }
      this.buf[this.len++] = b | 0x80;
    }
  }
  raw(bytes: Uint8Array | readonly number[]): this {
    this.room(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
    return this;
  }
  name(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u32(b.length).raw(b);
  }
  get length(): number {
    return this.len;
  }
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

interface Section {
  readonly id: number;
  /** Content start and end (after the size). */
  readonly start: number;
  readonly end: number;
}

function sections(buf: Uint8Array): Section[] {
  if (buf.length < 8 || buf[0] !== 0 || buf[1] !== 0x61 || buf[2] !== 0x73 || buf[3] !== 0x6d) {
    throw new WasmFormatError('not a WebAssembly module (bad magic number)');
  }
  if (buf[4] !== 1 || buf[5] !== 0 || buf[6] !== 0 || buf[7] !== 0) {
    throw new WasmFormatError('not a WebAssembly core module version 1 (a component-model component?)');
  }
  const out: Section[] = [];
  const r = new Reader(buf, 8);
  while (r.pos < buf.length) {
    const id = r.byte();
    const size = r.u32();
    const start = r.pos;
    if (start + size > buf.length) throw new WasmFormatError(`section ${id} runs past the end of the module`);
    out.push({ id, start, end: start + size });
    r.pos = start + size;
  }
  return out;
}

/** Skips one instruction's immediates after its opcode was read. Returns false at `end` of the outermost expression when depth hits 0. */
function skipImmediates(r: Reader, op: number): void {
  switch (op) {
    case 0x02: case 0x03: case 0x04: case 0x06: // block loop if try: blocktype
      r.skipLeb();
      return;
    case 0x0c: case 0x0d: case 0x10: case 0x12: case 0x20: case 0x21: case 0x22: case 0x23: case 0x24:
    case 0x25: case 0x26: case 0x3f: case 0x40: case 0xd2: case 0x07: case 0x08: case 0x09: case 0x18:
    case 0xd5: case 0xd6: case 0x14: case 0x15:
      r.u32();
      return;
    case 0x0e: { // br_table
      const n = r.u32();
      for (let i = 0; i <= n; i++) r.u32();
      return;
    }
    case 0x11: case 0x13: // call_indirect, return_call_indirect
      r.u32();
      r.u32();
      return;
    case 0x1c: { // select t*
      const n = r.u32();
      for (let i = 0; i < n; i++) r.valtype();
      return;
    }
    case 0x41: case 0x42:
      r.skipLeb();
      return;
    case 0x43:
      r.bytes(4);
      return;
    case 0x44:
      r.bytes(8);
      return;
    case 0xd0: // ref.null heaptype
      r.skipLeb();
      return;
    case 0xfc:
      skipFc(r, r.u32());
      return;
    case 0xfd:
      skipSimd(r, r.u32());
      return;
    case 0xfe: {
      const sub = r.u32();
      if (sub === 0x03) r.byte();
      else memarg(r);
      return;
    }
    default:
      if (op >= 0x28 && op <= 0x3e) return memarg(r);
      if (op <= 0x01 || op === 0x05 || op === 0x0b || op === 0x0f || op === 0x19 || op === 0x1a || op === 0x1b) return;
      if (op >= 0x45 && op <= 0xc4) return;
      if (op === 0xd1 || op === 0xd3 || op === 0xd4) return;
      throw new WasmFormatError(`unsupported instruction opcode 0x${op.toString(16)}`);
  }
}

function memarg(r: Reader): void {
  const align = r.u32();
  if (align & 0x40) r.u32(); // multi-memory index
  r.u32();
}

function skipFc(r: Reader, sub: number): void {
  if (sub <= 7) return;
  switch (sub) {
    case 8: case 12: case 10: case 14:
      r.u32();
      r.u32();
      return;
    case 9: case 11: case 13: case 15: case 16: case 17:
      r.u32();
      return;
    default:
      throw new WasmFormatError(`unsupported instruction 0xfc ${sub}`);
  }
}

function skipSimd(r: Reader, sub: number): void {
  if (sub <= 11 || sub === 92 || sub === 93) return memarg(r);
  if (sub === 12 || sub === 13) {
    r.bytes(16);
    return;
  }
  if (sub >= 21 && sub <= 34) {
    r.byte();
    return;
  }
  if (sub >= 84 && sub <= 91) {
    memarg(r);
    r.byte();
  }
}

/** Skips a constant expression (global init, segment offsets). */
function skipConstExpr(r: Reader): void {
  for (;;) {
    const op = r.byte();
    if (op === 0x0b) return;
    skipImmediates(r, op);
  }
}

/** Reads the parts of a module that the guest ABI and the rewriter need. */
export function inspectModule(buf: Uint8Array): ModuleInfo {
  const types: FuncType[] = [];
  const imports: ImportEntry[] = [];
  const exports: ExportEntry[] = [];
  const funcTypes: number[] = [];
  const globals: { valtype: number; mutable: boolean }[] = [];
  const memories: Limits[] = [];
  let tableCount = 0;
  let importedMemories = 0;
  for (const s of sections(buf)) {
    const r = new Reader(buf, s.start, s.end);
    switch (s.id) {
      case 1: {
        const n = r.u32();
        for (let i = 0; i < n; i++) {
          const form = r.byte();
          if (form !== 0x60) throw new WasmFormatError(`type ${i} is not a function type (garbage-collection types are not supported)`);
          const params = Array.from({ length: r.u32() }, () => r.valtype());
          const results = Array.from({ length: r.u32() }, () => r.valtype());
          types.push({ params, results });
        }
        break;
      }
      case 2: {
        const n = r.u32();
        for (let i = 0; i < n; i++) {
          const module = r.name();
          const name = r.name();
          const kind = KINDS[r.byte()];
          if (!kind) throw new WasmFormatError(`import ${module}.${name} has an unknown kind`);
          let typeIndex: number | undefined;
          if (kind === 'func') {
            typeIndex = r.u32();
            funcTypes.push(typeIndex);
          } else if (kind === 'table') {
            r.valtype();
            r.limits();
            tableCount++;
          } else if (kind === 'memory') {
            r.limits();
            importedMemories++;
          } else if (kind === 'global') {
            const valtype = r.valtype();
            globals.push({ valtype, mutable: r.byte() === 1 });
          } else {
            r.byte();
            r.u32();
          }
          imports.push({ module, name, kind, typeIndex });
        }
        break;
      }
      case 3: {
        const n = r.u32();
        for (let i = 0; i < n; i++) funcTypes.push(r.u32());
        break;
      }
      case 4: {
        const n = r.u32();
        for (let i = 0; i < n; i++) {
          if (buf[r.pos] === 0x40) throw new WasmFormatError('tables with initialiser expressions are not supported');
          r.valtype();
          r.limits();
          tableCount++;
        }
        break;
      }
      case 5: {
        const n = r.u32();
        for (let i = 0; i < n; i++) memories.push(r.limits());
        break;
      }
      case 6: {
        const n = r.u32();
        for (let i = 0; i < n; i++) {
          const valtype = r.valtype();
          const mutable = r.byte() === 1;
          skipConstExpr(r);
          globals.push({ valtype, mutable });
        }
        break;
      }
      case 7: {
        const n = r.u32();
        for (let i = 0; i < n; i++) {
          const name = r.name();
          const kind = KINDS[r.byte()];
          if (!kind) throw new WasmFormatError(`export ${name} has an unknown kind`);
          exports.push({ name, kind, index: r.u32() });
        }
        break;
      }
      default:
        break;
    }
  }
  return { types, imports, exports, funcTypes, globals, tableCount, memories, importedMemories };
}

// Canonical order of non-custom sections (the tag section sits between memory and global).
const ORDER = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];
const rank = (id: number) => ORDER.indexOf(id);

/**
 * Rewrites a module for pooled, resettable execution (see the header comment).
 * The module must define exactly one memory and import none.
 */
export function rewriteModule(buf: Uint8Array, info: ModuleInfo = inspectModule(buf)): RewriteResult {
  if (info.importedMemories > 0) throw invalidArgument('the module imports its memory; guest ABI v1 requires a memory the module defines');
  if (info.memories.length !== 1) throw invalidArgument(`the module defines ${info.memories.length} memories; guest ABI v1 requires exactly one`);
  const memory = info.memories[0]!;
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
  const taken = new Set(info.exports.map((e) => e.name));
  const newExports: [string, number, number][] = [];
  for (const g of mutableGlobals) newExports.push([globalExportName(g), 3, g]);
  for (const t of tables) newExports.push([tableExportName(t), 1, t]);
  newExports.push([GROW_FAILED_EXPORT, 3, growGlobal], [DIRTY_LO_EXPORT, 3, loGlobal], [DIRTY_HI_EXPORT, 3, hiGlobal]);
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
  const growBody = new Writer()
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
  appendVec(2, (w) => {
    w.name(MEMORY_IMPORT.module).name(MEMORY_IMPORT.name).byte(2);
    w.byte(memory.max === undefined ? 0 : 1).u32(memory.min);
    if (memory.max !== undefined) w.u32(memory.max);
    return 1;
  });
  appendVec(3, (w) => {
    for (const t of newFuncTypes) w.u32(t);
    return newFuncTypes.length;
  });
  replaced.set(5, new Uint8Array(0)); // dropped: the memory is imported now
  appendVec(6, (w) => {
    w.byte(I32).byte(1).byte(0x41).byte(0).byte(0x0b); // grow failed
    w.byte(I32).byte(1).byte(0x41).byte(0x7f).byte(0x0b); // dirty lo = -1 (none)
    w.byte(I32).byte(1).byte(0x41).byte(0).byte(0x0b); // dirty hi = 0
    return 3;
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
    if (id === 5) return;
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
  return { bytes: out.toBytes(), mutableGlobals, tables, memory, growSites, tableWrites, dirtyTracking };
}

// Reading and writing the WebAssembly binary format (core module, version 1):
// sections, LEB128 integers, and the immediates of every instruction, so the
// rewriter can walk function bodies. Only what the guest ABI checks and the
// rewriter need is decoded; unknown instructions are refused by name.

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
  /** The tables' initial sizes added up (entries a fresh instance holds). */
  readonly tableEntries: number;
  /** Memories the module defines (not imported ones). */
  readonly memories: readonly Limits[];
  readonly importedMemories: number;
}

export class WasmFormatError extends Error {}

export const I32 = 0x7f;
export const V128 = 0x7b;

export class Reader {
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

export class Writer {
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

export interface Section {
  readonly id: number;
  /** Content start and end (after the size). */
  readonly start: number;
  readonly end: number;
}

export function sections(buf: Uint8Array): Section[] {
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
export function skipImmediates(r: Reader, op: number): void {
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

export function skipFc(r: Reader, sub: number): void {
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

export function skipSimd(r: Reader, sub: number): void {
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
  let tableEntries = 0;
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
            tableEntries += r.limits().min;
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
          tableEntries += r.limits().min;
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
  return { types, imports, exports, funcTypes, globals, tableCount, tableEntries, memories, importedMemories };
}

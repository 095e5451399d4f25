// Direct calls: protobuf bytes lowered straight into a component's memory by
// the canonical ABI (Component Model, CanonicalABI.md) and its result lifted
// straight back to protobuf bytes, without jco's glue or the codec's
// JavaScript values in between. jco's glue costs ~5 µs a call (its task
// bookkeeping for the Component Model's async support) and the codec ~4 µs,
// against ~1 µs for a whole ABI v1 call; this path does the same work in well
// under 1 µs for the simple rpcs.
//
// Simple: request and response records whose fields are all singular proto3
// scalars (numbers, bool, string, bytes) or enums, with implicit presence; a
// function lifted by a `canon lift` with UTF-8 strings and a memory and
// realloc of its own (canon-lifts.ts). Everything else — nested, repeated,
// optional, map and oneof fields, proto2, other string encodings, async lifts
// — goes through the codec and jco's glue, as does any call this path cannot
// be sure to answer the same: a request it does not read exactly as
// @bufbuild/protobuf would (a wrong wire type, bytes that are not UTF-8 in a
// string, a string starting with a byte order mark, a parse error) is handed
// back (FALLBACK) before anything is written to the guest, and the codec's
// path answers it, error message and all. test/integration/
// component-direct.test.ts checks both paths give the same bytes.
import { isUtf8 } from 'node:buffer';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { ScalarType } from '@bufbuild/protobuf';
import { Code, internal } from '../../errors.js';
import type { MetadataEntry } from '../../wasm/api.js';
import { CODE_CASES, type EnumDef, type FuncDef, type RecordDef, type ServiceWorld } from '../wit/mapping.js';
import type { CanonLift, CoreExportRef } from './canon-lifts.js';

/** FeatureSet.FieldPresence.IMPLICIT */
const IMPLICIT = 2;
/** Flattened parameters beyond this many are passed in memory (CanonicalABI.md, MAX_FLAT_PARAMS). */
const MAX_FLAT_PARAMS = 16;

type Value = number | bigint | Uint8Array;
const EMPTY = new Uint8Array(0);

type Kind = 'bool' | 's32' | 'u32' | 's64' | 'u64' | 'f32' | 'f64' | 'string' | 'bytes' | 'enum';

interface Field {
  readonly no: number;
  /** `shop.v1.Msg.field`, for errors. */
  readonly path: string;
  readonly kind: Kind;
  readonly scalar: ScalarType | undefined;
  readonly wire: WireType;
  readonly enumDef?: EnumDef;
  /** Offset in the record's canonical layout. */
  readonly offset: number;
  /** The value of the field when the request leaves it out (an enum: the case of number 0). */
  readonly zero: Value;
}

interface Layout {
  readonly fields: readonly Field[];
  /** In field-number order, as @bufbuild/protobuf writes them. */
  readonly byNumber: readonly Field[];
  readonly index: ReadonlyMap<number, number>;
  readonly size: number;
  readonly align: number;
  /** Flattened core values. */
  readonly flat: number;
  /** Some field is written with a fixed width (floats, fixed32/64): the writer needs a DataView. */
  readonly fixed: boolean;
}

/** What a direct call needs, per rpc, from the world and the component's lifts. */
export interface DirectPlan {
  readonly func: CoreExportRef;
  readonly memory: CoreExportRef;
  readonly realloc: CoreExportRef;
  readonly postReturn?: CoreExportRef;
  readonly request?: Layout;
  readonly response?: Layout;
  readonly responsePath: string;
  /** The result's payload offset in its return area. */
  readonly payload: number;
  /** Params in memory (more than 16 flat values): the request record's offset after the context. */
  readonly inMemory?: { readonly size: number; readonly align: number; readonly requestOffset: number };
}

/** The core exports a plan names, from the instantiated core instances. */
export interface DirectBinding {
  readonly plan: DirectPlan;
  readonly fn: (...args: unknown[]) => unknown;
  readonly memory: WebAssembly.Memory;
  /** The realloc as the instance wraps it (its writes are recorded for the reset). */
  readonly realloc: (old: number, oldSize: number, align: number, size: number) => number;
  readonly postReturn?: (ret: number) => void;
}

/** Views of a memory, made again only when its buffer changed (it grew). */
interface Views {
  buf: ArrayBuffer | undefined;
  u8: Uint8Array;
  dv: DataView;
}
const viewsOf = new WeakMap<WebAssembly.Memory, Views>();
function views(m: WebAssembly.Memory): Views {
  let v = viewsOf.get(m);
  if (!v) viewsOf.set(m, (v = { buf: undefined, u8: EMPTY, dv: new DataView(EMPTY.buffer) }));
  if (v.buf !== m.buffer) {
    v.buf = m.buffer;
    v.u8 = new Uint8Array(m.buffer);
    v.dv = new DataView(m.buffer);
  }
  return v;
}

/** The request is not one this path reads exactly as the codec: use the codec and jco's glue. */
export const FALLBACK = Symbol('fallback');

export interface DirectResult {
  readonly status: number;
  readonly message: string;
  readonly response?: Uint8Array;
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

function kindOf(scalar: ScalarType): { kind: Kind; wire: WireType } {
  switch (scalar) {
    case ScalarType.DOUBLE: return { kind: 'f64', wire: WireType.Bit64 };
    case ScalarType.FLOAT: return { kind: 'f32', wire: WireType.Bit32 };
    case ScalarType.INT64: case ScalarType.SINT64: return { kind: 's64', wire: WireType.Varint };
    case ScalarType.SFIXED64: return { kind: 's64', wire: WireType.Bit64 };
    case ScalarType.UINT64: return { kind: 'u64', wire: WireType.Varint };
    case ScalarType.FIXED64: return { kind: 'u64', wire: WireType.Bit64 };
    case ScalarType.INT32: case ScalarType.SINT32: return { kind: 's32', wire: WireType.Varint };
    case ScalarType.SFIXED32: return { kind: 's32', wire: WireType.Bit32 };
    case ScalarType.UINT32: return { kind: 'u32', wire: WireType.Varint };
    case ScalarType.FIXED32: return { kind: 'u32', wire: WireType.Bit32 };
    case ScalarType.BOOL: return { kind: 'bool', wire: WireType.Varint };
    case ScalarType.STRING: return { kind: 'string', wire: WireType.LengthDelimited };
    case ScalarType.BYTES: return { kind: 'bytes', wire: WireType.LengthDelimited };
  }
}

/** Size (= alignment) of an enum's discriminant. */
const enumSize = (d: EnumDef) => (d.cases.length <= 0x100 ? 1 : d.cases.length <= 0x10000 ? 2 : 4);

function sizeOf(kind: Kind, d?: EnumDef): { size: number; align: number; flat: number } {
  switch (kind) {
    case 'bool': return { size: 1, align: 1, flat: 1 };
    case 's32': case 'u32': case 'f32': return { size: 4, align: 4, flat: 1 };
    case 's64': case 'u64': case 'f64': return { size: 8, align: 8, flat: 1 };
    case 'string': case 'bytes': return { size: 8, align: 4, flat: 2 };
    case 'enum': { const s = enumSize(d!); return { size: s, align: s, flat: 1 }; }
  }
}

/** The canonical layout of a simple record, or undefined when it is not simple. */
function layout(def: RecordDef): Layout | undefined {
  const fields: Field[] = [];
  let at = 0;
  let maxAlign = 1;
  let flat = 0;
  for (const m of def.members) {
    if (m.k !== 'field' || m.shape !== 'plain' || m.field.presence !== IMPLICIT) return undefined;
    let kind: Kind;
    let wire: WireType;
    let scalar: ScalarType | undefined;
    let enumDef: EnumDef | undefined;
    if (m.conv.k === 'scalar') {
      ({ kind, wire } = kindOf(m.conv.scalar));
      scalar = m.conv.scalar;
    } else if (m.conv.k === 'enum') {
      kind = 'enum';
      wire = WireType.Varint;
      enumDef = m.conv.def;
    } else return undefined;
    const s = sizeOf(kind, enumDef);
    at = align(at, s.align);
    const zero: Value = kind === 'string' || kind === 'bytes' ? EMPTY : kind === 's64' || kind === 'u64' ? 0n : enumDef ? enumDef.cases.indexOf(enumDef.byNumber.get(0) ?? enumDef.cases[0]!) : 0;
    fields.push({ no: m.field.number, path: `${def.desc.typeName}.${m.field.name}`, kind, scalar, wire, enumDef, offset: at, zero });
    at += s.size;
    maxAlign = Math.max(maxAlign, s.align);
    flat += s.flat;
  }
  const byNumber = [...fields].sort((a, b) => a.no - b.no);
  const fixed = fields.some((f) => f.wire === WireType.Bit32 || f.wire === WireType.Bit64);
  return { fields, byNumber, index: new Map(fields.map((f, i) => [f.no, i])), size: align(at, maxAlign), align: maxAlign, flat, fixed };
}

/** grpc-status { code: grpc-code, message: string }: size 12, align 4. */
const STATUS_ALIGN = 4;
/** grpc-context { metadata: list<tuple<string, string>> }: size 8, align 4, 2 flat values. */
const CONTEXT = { size: 8, align: 4, flat: 2 };

/** Direct plans for the rpcs of `world` that are simple and lifted as this path needs. */
export function directPlans(world: ServiceWorld, lifts: readonly CanonLift[]): Map<string, DirectPlan> {
  const plans = new Map<string, DirectPlan>();
  for (const f of world.funcs) {
    const p = plan(world, f, lifts);
    if (p) plans.set(f.rpc, p);
  }
  return plans;
}

function plan(world: ServiceWorld, f: FuncDef, lifts: readonly CanonLift[]): DirectPlan | undefined {
  // wit-component's name for the core export of an exported interface's function.
  const name = `${world.exportName}#${f.name}`;
  const lift = lifts.find((l) => l.func.name === name);
  if (!lift || lift.async || lift.encoding !== 'utf8' || !lift.memory || !lift.realloc) return undefined;
  const request = f.request ? layout(f.request) : undefined;
  const response = f.response ? layout(f.response) : undefined;
  if ((f.request && !request) || (f.response && !response)) return undefined;
  const payload = align(1, Math.max(STATUS_ALIGN, response?.align ?? 1));
  const flat = CONTEXT.flat + (request?.flat ?? 0);
  let inMemory: DirectPlan['inMemory'];
  if (flat > MAX_FLAT_PARAMS) {
    const requestOffset = align(CONTEXT.size, request?.align ?? 1);
    const a = Math.max(CONTEXT.align, request?.align ?? 1);
    inMemory = { size: align(requestOffset + (request?.size ?? 0), a), align: a, requestOffset };
  }
  return { func: lift.func, memory: lift.memory, realloc: lift.realloc, postReturn: lift.postReturn, request, response, responsePath: `response ${f.responseDesc.typeName}`, payload, inMemory };
}

// ---- one call ----

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const BOM0 = 0xef;
const BOM1 = 0xbb;
const BOM2 = 0xbf;
const hasBom = (b: Uint8Array) => b.length >= 3 && b[0] === BOM0 && b[1] === BOM1 && b[2] === BOM2;

/** The request's field values in layout order, or FALLBACK. */
function readRequest(l: Layout, bytes: Uint8Array): Value[] | typeof FALLBACK {
  const values: Value[] = l.fields.map((f) => f.zero);
  try {
    const r = new BinaryReader(bytes);
    while (r.pos < r.len) {
      const [no, wt] = r.tag();
      const i = l.index.get(no);
      if (i === undefined) {
        r.skip(wt, no);
        continue;
      }
      const f = l.fields[i]!;
      if (wt !== f.wire) return FALLBACK;
      let v: Value;
      switch (f.scalar) {
        case ScalarType.DOUBLE: v = r.double(); break;
        case ScalarType.FLOAT: v = r.float(); break;
        case ScalarType.INT64: v = BigInt(r.int64()); break;
        case ScalarType.SINT64: v = BigInt(r.sint64()); break;
        case ScalarType.SFIXED64: v = BigInt(r.sfixed64()); break;
        case ScalarType.UINT64: v = BigInt(r.uint64()); break;
        case ScalarType.FIXED64: v = BigInt(r.fixed64()); break;
        case ScalarType.INT32: v = r.int32(); break;
        case ScalarType.SINT32: v = r.sint32(); break;
        case ScalarType.SFIXED32: v = r.sfixed32(); break;
        case ScalarType.UINT32: v = r.uint32(); break;
        case ScalarType.FIXED32: v = r.fixed32(); break;
        case ScalarType.BOOL: v = r.bool() ? 1 : 0; break;
        case ScalarType.STRING: {
          const b = r.bytes();
          if (!isUtf8(b) || hasBom(b)) return FALLBACK;
          v = b;
          break;
        }
        case ScalarType.BYTES: v = r.bytes(); break;
        default: {
          // An enum: its case, or the first case for a number the enum lacks (as the codec maps it).
          const d = f.enumDef!;
          const c = d.byNumber.get(r.int32()) ?? d.cases[0]!;
          v = d.cases.indexOf(c);
        }
      }
      values[i] = v;
    }
    if (r.pos !== r.len) return FALLBACK;
  } catch {
    return FALLBACK;
  }
  return values;
}

/** Runs one rpc through the binding. Throws what the guest throws (a trap), WorkdError for a result it cannot lift. */
export function callDirect(b: DirectBinding, request: Uint8Array, metadata: readonly MetadataEntry[]): DirectResult | typeof FALLBACK {
  const p = b.plan;
  const values = p.request ? readRequest(p.request, request) : [];
  if (values === FALLBACK) return FALLBACK;
  const realloc = b.realloc;
  // Allocate first (realloc may grow the memory and detach its buffer), then write.
  const meta = metadata.map(([k, v]) => [encoder.encode(k), encoder.encode(typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'))] as const);
  const metaList = realloc(0, 0, 4, meta.length * 16);
  const str = (b: Uint8Array) => (b.length > 0 ? realloc(0, 0, 1, b.length) : 1);
  const metaPtrs = meta.map(([k, v]) => [str(k), str(v)] as const);
  const fields = p.request?.fields ?? [];
  // An empty string is (1, 0) with no allocation, as jco's glue lowers it.
  const ptrs = fields.map((f, i) => (f.kind === 'bytes' || (f.kind === 'string' && (values[i] as Uint8Array).length > 0) ? realloc(0, 0, 1, (values[i] as Uint8Array).length) : f.kind === 'string' ? 1 : 0));
  const area = p.inMemory ? realloc(0, 0, p.inMemory.align, p.inMemory.size) : 0;
  const { u8, dv } = views(b.memory);
  meta.forEach(([k, v], i) => {
    const [kp, vp] = metaPtrs[i]!;
    u8.set(k, kp);
    u8.set(v, vp);
    dv.setUint32(metaList + i * 16, kp, true);
    dv.setUint32(metaList + i * 16 + 4, k.length, true);
    dv.setUint32(metaList + i * 16 + 8, vp, true);
    dv.setUint32(metaList + i * 16 + 12, v.length, true);
  });
  let args: unknown[];
  if (p.inMemory) {
    dv.setUint32(area, metaList, true);
    dv.setUint32(area + 4, meta.length, true);
    const base = area + p.inMemory.requestOffset;
    fields.forEach((f, i) => store(dv, u8, f, base + f.offset, values[i]!, ptrs[i]!));
    args = [area];
  } else {
    args = [metaList, meta.length];
    fields.forEach((f, i) => {
      const v = values[i]!;
      if (f.kind === 'string' || f.kind === 'bytes') {
        u8.set(v as Uint8Array, ptrs[i]!);
        args.push(ptrs[i]!, (v as Uint8Array).length);
      } else args.push(v);
    });
  }
  const ret = b.fn(...args) as number;
  const out = lift(b, ret >>> 0);
  b.postReturn?.(ret);
  return out;
}

function store(dv: DataView, u8: Uint8Array, f: Field, at: number, v: Value, ptr: number): void {
  switch (f.kind) {
    case 'bool': dv.setUint8(at, v as number); break;
    case 'enum': enumSize(f.enumDef!) === 1 ? dv.setUint8(at, v as number) : enumSize(f.enumDef!) === 2 ? dv.setUint16(at, v as number, true) : dv.setUint32(at, v as number, true); break;
    case 's32': dv.setInt32(at, v as number, true); break;
    case 'u32': dv.setUint32(at, v as number, true); break;
    case 's64': dv.setBigInt64(at, v as bigint, true); break;
    case 'u64': dv.setBigUint64(at, v as bigint, true); break;
    case 'f32': dv.setFloat32(at, v as number, true); break;
    case 'f64': dv.setFloat64(at, v as number, true); break;
    case 'string': case 'bytes': {
      const b = v as Uint8Array;
      u8.set(b, ptr);
      dv.setUint32(at, ptr, true);
      dv.setUint32(at + 4, b.length, true);
    }
  }
}

function lift(b: DirectBinding, ret: number): DirectResult {
  const p = b.plan;
  const { u8, dv } = views(b.memory);
  const span = (at: number, path: string): Uint8Array => {
    const ptr = dv.getUint32(at, true);
    const len = dv.getUint32(at + 4, true);
    if (ptr + len > u8.length) throw internal(`${path}: the list at ${ptr} of ${len} bytes lies outside the component's memory`);
    return u8.subarray(ptr, ptr + len);
  };
  const disc = dv.getUint8(ret);
  const at = ret + p.payload;
  if (disc === 1) {
    const code = dv.getUint8(at);
    if (code >= CODE_CASES.length) throw internal(`${p.responsePath}: grpc-status code ${code} is not a grpc-code case`);
    const message = decoder.decode(span(at + 4, `${p.responsePath} error message`));
    if (code === Code.OK) return { status: Code.UNKNOWN, message: `the component returned an error with code ok${message ? `: ${message}` : ''}` };
    return { status: code, message };
  }
  if (disc !== 0) throw internal(`${p.responsePath}: result discriminant ${disc} is neither ok nor err`);
  if (!p.response) return { status: Code.OK, message: '', response: EMPTY };
  // Two passes: the values and the exact size, then one buffer written once.
  const fs = p.response.byNumber;
  const vals: (Value | undefined)[] = new Array(fs.length);
  let size = 0;
  for (let i = 0; i < fs.length; i++) {
    const f = fs[i]!;
    const o = at + f.offset;
    let v: Value | undefined;
    switch (f.kind) {
      case 'bool': {
        const x = dv.getUint8(o);
        if (x > 1) throw internal(`${f.path}: ${x} is not a bool`);
        v = x === 1 ? 1 : undefined;
        break;
      }
      case 'enum': {
        const s = enumSize(f.enumDef!);
        const x = s === 1 ? dv.getUint8(o) : s === 2 ? dv.getUint16(o, true) : dv.getUint32(o, true);
        const c = f.enumDef!.cases[x];
        if (c === undefined) throw internal(`${f.path}: ${x} is not a case of enum ${f.enumDef!.name}`);
        const n = f.enumDef!.numbers.get(c)!;
        v = n !== 0 ? n : undefined;
        break;
      }
      case 's32': case 'u32': case 'f32': case 'f64': {
        const x = f.kind === 's32' ? dv.getInt32(o, true) : f.kind === 'u32' ? dv.getUint32(o, true) : f.kind === 'f32' ? dv.getFloat32(o, true) : dv.getFloat64(o, true);
        // proto3 leaves out +0 only (-0 and NaN are written), as @bufbuild/protobuf does.
        v = x !== 0 || Object.is(x, -0) ? x : undefined;
        break;
      }
      case 's64': case 'u64': {
        const x = f.kind === 's64' ? dv.getBigInt64(o, true) : dv.getBigUint64(o, true);
        v = x !== 0n ? x : undefined;
        break;
      }
      case 'string': case 'bytes': {
        let x = span(o, f.path);
        // jco's glue decodes strings (invalid UTF-8 replaced, a leading BOM dropped) before they are encoded again.
        if (f.kind === 'string' && x.length > 0 && (!isUtf8(x) || hasBom(x))) x = encoder.encode(decoder.decode(x));
        v = x.length > 0 ? x : undefined;
      }
    }
    vals[i] = v;
    if (v !== undefined) size += varintSize((f.no << 3) | f.wire) + valueSize(f, v);
  }
  const out = new Uint8Array(size);
  const ov = p.response.fixed ? new DataView(out.buffer) : undefined;
  let pos = 0;
  for (let i = 0; i < fs.length; i++) {
    const v = vals[i];
    if (v === undefined) continue;
    const f = fs[i]!;
    pos = writeVarint(out, pos, (f.no << 3) | f.wire);
    pos = writeValue(out, ov, pos, f, v);
  }
  return { status: Code.OK, message: '', response: out };
}

// ---- protobuf writing (the scalar encodings of the protobuf wire format) ----

function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

function varint64Size(v: bigint): number {
  let n = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    n++;
  }
  return n;
}

/** A 64-bit value as protobuf writes it: two's complement (int64, and int32 when negative) or zigzag (sint64). */
function u64Of(s: ScalarType, v: bigint): bigint {
  return s === ScalarType.SINT64 ? BigInt.asUintN(64, (v << 1n) ^ (v >> 63n)) : BigInt.asUintN(64, v);
}

function valueSize(f: Field, v: Value): number {
  switch (f.scalar) {
    case ScalarType.DOUBLE: case ScalarType.FIXED64: case ScalarType.SFIXED64: return 8;
    case ScalarType.FLOAT: case ScalarType.FIXED32: case ScalarType.SFIXED32: return 4;
    case ScalarType.BOOL: return 1;
    case ScalarType.STRING: case ScalarType.BYTES: return varintSize((v as Uint8Array).length) + (v as Uint8Array).length;
    case ScalarType.INT64: case ScalarType.SINT64: case ScalarType.UINT64: return varint64Size(u64Of(f.scalar, v as bigint));
    case ScalarType.UINT32: return varintSize(v as number);
    case ScalarType.SINT32: return varintSize(zigzag32(v as number));
    default: return (v as number) < 0 ? 10 : varintSize(v as number); // int32 and enums
  }
}

const zigzag32 = (v: number) => ((v << 1) ^ (v >> 31)) >>> 0;

function writeVarint(out: Uint8Array, pos: number, v: number): number {
  while (v > 0x7f) {
    out[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[pos++] = v;
  return pos;
}

function writeVarint64(out: Uint8Array, pos: number, v: bigint): number {
  while (v > 0x7fn) {
    out[pos++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  out[pos++] = Number(v);
  return pos;
}

function writeValue(out: Uint8Array, dv: DataView | undefined, pos: number, f: Field, v: Value): number {
  switch (f.scalar) {
    case ScalarType.DOUBLE: dv!.setFloat64(pos, v as number, true); return pos + 8;
    case ScalarType.FLOAT: dv!.setFloat32(pos, v as number, true); return pos + 4;
    case ScalarType.FIXED64: dv!.setBigUint64(pos, v as bigint, true); return pos + 8;
    case ScalarType.SFIXED64: dv!.setBigInt64(pos, v as bigint, true); return pos + 8;
    case ScalarType.FIXED32: dv!.setUint32(pos, v as number, true); return pos + 4;
    case ScalarType.SFIXED32: dv!.setInt32(pos, v as number, true); return pos + 4;
    case ScalarType.BOOL: out[pos] = 1; return pos + 1;
    case ScalarType.STRING: case ScalarType.BYTES: {
      const b = v as Uint8Array;
      pos = writeVarint(out, pos, b.length);
      out.set(b, pos);
      return pos + b.length;
    }
    case ScalarType.INT64: case ScalarType.SINT64: case ScalarType.UINT64: return writeVarint64(out, pos, u64Of(f.scalar, v as bigint));
    case ScalarType.UINT32: return writeVarint(out, pos, v as number);
    case ScalarType.SINT32: return writeVarint(out, pos, zigzag32(v as number));
    default: return (v as number) < 0 ? writeVarint64(out, pos, BigInt.asUintN(64, BigInt(v as number))) : writeVarint(out, pos, v as number);
  }
}

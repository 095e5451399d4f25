// The host side of a component call: protobuf bytes from the wire -> the
// values jco's generated glue passes to a component, and its results ->
// protobuf bytes, driven by the image's descriptor set and the mapping of
// ../wit/mapping.ts (docs/components.md, "Values").
//
// Parsing and writing protobuf is @bufbuild/protobuf's: unknown fields,
// packed and unpacked repeated fields, last-one-wins for repeated singular
// fields and map keys, proto2 defaults and presence are its rules. This
// module only moves values between its messages and jco's shapes, and checks
// what a guest returns so that a value protobuf cannot hold is an INTERNAL
// status naming the field.
import {
  create,
  fromBinary,
  fromJsonString,
  isFieldSet,
  ScalarType,
  toBinary,
  toJsonString,
  type DescField,
  type DescMessage,
  type Registry,
} from '@bufbuild/protobuf';
import { Code, internal, WorkdError } from '../../errors.js';
import { parseDescriptorSet } from '../../images/proto-compile.js';
import { CODE_CASES, fieldDefault, mapService, type Conv, type FuncDef, type Member, type RecordDef, type ServiceWorld } from '../wit/mapping.js';

export interface MethodCodec {
  /** The rpc's simple name (`AddFloats`). */
  readonly rpc: string;
  /** The WIT function (`add-floats`) and jco's name for it (`addFloats`). */
  readonly funcName: string;
  readonly jsName: string;
  /** False when the request message is empty: the function takes only the context. */
  readonly takesRequest: boolean;
  /** False when the response message is empty: the function returns `result<_, grpc-status>`. */
  readonly returnsValue: boolean;
  /** Request bytes -> the `request` argument. INTERNAL when the bytes are not the request message. */
  decodeRequest(bytes: Uint8Array): unknown;
  /** What the function returned -> response bytes. INTERNAL naming the field a value does not fit. */
  encodeResponse(value: unknown): Uint8Array;
}

export interface ServiceCodec {
  readonly world: ServiceWorld;
  /** The component's export (the inline interface) and jco's key for it in the exports object. */
  readonly exportName: string;
  readonly jsExportName: string;
  readonly methods: ReadonlyMap<string, MethodCodec>;
  method(rpc: string): MethodCodec | undefined;
  /** The `ctx` argument: request metadata as (key, value) pairs; binary values become base64, as on the wire. */
  context(metadata: Iterable<readonly [string, string | Uint8Array]>): { metadata: [string, string][] };
  /** The status a thrown value carries when it is the function's `grpc-status` error, else undefined. */
  errorStatus(thrown: unknown): { code: Code; message: string } | undefined;
}

/** The codec of one service of a binary FileDescriptorSet (or of a registry built from one). */
export function serviceCodec(descriptors: Uint8Array | Registry, service: string): ServiceCodec {
  const registry = descriptors instanceof Uint8Array ? parseDescriptorSet(descriptors).registry : descriptors;
  const world = mapService(registry, service);
  const methods = new Map<string, MethodCodec>(world.funcs.map((f) => [f.rpc, methodCodec(registry, f)]));
  return {
    world,
    exportName: world.exportName,
    jsExportName: world.jsExportName,
    methods,
    method: (rpc) => methods.get(rpc),
    context: (metadata) => ({
      metadata: [...metadata].map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')]),
    }),
    errorStatus,
  };
}

const CODE_NUMBERS = new Map<string, number>(CODE_CASES.map((c, i) => [c, i]));

function errorStatus(thrown: unknown): { code: Code; message: string } | undefined {
  // jco throws the err payload itself; older glue wrapped it in a ComponentError's `payload`.
  for (const v of [thrown, (thrown as { payload?: unknown } | null)?.payload]) {
    if (typeof v !== 'object' || v === null) continue;
    const { code, message } = v as { code?: unknown; message?: unknown };
    const n = typeof code === 'string' ? CODE_NUMBERS.get(code) : undefined;
    if (n === undefined || typeof message !== 'string') continue;
    // An error that says "ok" is not an answer the client can trust.
    if (n === Code.OK) return { code: Code.UNKNOWN, message: `the component returned an error with code ok${message ? `: ${message}` : ''}` };
    return { code: n as Code, message };
  }
  return undefined;
}

function methodCodec(registry: Registry, f: FuncDef): MethodCodec {
  const req = f.requestDesc;
  const res = f.responseDesc;
  return {
    rpc: f.rpc,
    funcName: f.name,
    jsName: f.js,
    takesRequest: f.request !== undefined,
    returnsValue: f.response !== undefined,
    decodeRequest(bytes) {
      let msg: Msg;
      try {
        msg = fromBinary(req, bytes, { readUnknownFields: false }) as unknown as Msg;
      } catch (err) {
        throw internal(`cannot parse the request as ${req.typeName}: ${(err as Error).message}`);
      }
      return f.request ? recordValue(registry, f.request, msg) : undefined;
    },
    encodeResponse(value) {
      const msg = f.response ? recordMessage(registry, f.response, value, `response ${res.typeName}`) : create(res);
      try {
        return toBinary(res, msg as never);
      } catch (err) {
        throw internal(`cannot encode the response ${res.typeName}: ${(err as Error).message}`);
      }
    },
  };
}

type Msg = Record<string, unknown> & { $typeName: string };

// ---- protobuf message -> jco value ----

function recordValue(registry: Registry, def: RecordDef, msg: Msg): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const m of def.members) out[m.js] = memberValue(registry, m, msg);
  return out;
}

function memberValue(registry: Registry, m: Member, msg: Msg): unknown {
  if (m.k === 'oneof') {
    const o = msg[m.oneof.localName] as { case: string | undefined; value?: unknown };
    if (o.case === undefined) return undefined;
    const c = m.variant.cases.find((x) => x.field.localName === o.case);
    if (!c) return undefined;
    return c.conv.k === 'empty' ? { tag: c.name } : { tag: c.name, val: single(registry, c.conv, o.value) };
  }
  const f = m.field;
  const v = msg[f.localName];
  switch (m.shape) {
    case 'flag':
      return isFieldSet(msg as never, f);
    case 'option':
      return isFieldSet(msg as never, f) ? single(registry, m.conv, v) : undefined;
    case 'plain':
      return single(registry, m.conv, isFieldSet(msg as never, f) ? v : (fieldDefault(f) ?? v));
    case 'list': {
      const items = (v as unknown[]).map((x) => single(registry, m.conv, x));
      return typedList(m.conv, items);
    }
    case 'map': {
      const key = m.key!;
      return Object.entries(v as Record<string, unknown>).map(([k, x]) => [mapKey(key.scalar, k), single(registry, m.conv, x)]);
    }
  }
}

/** jco gives (and takes) lists of numbers as typed arrays. */
function typedList(conv: Conv, items: unknown[]): unknown {
  if (conv.k !== 'scalar' && conv.k !== 'wrapper') return items;
  const t = conv.type;
  if (t.k === 'bytes' || t.k !== 'prim') return items;
  switch (t.prim) {
    case 'f32': return Float32Array.from(items as number[]);
    case 'f64': return Float64Array.from(items as number[]);
    case 's32': return Int32Array.from(items as number[]);
    case 'u32': return Uint32Array.from(items as number[]);
    case 's64': return BigInt64Array.from(items as bigint[]);
    case 'u64': return BigUint64Array.from(items as bigint[]);
    default: return items;
  }
}

function mapKey(s: ScalarType, k: string): unknown {
  switch (s) {
    case ScalarType.BOOL: return k === 'true';
    case ScalarType.STRING: return k;
    case ScalarType.INT64: case ScalarType.SINT64: case ScalarType.SFIXED64: case ScalarType.UINT64: case ScalarType.FIXED64:
      return BigInt(k);
    default: return Number(k);
  }
}

function single(registry: Registry, conv: Conv, v: unknown): unknown {
  switch (conv.k) {
    case 'scalar':
      if (conv.longAsString && typeof v === 'string') return BigInt(v);
      return v;
    case 'enum':
      return conv.def.byNumber.get(v as number) ?? conv.def.cases[0];
    case 'message':
      return recordValue(registry, conv.def, v as Msg);
    case 'encoded':
      return toBinary(conv.desc, v as never);
    case 'wrapper':
      // Singular wrapper fields are unboxed by @bufbuild/protobuf; in lists, maps and oneofs they are messages.
      return isMessage(v) ? (v as unknown as { value: unknown }).value : v;
    case 'json':
      return isMessage(v) ? toJsonString(conv.desc, v as never, { registry }) : JSON.stringify(v);
    case 'empty':
      return undefined;
  }
}

const isMessage = (v: unknown) => typeof v === 'object' && v !== null && '$typeName' in v;

// ---- jco value -> protobuf message ----

function fail(path: string, what: string): WorkdError {
  return internal(`${path}: ${what}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v).slice(0, 40)}`;
}

function recordMessage(registry: Registry, def: RecordDef, value: unknown, path: string): Msg {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(path, `expected a record (an object), got ${describe(value)}`);
  const v = value as Record<string, unknown>;
  const msg = create(def.desc) as unknown as Msg;
  for (const m of def.members) {
    const x = v[m.js];
    if (m.k === 'oneof') {
      const p = `${path}.${m.oneof.name}`;
      if (x === undefined || x === null) continue;
      const tag = (x as { tag?: unknown }).tag;
      const c = m.variant.cases.find((k) => k.name === tag);
      if (!c) throw fail(p, `expected a variant {tag, val} with tag ${m.variant.cases.map((k) => `'${k.name}'`).join(' or ')}, got ${typeof tag === 'string' ? `tag '${tag}'` : describe(x)}`);
      const val = c.conv.k === 'empty' ? create(c.conv.desc) : protoValue(registry, c.conv, c.field, (x as { val?: unknown }).val, `${path}.${c.field.name}`);
      msg[m.oneof.localName] = { case: c.field.localName, value: val };
      continue;
    }
    const f = m.field;
    const p = `${path}.${f.name}`;
    switch (m.shape) {
      case 'flag':
        if (typeof x !== 'boolean') throw fail(p, `expected a bool, got ${describe(x)}`);
        if (x && m.conv.k === 'empty') msg[f.localName] = create(m.conv.desc);
        break;
      case 'option':
        if (x !== undefined && x !== null) msg[f.localName] = protoValue(registry, m.conv, f, x, p);
        break;
      case 'plain':
        msg[f.localName] = protoValue(registry, m.conv, f, x, p);
        break;
      case 'list': {
        if (!Array.isArray(x) && !ArrayBuffer.isView(x)) throw fail(p, `expected a list, got ${describe(x)}`);
        const items = Array.from(x as ArrayLike<unknown>);
        msg[f.localName] = items.map((e, i) => protoValue(registry, m.conv, f, e, `${p}[${i}]`));
        break;
      }
      case 'map': {
        if (!Array.isArray(x)) throw fail(p, `expected a list of [key, value] tuples, got ${describe(x)}`);
        const out: Record<string, unknown> = {};
        x.forEach((e, i) => {
          if (!Array.isArray(e) || e.length !== 2) throw fail(`${p}[${i}]`, `expected a [key, value] tuple, got ${describe(e)}`);
          const k = protoValue(registry, m.key!, f, e[0], `${p}[${i}] key`);
          out[String(k)] = protoValue(registry, m.conv, f, e[1], `${p}[${String(e[0])}]`);
        });
        msg[f.localName] = out;
        break;
      }
    }
  }
  return msg;
}

const LONE_SURROGATE = /\p{Cs}/u;
const I32 = 2 ** 31;
const U32 = 2 ** 32;
const I64 = 2n ** 63n;
const U64 = 2n ** 64n;

function protoValue(registry: Registry, conv: Conv, f: DescField, v: unknown, path: string): unknown {
  switch (conv.k) {
    case 'scalar':
      return scalarValue(conv.scalar, conv.longAsString, v, path);
    case 'enum': {
      const n = typeof v === 'string' ? conv.def.numbers.get(v) : undefined;
      if (n === undefined) throw fail(path, `expected a case of enum ${conv.def.name} (${conv.def.cases.map((c) => `'${c}'`).join(', ')}), got ${describe(v)}`);
      return n;
    }
    case 'message':
      return recordMessage(registry, conv.def, v, path);
    case 'encoded': {
      if (!(v instanceof Uint8Array)) throw fail(path, `expected the protobuf encoding of ${conv.desc.typeName} (list<u8>), got ${describe(v)}`);
      try {
        return fromBinary(conv.desc, v);
      } catch (err) {
        throw fail(path, `not a valid encoding of ${conv.desc.typeName}: ${(err as Error).message}`);
      }
    }
    case 'wrapper': {
      const inner = scalarValue(conv.inner.scalar, false, v, path);
      return f.fieldKind === 'message' && f.oneof === undefined ? inner : create(conv.desc, { value: inner } as never);
    }
    case 'json': {
      if (typeof v !== 'string') throw fail(path, `expected the JSON text of ${conv.desc.typeName}, got ${describe(v)}`);
      try {
        // @bufbuild/protobuf holds a google.protobuf.Struct field (outside Value) as the JSON object itself.
        if (conv.desc.typeName === 'google.protobuf.Struct' && f.parent.typeName !== 'google.protobuf.Value') {
          const obj: unknown = JSON.parse(v);
          if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new Error('a Struct is a JSON object');
          return obj;
        }
        return fromJsonString(conv.desc, v, { registry });
      } catch (err) {
        throw fail(path, `not valid JSON for ${conv.desc.typeName}: ${(err as Error).message}`);
      }
    }
    case 'empty':
      return create(conv.desc);
  }
}

function scalarValue(s: ScalarType, longAsString: boolean, v: unknown, path: string): unknown {
  switch (s) {
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      if (typeof v !== 'number') throw fail(path, `expected a number, got ${describe(v)}`);
      return v;
    case ScalarType.INT32: case ScalarType.SINT32: case ScalarType.SFIXED32:
      if (typeof v !== 'number' || !Number.isInteger(v) || v < -I32 || v >= I32) throw fail(path, `expected an s32, got ${describe(v)}`);
      return v;
    case ScalarType.UINT32: case ScalarType.FIXED32:
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= U32) throw fail(path, `expected a u32, got ${describe(v)}`);
      return v;
    case ScalarType.INT64: case ScalarType.SINT64: case ScalarType.SFIXED64: {
      const b = bigint(v);
      if (b === undefined || b < -I64 || b >= I64) throw fail(path, `expected an s64 (a BigInt), got ${describe(v)}`);
      return longAsString ? String(b) : b;
    }
    case ScalarType.UINT64: case ScalarType.FIXED64: {
      const b = bigint(v);
      if (b === undefined || b < 0n || b >= U64) throw fail(path, `expected a u64 (a BigInt), got ${describe(v)}`);
      return longAsString ? String(b) : b;
    }
    case ScalarType.BOOL:
      if (typeof v !== 'boolean') throw fail(path, `expected a bool, got ${describe(v)}`);
      return v;
    case ScalarType.STRING:
      if (typeof v !== 'string') throw fail(path, `expected a string, got ${describe(v)}`);
      if (LONE_SURROGATE.test(v)) throw fail(path, 'the string is not valid Unicode (a lone surrogate)');
      return v;
    case ScalarType.BYTES:
      if (v instanceof Uint8Array) return v;
      if (Array.isArray(v) && v.every((b) => Number.isInteger(b) && b >= 0 && b < 256)) return Uint8Array.from(v as number[]);
      throw fail(path, `expected bytes (a Uint8Array), got ${describe(v)}`);
  }
}

/** s64/u64 are BigInts in jco; a safe integer Number is taken too. */
function bigint(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  return undefined;
}

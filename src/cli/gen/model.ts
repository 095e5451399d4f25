// The one walk over the descriptors for `workd gen`: the messages, enums and
// services of the .proto files as a language-neutral model, checked once for
// what guest ABI v1 can serve. Each language's emitter (assemblyscript.ts,
// c.ts, rust.ts) turns this model into code and never reads a descriptor.
import { ScalarType, type DescEnum, type DescField, type DescMessage, type DescService } from '@bufbuild/protobuf';
import { FeatureSet_FieldPresence } from '@bufbuild/protobuf/wkt';
import { invalidArgument } from '../../errors.js';
import { parseDescriptorSet } from '../../images/proto-compile.js';

/** How a scalar is put on the wire; enums are `int32`. */
export type Scalar =
  | 'double' | 'float' | 'int64' | 'uint64' | 'int32' | 'fixed64' | 'fixed32' | 'bool' | 'string' | 'bytes'
  | 'uint32' | 'sfixed32' | 'sfixed64' | 'sint32' | 'sint64';

const SCALARS: Record<number, Scalar> = {
  [ScalarType.DOUBLE]: 'double', [ScalarType.FLOAT]: 'float', [ScalarType.INT64]: 'int64', [ScalarType.UINT64]: 'uint64',
  [ScalarType.INT32]: 'int32', [ScalarType.FIXED64]: 'fixed64', [ScalarType.FIXED32]: 'fixed32', [ScalarType.BOOL]: 'bool',
  [ScalarType.STRING]: 'string', [ScalarType.BYTES]: 'bytes', [ScalarType.UINT32]: 'uint32', [ScalarType.SFIXED32]: 'sfixed32',
  [ScalarType.SFIXED64]: 'sfixed64', [ScalarType.SINT32]: 'sint32', [ScalarType.SINT64]: 'sint64',
};

/** Wire types: 0 varint, 1 eight bytes, 2 length-delimited, 5 four bytes. */
export const WIRE: Record<Scalar, 0 | 1 | 2 | 5> = {
  double: 1, float: 5, int64: 0, uint64: 0, int32: 0, fixed64: 1, fixed32: 5, bool: 0, string: 2, bytes: 2,
  uint32: 0, sfixed32: 5, sfixed64: 1, sint32: 0, sint64: 0,
};

/** A field's value type: a scalar, an enum (an int32 on the wire) or a message. */
export type ValueType =
  | { kind: 'scalar'; scalar: Scalar }
  | { kind: 'enum'; scalar: 'int32'; enum: GenEnum }
  | { kind: 'message'; message: GenMessage };

export interface GenField {
  /** The name in the .proto. */
  name: string;
  number: number;
  /**
   * single: implicit presence (absent = the default); optional: explicit presence (proto3 `optional`, a oneof
   * member, proto2); repeated; map (`key` → `type`).
   */
  label: 'single' | 'optional' | 'repeated' | 'map';
  type: ValueType;
  key?: { kind: 'scalar'; scalar: Scalar };
  /** A repeated scalar written packed. */
  packed: boolean;
  /** A singular message field on a cycle back to its own message (Rust must box it). */
  recursive: boolean;
}

export interface GenMessage {
  typeName: string;
  /** The name inside the package, nested names joined by `_` (`Outer_Inner`). */
  local: string;
  fields: GenField[];
}

export interface GenEnum {
  typeName: string;
  local: string;
  values: { name: string; number: number }[];
}

export interface GenMethod {
  name: string;
  input: GenMessage;
  output: GenMessage;
}

export interface GenService {
  typeName: string;
  name: string;
  methods: GenMethod[];
}

export interface GenModel {
  /** The .proto files the services come from. */
  sources: string[];
  /** The proto package of the services (the first one's), for names in C. */
  pkg: string;
  messages: GenMessage[];
  enums: GenEnum[];
  services: GenService[];
}

function localName(typeName: string, pkg: string): string {
  return (pkg ? typeName.slice(pkg.length + 1) : typeName).replace(/\./g, '_');
}

/** The model of every message and enum (imports included, well-known types aside) and the services of `only`. */
export function buildModel(descriptorSet: Uint8Array, only?: readonly string[]): GenModel {
  const { registry } = parseDescriptorSet(descriptorSet);
  const descMessages: DescMessage[] = [];
  const descEnums: DescEnum[] = [];
  const descServices: DescService[] = [];
  for (const t of registry) {
    if (t.typeName.startsWith('google.protobuf.')) continue;
    if (t.kind === 'message' && !isMapEntry(t)) descMessages.push(t);
    if (t.kind === 'enum') descEnums.push(t);
    if (t.kind === 'service' && (only === undefined || only.includes(t.file.proto.name))) descServices.push(t);
  }
  const enums = new Map<string, GenEnum>();
  for (const e of descEnums) {
    enums.set(e.typeName, { typeName: e.typeName, local: localName(e.typeName, e.file.proto.package), values: e.values.map((v) => ({ name: v.name, number: v.number })) });
  }
  const messages = new Map<string, GenMessage>();
  for (const m of descMessages) messages.set(m.typeName, { typeName: m.typeName, local: localName(m.typeName, m.file.proto.package), fields: [] });
  const msg = (d: DescMessage): GenMessage => {
    const g = messages.get(d.typeName);
    if (!g) throw invalidArgument(`${d.typeName}: a well-known type (google.protobuf.*) is not supported by workd gen; declare your own message`);
    return g;
  };
  const en = (d: DescEnum): GenEnum => {
    const g = enums.get(d.typeName);
    if (!g) throw invalidArgument(`${d.typeName}: a well-known enum is not supported by workd gen`);
    return g;
  };
  const valueOf = (kind: 'scalar' | 'enum' | 'message', f: { scalar?: ScalarType; enum?: DescEnum; message?: DescMessage }, where: string): ValueType => {
    if (kind === 'enum') return { kind: 'enum', scalar: 'int32', enum: en(f.enum!) };
    if (kind === 'message') return { kind: 'message', message: msg(f.message!) };
    const s = SCALARS[f.scalar!];
    if (!s) throw invalidArgument(`${where}: scalar type ${f.scalar} is not supported by workd gen`);
    return { kind: 'scalar', scalar: s };
  };
  for (const d of descMessages) {
    const g = messages.get(d.typeName)!;
    for (const f of d.fields) g.fields.push(fieldOf(d, f, valueOf));
  }
  for (const g of messages.values()) {
    for (const f of g.fields) if (f.label !== 'repeated' && f.label !== 'map' && f.type.kind === 'message') f.recursive = reaches(f.type.message, g, new Set());
  }
  const services = descServices.map((s): GenService => ({
    typeName: s.typeName,
    name: s.name,
    methods: s.methods.map((m) => {
      if (m.methodKind !== 'unary') throw invalidArgument(`${s.typeName}/${m.name} is a ${m.methodKind} method; guest ABI v1 serves unary methods`);
      return { name: m.name, input: msg(m.input), output: msg(m.output) };
    }),
  }));
  return {
    sources: only ? [...only] : [...new Set(descServices.map((s) => s.file.proto.name))],
    pkg: descServices[0]?.file.proto.package ?? '',
    messages: [...messages.values()],
    enums: [...enums.values()],
    services,
  };
}

function isMapEntry(m: DescMessage): boolean {
  return m.proto.options?.mapEntry === true;
}

function fieldOf(
  m: DescMessage,
  f: DescField,
  valueOf: (kind: 'scalar' | 'enum' | 'message', f: { scalar?: ScalarType; enum?: DescEnum; message?: DescMessage }, where: string) => ValueType,
): GenField {
  const where = `${m.typeName}.${f.name}`;
  const base = { name: f.name, number: f.number, packed: false, recursive: false };
  if (f.proto.type === 10 /* TYPE_GROUP */) throw invalidArgument(`${where}: proto2 groups are not supported by workd gen (use a message field)`);
  switch (f.fieldKind) {
    case 'scalar':
    case 'enum':
    case 'message': {
      const optional = f.fieldKind === 'message' || f.presence !== FeatureSet_FieldPresence.IMPLICIT;
      return { ...base, label: optional ? 'optional' : 'single', type: valueOf(f.fieldKind, f, where) };
    }
    case 'list': {
      const type = valueOf(f.listKind, f, where);
      return { ...base, label: 'repeated', type, packed: f.packed && type.kind !== 'message' && WIRE[type.scalar] !== 2 };
    }
    case 'map': {
      const key = SCALARS[f.mapKey];
      if (!key) throw invalidArgument(`${where}: map key type ${f.mapKey} is not supported by workd gen`);
      return { ...base, label: 'map', key: { kind: 'scalar', scalar: key }, type: valueOf(f.mapKind, f, where) };
    }
  }
}

/** Whether `from` leads back to `target` through singular message fields. */
function reaches(from: GenMessage, target: GenMessage, seen: Set<GenMessage>): boolean {
  if (from === target) return true;
  if (seen.has(from)) return false;
  seen.add(from);
  return from.fields.some((f) => f.label !== 'repeated' && f.label !== 'map' && f.type.kind === 'message' && reaches(f.type.message, target, seen));
}

/** The packed-repeated and map rules, shared by the emitters' decode loops. */
export function isPackable(t: ValueType): boolean {
  return t.kind !== 'message' && WIRE[t.scalar] !== 2;
}

/** `snake_case` of an rpc or message name (`AddItem` → `add_item`). */
export function snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toLowerCase();
}

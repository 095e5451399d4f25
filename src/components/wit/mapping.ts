// The proto -> WIT mapping (docs/components.md): one service of a descriptor
// set becomes one WIT world whose exported interface has a function per rpc.
// The same model drives the printed WIT (print.ts), the codec between
// protobuf bytes and jco's values (../codec) and the check of a component's
// exports (check.ts), so the three cannot drift apart.
import { ScalarType, type DescEnum, type DescField, type DescMessage, type DescMethod, type DescOneof, type DescService, type Registry } from '@bufbuild/protobuf';
import { invalidArgument } from '../../errors.js';
import { isWitName, jsName, kebab } from './names.js';

export type Prim = 'bool' | 's32' | 's64' | 'u32' | 'u64' | 'f32' | 'f64' | 'string';

/** A WIT type as written in a field, parameter or result. */
export type WitType =
  | { readonly k: 'prim'; readonly prim: Prim }
  | { readonly k: 'bytes' }
  | { readonly k: 'list'; readonly of: WitType }
  | { readonly k: 'option'; readonly of: WitType }
  | { readonly k: 'tuple'; readonly of: readonly WitType[] }
  | { readonly k: 'named'; readonly name: string };

/** How one protobuf value (a field's element, a map value, a oneof member) is represented. */
export type Conv =
  | { readonly k: 'scalar'; readonly scalar: ScalarType; readonly longAsString: boolean; readonly type: WitType }
  | { readonly k: 'enum'; readonly def: EnumDef; readonly type: WitType }
  | { readonly k: 'message'; readonly def: RecordDef; readonly type: WitType }
  /** A message in a recursive cycle: its protobuf encoding as list<u8>. */
  | { readonly k: 'encoded'; readonly desc: DescMessage; readonly type: WitType }
  /** google.protobuf.*Value wrappers: the wrapped scalar. */
  | { readonly k: 'wrapper'; readonly desc: DescMessage; readonly inner: Conv & { k: 'scalar' }; readonly type: WitType }
  /** google.protobuf.Struct, Value, ListValue: their canonical JSON text. */
  | { readonly k: 'json'; readonly desc: DescMessage; readonly type: WitType }
  /** A message without fields: it carries only its presence. */
  | { readonly k: 'empty'; readonly desc: DescMessage };

/** One field of a record, from one proto field or one oneof. */
export type Member =
  | {
      readonly k: 'field';
      readonly name: string;
      readonly js: string;
      readonly field: DescField;
      /** 'option': explicit presence; 'plain': implicit presence or a declared default; 'flag': an empty message's presence as bool. */
      readonly shape: 'plain' | 'option' | 'flag' | 'list' | 'map';
      readonly conv: Conv;
      /** map fields: the key. */
      readonly key?: Conv & { k: 'scalar' };
      readonly type: WitType;
    }
  | {
      readonly k: 'oneof';
      readonly name: string;
      readonly js: string;
      readonly oneof: DescOneof;
      readonly variant: VariantDef;
      readonly type: WitType;
    };

export interface RecordDef {
  readonly kind: 'record';
  readonly name: string;
  readonly desc: DescMessage;
  readonly members: Member[];
}
export interface VariantDef {
  readonly kind: 'variant';
  readonly name: string;
  readonly cases: { readonly name: string; readonly field: DescField; readonly conv: Conv }[];
}
export interface EnumDef {
  readonly kind: 'enum';
  readonly name: string;
  readonly desc: DescEnum | undefined;
  readonly cases: readonly string[];
  /** Case of each number (the first name of an alias wins). */
  readonly byNumber: ReadonlyMap<number, string>;
  readonly numbers: ReadonlyMap<string, number>;
}
export type TypeDef = RecordDef | VariantDef | EnumDef;

export interface FuncDef {
  readonly rpc: string;
  readonly method: DescMethod;
  readonly name: string;
  readonly js: string;
  /** The request message's record; undefined when it is empty (the parameter is left out). */
  readonly request: RecordDef | undefined;
  readonly requestDesc: DescMessage;
  /** The response message's record; undefined when it is empty (`result<_, grpc-status>`). */
  readonly response: RecordDef | undefined;
  readonly responseDesc: DescMessage;
}

export interface ServiceWorld {
  readonly service: DescService;
  /** `proto:foo-v1` */
  readonly packageName: string;
  /** The world's and the exported interface's name (the service's simple name, kebab-cased). */
  readonly worldName: string;
  readonly exportName: string;
  readonly jsExportName: string;
  /** In dependency order (a type after the types it uses). */
  readonly types: readonly TypeDef[];
  readonly funcs: readonly FuncDef[];
}

/** The host's package: what every world may import. */
export const GRPC_PACKAGE = 'workd:grpc@0.1.0';
export const CALL_INTERFACE = 'workd:grpc/call@0.1.0';
export const CONTEXT_TYPE = 'grpc-context';
export const STATUS_TYPE = 'grpc-status';
export const CODE_TYPE = 'grpc-code';

/** gRPC status codes in number order, as WIT enum cases. */
export const CODE_CASES = [
  'ok', 'cancelled', 'unknown', 'invalid-argument', 'deadline-exceeded', 'not-found', 'already-exists',
  'permission-denied', 'resource-exhausted', 'failed-precondition', 'aborted', 'out-of-range', 'unimplemented',
  'internal', 'unavailable', 'data-loss', 'unauthenticated',
] as const;

const prim = (p: Prim): WitType => ({ k: 'prim', prim: p });
const named = (name: string): WitType => ({ k: 'named', name });

const SCALARS: Record<number, WitType> = {
  [ScalarType.DOUBLE]: prim('f64'), [ScalarType.FLOAT]: prim('f32'),
  [ScalarType.INT64]: prim('s64'), [ScalarType.SINT64]: prim('s64'), [ScalarType.SFIXED64]: prim('s64'),
  [ScalarType.UINT64]: prim('u64'), [ScalarType.FIXED64]: prim('u64'),
  [ScalarType.INT32]: prim('s32'), [ScalarType.SINT32]: prim('s32'), [ScalarType.SFIXED32]: prim('s32'),
  [ScalarType.UINT32]: prim('u32'), [ScalarType.FIXED32]: prim('u32'),
  [ScalarType.BOOL]: prim('bool'), [ScalarType.STRING]: prim('string'), [ScalarType.BYTES]: { k: 'bytes' },
};

const WRAPPERS: Record<string, ScalarType> = {
  'google.protobuf.DoubleValue': ScalarType.DOUBLE, 'google.protobuf.FloatValue': ScalarType.FLOAT,
  'google.protobuf.Int64Value': ScalarType.INT64, 'google.protobuf.UInt64Value': ScalarType.UINT64,
  'google.protobuf.Int32Value': ScalarType.INT32, 'google.protobuf.UInt32Value': ScalarType.UINT32,
  'google.protobuf.BoolValue': ScalarType.BOOL, 'google.protobuf.StringValue': ScalarType.STRING,
  'google.protobuf.BytesValue': ScalarType.BYTES,
};
const JSON_TYPES = new Set(['google.protobuf.Struct', 'google.protobuf.Value', 'google.protobuf.ListValue']);

/** The services a registry defines, by full name. */
export function servicesOf(registry: Registry): DescService[] {
  const out: DescService[] = [];
  for (const t of registry) if (t.kind === 'service') out.push(t);
  return out;
}

/**
 * Maps one service to its world. Throws INVALID_ARGUMENT naming what has no
 * mapping: a streaming rpc, two proto names that become one WIT name, a
 * repeated field of an empty message.
 */
export function mapService(registry: Registry, serviceName: string): ServiceWorld {
  const service = registry.getService(serviceName);
  if (!service) throw invalidArgument(`the descriptor set does not define service ${serviceName}`);
  return new Mapper(service).world();
}

class Mapper {
  private readonly pkg: string;
  private readonly types: TypeDef[] = [];
  private readonly byName = new Map<string, string>(); // WIT type name -> what it names (for collisions)
  private readonly records = new Map<string, RecordDef>(); // message full name -> record
  private readonly enums = new Map<string, EnumDef>();
  private readonly scc: Map<string, number>;

  constructor(private readonly service: DescService) {
    this.pkg = service.file.proto.package;
    for (const n of [CONTEXT_TYPE, STATUS_TYPE, CODE_TYPE]) this.byName.set(n, `workd's ${n}`);
    this.scc = cycles(service);
  }

  world(): ServiceWorld {
    const s = this.service;
    const streaming = s.methods.filter((m) => m.methodKind !== 'unary');
    if (streaming.length > 0) {
      throw invalidArgument(
        `${streaming.map((m) => `rpc ${s.typeName}/${m.name} is ${m.methodKind.replace('_', '-')}`).join('; ')}: ` +
          'components serve unary rpcs only (a streaming rpc has no WIT mapping yet)',
      );
    }
    const funcNames = new Map<string, string>();
    const funcs: FuncDef[] = s.methods.map((m) => {
      const name = kebab(m.name);
      const prev = funcNames.get(name);
      if (prev) throw invalidArgument(`rpcs ${s.typeName}/${prev} and ${s.typeName}/${m.name} both become the WIT function ${name}`);
      funcNames.set(name, m.name);
      return {
        rpc: m.name,
        method: m,
        name,
        js: jsName(name),
        request: isEmpty(m.input) ? undefined : this.record(m.input),
        requestDesc: m.input,
        response: isEmpty(m.output) ? undefined : this.record(m.output),
        responseDesc: m.output,
      };
    });
    const name = kebab(s.name);
    return {
      service: s,
      packageName: `proto:${this.pkg === '' ? 'default' : kebab(...this.pkg.split('.'))}`,
      worldName: name,
      exportName: name,
      jsExportName: jsName(name),
      types: this.types,
      funcs,
    };
  }

  /** The WIT name of a proto type: its path inside the service's package, else its full name, kebab-cased. */
  private typeName(fullName: string, what: string): string {
    const rel = this.pkg !== '' && fullName.startsWith(`${this.pkg}.`) ? fullName.slice(this.pkg.length + 1) : fullName;
    const name = kebab(...rel.split('.'));
    const prev = this.byName.get(name);
    if (prev !== undefined) throw invalidArgument(`${prev} and ${what} both become the WIT type ${name}; rename one`);
    this.byName.set(name, what);
    return name;
  }

  private record(desc: DescMessage): RecordDef {
    const have = this.records.get(desc.typeName);
    if (have) return have;
    const def: RecordDef = { kind: 'record', name: this.typeName(desc.typeName, `message ${desc.typeName}`), desc, members: [] };
    this.records.set(desc.typeName, def);
    const names = new Map<string, string>();
    const claim = (name: string, what: string) => {
      const prev = names.get(name);
      if (prev) throw invalidArgument(`${prev} and ${what} of message ${desc.typeName} both become the WIT field ${name}`);
      names.set(name, what);
    };
    for (const m of desc.members) {
      if (m.kind === 'oneof') {
        const name = kebab(m.name);
        claim(name, `oneof ${m.name}`);
        const variant = this.variant(desc, m);
        def.members.push({ k: 'oneof', name, js: jsName(name), oneof: m, variant, type: { k: 'option', of: named(variant.name) } });
      } else {
        const name = kebab(m.name);
        claim(name, `field ${m.name}`);
        def.members.push(this.field(desc, m, name));
      }
    }
    // Records must have a field: an empty message is never made a record (see isEmpty's callers).
    this.types.push(def);
    return def;
  }

  private variant(owner: DescMessage, oneof: DescOneof): VariantDef {
    const name = this.typeName(`${owner.typeName}.${oneof.name}`, `oneof ${owner.typeName}.${oneof.name}`);
    const seen = new Set<string>();
    const cases = oneof.fields.map((f) => {
      const c = kebab(f.name);
      if (seen.has(c)) throw invalidArgument(`two members of oneof ${owner.typeName}.${oneof.name} both become the WIT case ${c}`);
      seen.add(c);
      return { name: c, field: f, conv: this.conv(owner, f) };
    });
    const def: VariantDef = { kind: 'variant', name, cases };
    this.types.push(def);
    return def;
  }

  private field(owner: DescMessage, f: DescField, name: string): Member {
    const base = { k: 'field' as const, name, js: jsName(name), field: f };
    const where = `field ${owner.typeName}.${f.name}`;
    if (f.fieldKind === 'map') {
      const key = this.scalar(f.mapKey, false);
      const conv = this.valueConv(owner, f, f.mapKind === 'message' ? f.message : undefined, f.mapKind === 'enum' ? f.enum : undefined, f.mapKind === 'scalar' ? f.scalar : undefined);
      if (conv.k === 'empty') throw invalidArgument(`${where}: a map whose values are the empty message ${conv.desc.typeName} has no WIT mapping`);
      return { ...base, shape: 'map', conv, key, type: { k: 'list', of: { k: 'tuple', of: [key.type, conv.type] } } };
    }
    if (f.fieldKind === 'list') {
      const conv = this.valueConv(owner, f, f.listKind === 'message' ? f.message : undefined, f.listKind === 'enum' ? f.enum : undefined, f.listKind === 'scalar' ? f.scalar : undefined);
      if (conv.k === 'empty') throw invalidArgument(`${where}: a repeated field of the empty message ${conv.desc.typeName} has no WIT mapping`);
      return { ...base, shape: 'list', conv, type: { k: 'list', of: conv.type } };
    }
    const conv = this.conv(owner, f);
    if (conv.k === 'empty') return { ...base, shape: 'flag', conv, type: prim('bool') };
    // Presence: message fields and explicit-presence scalars are options; a
    // proto2 field with a declared default reads as that default when unset.
    const explicit = f.fieldKind === 'message' || (f.presence === EXPLICIT && fieldDefault(f) === undefined);
    return { ...base, shape: explicit ? 'option' : 'plain', conv, type: explicit ? { k: 'option', of: conv.type } : conv.type };
  }

  private conv(owner: DescMessage, f: DescField): Conv {
    switch (f.fieldKind) {
      case 'scalar':
        return this.scalar(f.scalar, f.longAsString);
      case 'enum':
        return this.enumConv(f.enum);
      case 'message':
        return this.messageConv(owner, f.message);
      default:
        throw new Error(`unreachable: ${f.fieldKind} as a single value`);
    }
  }

  private valueConv(owner: DescMessage, f: DescField, msg: DescMessage | undefined, en: DescEnum | undefined, sc: ScalarType | undefined): Conv {
    if (msg) return this.messageConv(owner, msg);
    if (en) return this.enumConv(en);
    return this.scalar(sc!, 'longAsString' in f && f.longAsString === true);
  }

  private scalar(s: ScalarType, longAsString: boolean): Conv & { k: 'scalar' } {
    return { k: 'scalar', scalar: s, longAsString, type: SCALARS[s]! };
  }

  private enumConv(e: DescEnum): Conv {
    let def = this.enums.get(e.typeName);
    if (!def) {
      const byNumber = new Map<number, string>();
      const numbers = new Map<string, number>();
      const cases: string[] = [];
      const strip = enumPrefix(e);
      for (const v of e.values) {
        if (byNumber.has(v.number)) continue; // an alias: the first name stands for the number
        const c = kebab(v.name.slice(strip));
        if (numbers.has(c)) throw invalidArgument(`two values of enum ${e.typeName} both become the WIT case ${c}`);
        byNumber.set(v.number, c);
        numbers.set(c, v.number);
        cases.push(c);
      }
      def = { kind: 'enum', name: this.typeName(e.typeName, `enum ${e.typeName}`), desc: e, cases, byNumber, numbers };
      this.enums.set(e.typeName, def);
      this.types.push(def);
    }
    return { k: 'enum', def, type: named(def.name) };
  }

  private messageConv(owner: DescMessage, m: DescMessage): Conv {
    const wrapped = WRAPPERS[m.typeName];
    if (wrapped !== undefined) {
      const inner = this.scalar(wrapped, false);
      return { k: 'wrapper', desc: m, inner, type: inner.type };
    }
    if (JSON_TYPES.has(m.typeName)) return { k: 'json', desc: m, type: prim('string') };
    if (isEmpty(m)) return { k: 'empty', desc: m };
    const a = this.scc.get(owner.typeName);
    if (a !== undefined && a === this.scc.get(m.typeName)) return { k: 'encoded', desc: m, type: { k: 'bytes' } };
    const def = this.record(m);
    return { k: 'message', def, type: named(def.name) };
  }
}

/** A scalar or enum field's declared default (proto2 `[default = …]`), else undefined. */
export function fieldDefault(f: DescField): unknown {
  return f.fieldKind === 'scalar' || f.fieldKind === 'enum' ? f.getDefaultValue() : undefined;
}

/** FeatureSet.FieldPresence.EXPLICIT */
const EXPLICIT = 1;

/** A message with no fields: WIT records need one, so it is never a record. */
export function isEmpty(m: DescMessage): boolean {
  return m.fields.length === 0;
}

/** Length of the `COLOR_` prefix every value of enum Color shares (protobuf style), or 0. */
function enumPrefix(e: DescEnum): number {
  const prefix = `${kebab(e.name).replace(/-/g, '_').toUpperCase()}_`;
  const all = e.values.every((v) => v.name.startsWith(prefix) && isWitName(kebab(v.name.slice(prefix.length))) && /^[A-Za-z]/.test(v.name.slice(prefix.length)));
  return all && e.values.length > 0 ? prefix.length : 0;
}

/**
 * Messages in a reference cycle, reached from the service: message full name
 * -> its strongly connected component (Tarjan). Only messages in cycles are in
 * the map; a field whose message is in its owner's component is a back edge a
 * WIT record cannot hold, so it carries the message's encoding.
 */
function cycles(service: DescService): Map<string, number> {
  const edges = (m: DescMessage): DescMessage[] =>
    m.fields.flatMap((f) => {
      const t = f.fieldKind === 'message' ? f.message : f.fieldKind === 'list' && f.listKind === 'message' ? f.message : f.fieldKind === 'map' && f.mapKind === 'message' ? f.message : undefined;
      return t && WRAPPERS[t.typeName] === undefined && !JSON_TYPES.has(t.typeName) ? [t] : [];
    });
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: DescMessage[] = [];
  const out = new Map<string, number>();
  let next = 0;
  let comp = 0;
  const visit = (m: DescMessage): void => {
    index.set(m.typeName, next);
    low.set(m.typeName, next++);
    stack.push(m);
    onStack.add(m.typeName);
    let selfLoop = false;
    for (const t of edges(m)) {
      if (t.typeName === m.typeName) selfLoop = true;
      if (!index.has(t.typeName)) {
        visit(t);
        low.set(m.typeName, Math.min(low.get(m.typeName)!, low.get(t.typeName)!));
      } else if (onStack.has(t.typeName)) low.set(m.typeName, Math.min(low.get(m.typeName)!, index.get(t.typeName)!));
    }
    if (low.get(m.typeName) === index.get(m.typeName)) {
      const members: DescMessage[] = [];
      let x: DescMessage;
      do {
        x = stack.pop()!;
        onStack.delete(x.typeName);
        members.push(x);
      } while (x.typeName !== m.typeName);
      if (members.length > 1 || selfLoop) for (const y of members) out.set(y.typeName, comp);
      comp++;
    }
  };
  for (const method of service.methods) for (const m of [method.input, method.output]) if (!index.has(m.typeName)) visit(m);
  return out;
}

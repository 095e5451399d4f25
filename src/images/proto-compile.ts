// .proto sources → binary google.protobuf.FileDescriptorSet, as `protoc
// --include_imports --descriptor_set_out` would write it.
//
// protobufjs parses (it is the maintained pure-JS .proto parser); its own
// `ext/descriptor` conversion is not used because it groups by package instead
// of by file, writes relative type names and no imports, which reflection
// clients (grpcurl) and @bufbuild/protobuf's registry refuse. The descriptors
// are built here from protobufjs' reflection tree and checked by
// @bufbuild/protobuf's createFileRegistry, which resolves every reference.
import { dirname, isAbsolute, relative, resolve as resolvePath, sep } from 'node:path';
import { existsSync } from 'node:fs';
import protobuf from 'protobufjs';
import { create, createFileRegistry, fromBinary, toBinary, type DescFile, type FileRegistry, type MessageInitShape } from '@bufbuild/protobuf';
import {
  DescriptorProtoSchema,
  EnumDescriptorProtoSchema,
  FieldDescriptorProtoSchema,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as FType,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  ServiceDescriptorProtoSchema,
  file_google_protobuf_any,
  file_google_protobuf_api,
  file_google_protobuf_descriptor,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_source_context,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_type,
  file_google_protobuf_wrappers,
  type FileDescriptorProto,
  type FileDescriptorSet,
} from '@bufbuild/protobuf/wkt';
import { invalidArgument, WorkdError } from '../errors.js';

type FileInit = MessageInitShape<typeof FileDescriptorProtoSchema>;
type MessageInit = MessageInitShape<typeof DescriptorProtoSchema>;
type FieldInit = MessageInitShape<typeof FieldDescriptorProtoSchema>;
type EnumInit = MessageInitShape<typeof EnumDescriptorProtoSchema>;
type ServiceInit = MessageInitShape<typeof ServiceDescriptorProtoSchema>;

const WKT_FILES: readonly DescFile[] = [
  file_google_protobuf_any, file_google_protobuf_api, file_google_protobuf_descriptor, file_google_protobuf_duration,
  file_google_protobuf_empty, file_google_protobuf_field_mask, file_google_protobuf_source_context,
  file_google_protobuf_struct, file_google_protobuf_timestamp, file_google_protobuf_type, file_google_protobuf_wrappers,
];

/** Full name (with leading dot) of every well-known message and enum → its canonical file. */
const WKT_BY_TYPE = new Map<string, DescFile>();
for (const f of WKT_FILES) {
  for (const m of f.messages) WKT_BY_TYPE.set('.' + m.typeName, f);
  for (const e of f.enums) WKT_BY_TYPE.set('.' + e.typeName, f);
}

const SCALARS: Record<string, FType> = {
  double: FType.DOUBLE, float: FType.FLOAT, int64: FType.INT64, uint64: FType.UINT64, int32: FType.INT32,
  fixed64: FType.FIXED64, fixed32: FType.FIXED32, bool: FType.BOOL, string: FType.STRING, bytes: FType.BYTES,
  uint32: FType.UINT32, sfixed32: FType.SFIXED32, sfixed64: FType.SFIXED64, sint32: FType.SINT32, sint64: FType.SINT64,
};

export interface CompileOptions {
  /** Directories searched for imports (protoc's -I), after the importing file's own directory. */
  includeDirs?: string[];
}

/** Parses .proto files and returns the FileDescriptorSet of them and everything they import. */
export function compileProtoFiles(paths: readonly string[], opts: CompileOptions = {}): FileDescriptorSet {
  if (paths.length === 0) throw invalidArgument('no .proto files given');
  const includeDirs = (opts.includeDirs ?? []).map((d) => resolvePath(d));
  // The file name a descriptor carries is the import path (as protoc names it), not the disk path.
  const nameOf = new Map<string, string>();
  for (const p of paths) {
    const abs = resolvePath(p);
    if (!existsSync(abs)) throw invalidArgument(`proto file ${p} does not exist`);
    const inc = includeDirs.find((d) => abs.startsWith(d + sep));
    nameOf.set(abs, (inc ? relative(inc, abs) : relative(dirname(abs), abs)).split(sep).join('/'));
  }
  const root = new protobuf.Root();
  root.resolvePath = (origin: string, target: string): string | null => {
    if (isAbsolute(target)) return target;
    // Well-known imports are served from protobufjs' bundled copies.
    if (target.startsWith('google/protobuf/')) return target;
    const candidates = [origin ? resolvePath(dirname(origin), target) : resolvePath(target), ...includeDirs.map((d) => resolvePath(d, target))];
    const found = candidates.find((c) => existsSync(c)) ?? candidates[0]!;
    if (!nameOf.has(found)) nameOf.set(found, target);
    return found;
  };
  try {
    root.loadSync(paths.map((p) => resolvePath(p)), { keepCase: true });
    root.resolveAll();
  } catch (err) {
    throw invalidArgument(`cannot compile ${paths.join(', ')}: ${(err as Error).message}`);
  }
  const set = new Converter(nameOf).convert(root);
  checkDescriptorSet(set);
  return set;
}

export function compileProtoFilesToBinary(paths: readonly string[], opts: CompileOptions = {}): Uint8Array {
  return toBinary(FileDescriptorSetSchema, compileProtoFiles(paths, opts));
}

/** Parses and cross-checks a binary FileDescriptorSet; INVALID_ARGUMENT says what is wrong. */
export function parseDescriptorSet(bytes: Uint8Array): { set: FileDescriptorSet; registry: FileRegistry } {
  let set: FileDescriptorSet;
  try {
    set = fromBinary(FileDescriptorSetSchema, bytes);
  } catch (err) {
    throw invalidArgument(`descriptor set is not a binary google.protobuf.FileDescriptorSet: ${(err as Error).message}`);
  }
  return { set, registry: checkDescriptorSet(set) };
}

function checkDescriptorSet(set: FileDescriptorSet): FileRegistry {
  if (set.file.length === 0) throw invalidArgument('descriptor set holds no files');
  try {
    return createFileRegistry(set);
  } catch (err) {
    throw invalidArgument(`descriptor set is inconsistent: ${(err as Error).message}`);
  }
}

/** Throws INVALID_ARGUMENT unless the set defines `service` (fully qualified, e.g. `foo.Bar`). */
export function requireService(registry: FileRegistry, service: string): void {
  if (registry.getService(service) !== undefined) return;
  const have: string[] = [];
  for (const t of registry) if (t.kind === 'service') have.push(t.typeName);
  throw invalidArgument(
    `descriptor set does not define service ${service}` + (have.length ? ` (it defines ${have.join(', ')})` : ' (it defines no services)'),
  );
}

/** protoc's text of a default: numbers and bools as written, enums by name, bytes C-escaped. */
function defaultValueText(v: unknown, type: string): string {
  if (type !== 'bytes') return String(v);
  return [...Buffer.from(String(v), 'latin1')].map((b) => (b === 0x5c ? '\\\\' : b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x27 ? String.fromCharCode(b) : `\\${b.toString(8).padStart(3, '0')}`)).join('');
}

function camelJsonName(name: string): string {
  return name.replace(/_+([a-zA-Z0-9])/g, (_m, c: string) => c.toUpperCase()).replace(/_+$/, '');
}

function mapEntryName(field: string): string {
  const camel = camelJsonName(field);
  return camel.charAt(0).toUpperCase() + camel.slice(1) + 'Entry';
}

class Converter {
  private readonly files = new Map<string, FileInit & { dependency: string[]; messageType: MessageInit[]; enumType: EnumInit[]; service: ServiceInit[]; extension: FieldInit[] }>();
  private readonly wkt = new Set<DescFile>();

  constructor(private readonly nameOf: Map<string, string>) {}

  convert(root: protobuf.Root): FileDescriptorSet {
    this.walkNamespace(root);
    const out: FileDescriptorProto[] = [];
    const done = new Set<string>();
    const addWkt = (f: DescFile): void => {
      if (done.has(f.proto.name)) return;
      for (const d of f.dependencies) addWkt(d);
      done.add(f.proto.name);
      out.push(f.proto);
    };
    for (const f of this.wkt) addWkt(f);
    // Dependencies first, as protoc writes them.
    const visit = (name: string, stack: Set<string>): void => {
      if (done.has(name)) return;
      const f = this.files.get(name);
      if (!f) return;
      if (stack.has(name)) throw invalidArgument(`proto files import each other in a cycle through ${name}`);
      stack.add(name);
      for (const d of f.dependency) visit(d, stack);
      stack.delete(name);
      done.add(name);
      out.push(create(FileDescriptorProtoSchema, f));
    };
    for (const name of [...this.files.keys()].sort()) visit(name, new Set());
    return create(FileDescriptorSetSchema, { file: out });
  }

  private fileFor(obj: protobuf.ReflectionObject): (typeof this.files extends Map<string, infer V> ? V : never) {
    if (!obj.filename) throw new WorkdError(3, `cannot tell which file defines ${obj.fullName}`);
    const name = this.nameOf.get(obj.filename) ?? obj.filename;
    let f = this.files.get(name);
    if (!f) {
      const pkg = obj.parent && obj.parent.fullName ? obj.parent.fullName.slice(1) : '';
      const edition = (obj as unknown as { _edition?: string })._edition ?? 'proto2';
      f = { name, package: pkg, dependency: [], messageType: [], enumType: [], service: [], extension: [] };
      if (edition === 'proto3' || edition === 'proto2') f.syntax = edition;
      else throw invalidArgument(`${name}: protobuf editions (${edition}) are not supported; use proto2 or proto3`);
      this.files.set(name, f);
    }
    return f;
  }

  private depend(file: { name?: string; dependency: string[] }, target: protobuf.ReflectionObject): string {
    const full = target.fullName;
    const wkt = WKT_BY_TYPE.get(full);
    let dep: string | undefined;
    if (wkt) {
      this.wkt.add(wkt);
      dep = wkt.proto.name;
    } else {
      let top: protobuf.ReflectionObject = target;
      while (top.parent && !(top.parent instanceof protobuf.Root) && top.parent instanceof protobuf.Type) top = top.parent;
      dep = top.filename ? this.nameOf.get(top.filename) ?? top.filename : undefined;
    }
    if (dep && dep !== file.name && !file.dependency.includes(dep)) file.dependency.push(dep);
    return full;
  }

  private walkNamespace(ns: protobuf.NamespaceBase): void {
    for (const n of ns.nestedArray) {
      if (WKT_BY_TYPE.has(n.fullName)) continue;
      if (n instanceof protobuf.Type) {
        const f = this.fileFor(n);
        f.messageType.push(this.message(n, f));
      } else if (n instanceof protobuf.Enum) {
        this.fileFor(n).enumType.push(this.enumeration(n));
      } else if (n instanceof protobuf.Service) {
        const f = this.fileFor(n);
        f.service.push(this.service(n, f));
      } else if (n instanceof protobuf.Field) {
        const f = this.fileFor(n);
        f.extension.push(this.field(n, f, undefined));
      } else if (n instanceof protobuf.Namespace) {
        this.walkNamespace(n);
      }
    }
  }

  private message(t: protobuf.Type, file: { name?: string; dependency: string[] }): MessageInit {
    const real = t.oneofsArray.filter((o) => !o.fieldsArray.every((f) => f.options?.proto3_optional));
    const synthetic = t.oneofsArray.filter((o) => !real.includes(o));
    const oneofs = [...real, ...synthetic];
    const m: MessageInit & { field: FieldInit[]; nestedType: MessageInit[]; enumType: EnumInit[]; extension: FieldInit[] } = {
      name: t.name,
      field: [],
      nestedType: [],
      enumType: [],
      extension: [],
      oneofDecl: oneofs.map((o) => ({ name: o.name })),
    };
    for (const f of t.fieldsArray) {
      if (f.declaringField) continue; // the copy of an extension declared elsewhere
      const fd = this.field(f, file, oneofs);
      if (f instanceof protobuf.MapField) {
        const entry = mapEntryName(f.name);
        fd.typeName = `${t.fullName}.${entry}`;
        const key: FieldInit = { name: 'key', number: 1, label: Label.OPTIONAL, type: SCALARS[f.keyType], jsonName: 'key' };
        const value: FieldInit = { name: 'value', number: 2, label: Label.OPTIONAL, jsonName: 'value' };
        this.typeOf(f, value, file);
        m.nestedType.push({ name: entry, field: [key, value], options: { mapEntry: true } });
      }
      m.field.push(fd);
    }
    for (const n of t.nestedArray) {
      if (n instanceof protobuf.Type) m.nestedType.push(this.message(n, file));
      else if (n instanceof protobuf.Enum) m.enumType.push(this.enumeration(n));
      else if (n instanceof protobuf.Field) m.extension.push(this.field(n, file, undefined));
    }
    const ranges = (t.extensions ?? []) as number[][];
    if (ranges.length) m.extensionRange = ranges.map(([s, e]) => ({ start: s, end: e! + 1 }));
    for (const r of t.reserved ?? []) {
      if (typeof r === 'string') (m.reservedName ??= []).push(r);
      else (m.reservedRange ??= []).push({ start: r[0]!, end: r[1]! + 1 });
    }
    return m;
  }

  private typeOf(f: protobuf.Field, fd: FieldInit, file: { name?: string; dependency: string[] }): void {
    const scalar = SCALARS[f.type];
    if (scalar !== undefined) {
      fd.type = scalar;
      return;
    }
    const rt = f.resolvedType;
    if (!rt) throw invalidArgument(`field ${f.fullName}: type ${f.type} is not defined`);
    fd.type = rt instanceof protobuf.Enum ? FType.ENUM : FType.MESSAGE;
    fd.typeName = this.depend(file, rt);
  }

  private field(f: protobuf.Field, file: { name?: string; dependency: string[] }, oneofs: protobuf.OneOf[] | undefined): FieldInit {
    const fd: FieldInit = { name: f.name, number: f.id, jsonName: camelJsonName(f.name) };
    if (f instanceof protobuf.MapField) {
      fd.label = Label.REPEATED;
      fd.type = FType.MESSAGE;
    } else {
      fd.label = f.repeated ? Label.REPEATED : f.required ? Label.REQUIRED : Label.OPTIONAL;
      this.typeOf(f, fd, file);
    }
    if (f.extend !== undefined) {
      // After resolveAll, the declaring field points at its copy inside the extended message.
      const target = f.extensionField?.parent;
      if (!(target instanceof protobuf.Type)) throw invalidArgument(`extension ${f.fullName}: cannot resolve extended type ${f.extend}`);
      fd.extendee = this.depend(file, target);
    }
    if (oneofs && f.partOf) fd.oneofIndex = oneofs.indexOf(f.partOf);
    if (f.options?.proto3_optional) fd.proto3Optional = true;
    // proto2 `[default = …]`, written as protoc writes FieldDescriptorProto.default_value.
    const dflt: unknown = f.options?.default;
    if (dflt !== undefined && !(f instanceof protobuf.MapField) && !f.repeated) fd.defaultValue = defaultValueText(dflt, f.type);
    const opts: { packed?: boolean; deprecated?: boolean } = {};
    if (f.options?.packed !== undefined) opts.packed = Boolean(f.options.packed);
    if (f.options?.deprecated) opts.deprecated = true;
    if (Object.keys(opts).length) fd.options = opts;
    return fd;
  }

  private enumeration(e: protobuf.Enum): EnumInit {
    const out: EnumInit = { name: e.name, value: Object.entries(e.values).map(([name, number]) => ({ name, number })) };
    if (e.options?.allow_alias) out.options = { allowAlias: true };
    return out;
  }

  private service(s: protobuf.Service, file: { name?: string; dependency: string[] }): ServiceInit {
    return {
      name: s.name,
      method: s.methodsArray.map((m) => {
        m.resolve();
        if (!m.resolvedRequestType || !m.resolvedResponseType) throw invalidArgument(`method ${m.fullName}: request or response type is not defined`);
        return {
          name: m.name,
          inputType: this.depend(file, m.resolvedRequestType),
          outputType: this.depend(file, m.resolvedResponseType),
          ...(m.requestStream ? { clientStreaming: true } : {}),
          ...(m.responseStream ? { serverStreaming: true } : {}),
        };
      }),
    };
  }
}

// An index over a FileDescriptorSet (an image's, or our built-in services'):
// file name → serialized FileDescriptorProto, symbol → file, services, extensions.
// Built once per descriptor set and cached by identity, since containers of one
// image share the same bytes.
import { fromBinary } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { FileDescriptorProtoSchema, type DescriptorProto, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { Code, WorkdError } from '../../errors.js';

export interface DescriptorIndex {
  /** File name → serialized FileDescriptorProto, exactly as in the set. */
  readonly files: ReadonlyMap<string, Uint8Array>;
  /** File name → names of the files it imports. */
  readonly deps: ReadonlyMap<string, readonly string[]>;
  /** Fully-qualified symbol (no leading dot) → file name. */
  readonly symbols: ReadonlyMap<string, string>;
  /** Fully-qualified service names. */
  readonly services: readonly string[];
  /** Extended message → extension number → file name. */
  readonly extensions: ReadonlyMap<string, ReadonlyMap<number, string>>;
}

const cache = new WeakMap<Uint8Array, DescriptorIndex>();

/** Indexes a binary FileDescriptorSet; INVALID_ARGUMENT when it is not one. */
export function indexDescriptorSet(set: Uint8Array): DescriptorIndex {
  let idx = cache.get(set);
  if (idx !== undefined) return idx;
  const files: Uint8Array[] = [];
  try {
    const r = new BinaryReader(set);
    while (r.pos < r.len) {
      const [field, wire] = r.tag();
      if (field === 1 && wire === WireType.LengthDelimited) files.push(r.bytes());
      else r.skip(wire);
    }
  } catch (err) {
    throw new WorkdError(Code.INVALID_ARGUMENT, `descriptor set is not a valid FileDescriptorSet: ${(err as Error).message}`);
  }
  idx = indexFiles(files);
  cache.set(set, idx);
  return idx;
}

/** Indexes serialized FileDescriptorProtos. */
export function indexFiles(serialized: readonly Uint8Array[]): DescriptorIndex {
  const files = new Map<string, Uint8Array>();
  const deps = new Map<string, readonly string[]>();
  const symbols = new Map<string, string>();
  const services: string[] = [];
  const extensions = new Map<string, Map<number, string>>();
  for (const bytes of serialized) {
    let fd: FileDescriptorProto;
    try {
      fd = fromBinary(FileDescriptorProtoSchema, bytes);
    } catch (err) {
      throw new WorkdError(Code.INVALID_ARGUMENT, `descriptor set holds an invalid FileDescriptorProto: ${(err as Error).message}`);
    }
    if (files.has(fd.name)) continue;
    files.set(fd.name, bytes);
    deps.set(fd.name, fd.dependency);
    const prefix = fd.package === '' ? '' : fd.package + '.';
    const addExt = (extendee: string, num: number) => {
      const target = extendee.startsWith('.') ? extendee.slice(1) : extendee;
      let m = extensions.get(target);
      if (m === undefined) extensions.set(target, (m = new Map()));
      m.set(num, fd.name);
    };
    const addMessage = (scope: string, msg: DescriptorProto) => {
      const full = scope + msg.name;
      symbols.set(full, fd.name);
      for (const f of msg.field) symbols.set(`${full}.${f.name}`, fd.name);
      for (const o of msg.oneofDecl) symbols.set(`${full}.${o.name}`, fd.name);
      for (const e of msg.enumType) symbols.set(`${full}.${e.name}`, fd.name);
      for (const x of msg.extension) {
        symbols.set(`${full}.${x.name}`, fd.name);
        addExt(x.extendee, x.number);
      }
      for (const n of msg.nestedType) addMessage(full + '.', n);
    };
    for (const m of fd.messageType) addMessage(prefix, m);
    for (const e of fd.enumType) {
      symbols.set(prefix + e.name, fd.name);
      // Enum values are scoped like siblings of the enum (protobuf's C++ scoping rule).
      for (const v of e.value) symbols.set(prefix + v.name, fd.name);
    }
    for (const s of fd.service) {
      const full = prefix + s.name;
      services.push(full);
      symbols.set(full, fd.name);
      for (const m of s.method) symbols.set(`${full}.${m.name}`, fd.name);
    }
    for (const x of fd.extension) {
      symbols.set(prefix + x.name, fd.name);
      addExt(x.extendee, x.number);
    }
  }
  return { files, deps, symbols, services, extensions };
}

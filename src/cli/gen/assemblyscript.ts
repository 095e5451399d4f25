// `workd gen --lang assemblyscript`, on the SDK's Reader/Writer: a class per
// message with decode/encode, an abstract class per service, and the method
// exports that decode the request, call the author's implementation and
// encode the answer.
import { WIRE, isPackable, type GenField, type GenMessage, type GenModel, type GenService, type Scalar, type ValueType } from './model.js';

interface AsScalar {
  ty: string;
  zero: string;
  read: (r: string) => string;
  /** Writes one value without its tag. */
  raw: (w: string, v: string) => string;
  nonDefault: (v: string) => string;
}

const num = (v: string) => `${v} != 0`;
const S: Record<Scalar, AsScalar> = {
  double: { ty: 'f64', zero: '0', read: (r) => `${r}.double()`, raw: (w, v) => `${w}.rawDouble(${v})`, nonDefault: (v) => `reinterpret<u64>(${v}) != 0` },
  float: { ty: 'f32', zero: '0', read: (r) => `${r}.float()`, raw: (w, v) => `${w}.rawFloat(${v})`, nonDefault: (v) => `reinterpret<u32>(${v}) != 0` },
  int64: { ty: 'i64', zero: '0', read: (r) => `${r}.int64()`, raw: (w, v) => `${w}.rawVarint(<u64>${v})`, nonDefault: num },
  uint64: { ty: 'u64', zero: '0', read: (r) => `${r}.uint64()`, raw: (w, v) => `${w}.rawVarint(${v})`, nonDefault: num },
  int32: { ty: 'i32', zero: '0', read: (r) => `${r}.int32()`, raw: (w, v) => `${w}.rawVarint(<u64><i64>${v})`, nonDefault: num },
  fixed64: { ty: 'u64', zero: '0', read: (r) => `${r}.fixed64()`, raw: (w, v) => `${w}.rawFixed64(${v})`, nonDefault: num },
  fixed32: { ty: 'u32', zero: '0', read: (r) => `${r}.fixed32()`, raw: (w, v) => `${w}.rawFixed32(${v})`, nonDefault: num },
  bool: { ty: 'bool', zero: 'false', read: (r) => `${r}.bool()`, raw: (w, v) => `${w}.rawVarint(${v} ? 1 : 0)`, nonDefault: (v) => v },
  string: { ty: 'string', zero: '""', read: (r) => `${r}.string()`, raw: (w, v) => `${w}.rawBytes(Uint8Array.wrap(String.UTF8.encode(${v})))`, nonDefault: (v) => `${v}.length != 0` },
  bytes: { ty: 'Uint8Array', zero: 'new Uint8Array(0)', read: (r) => `${r}.bytes()`, raw: (w, v) => `${w}.rawBytes(${v})`, nonDefault: (v) => `${v}.length != 0` },
  uint32: { ty: 'u32', zero: '0', read: (r) => `${r}.uint32()`, raw: (w, v) => `${w}.rawVarint(<u64>${v})`, nonDefault: num },
  sfixed32: { ty: 'i32', zero: '0', read: (r) => `<i32>${r}.fixed32()`, raw: (w, v) => `${w}.rawFixed32(<u32>${v})`, nonDefault: num },
  sfixed64: { ty: 'i64', zero: '0', read: (r) => `<i64>${r}.fixed64()`, raw: (w, v) => `${w}.rawFixed64(<u64>${v})`, nonDefault: num },
  sint32: { ty: 'i32', zero: '0', read: (r) => `${r}.sint32()`, raw: (w, v) => `${w}.rawVarint(<u64>(<u32>((${v} << 1) ^ (${v} >> 31))))`, nonDefault: num },
  sint64: { ty: 'i64', zero: '0', read: (r) => `${r}.sint64()`, raw: (w, v) => `${w}.rawVarint(<u64>((${v} << 1) ^ (${v} >> 63)))`, nonDefault: num },
};

const wire = (t: ValueType) => (t.kind === 'message' ? 2 : WIRE[t.scalar]);
const typeOf = (t: ValueType) => (t.kind === 'message' ? t.message.local : S[t.scalar].ty);

/** Statements reading one value of t from reader r into `set(v)`; a malformed nested message returns null. */
function read(t: ValueType, r: string, set: (v: string) => string): string {
  if (t.kind === 'message') return `const v = ${t.message.local}.decodeFrom(${r}.message()); if (v === null) return null; ${set('v')};`;
  return `${set(S[t.scalar].read(r))};`;
}

function write(t: ValueType, w: string, v: string): string {
  return t.kind === 'message' ? `${w}.rawBytes(${v}.encode());` : `${S[t.scalar].raw(w, v)};`;
}

function fieldCode(f: GenField, decls: string[], reads: string[], writes: string[]): void {
  const n = f.number;
  const id = f.name;
  const w = wire(f.type);
  const ty = typeOf(f.type);
  switch (f.label) {
    case 'single':
    case 'optional': {
      if (f.type.kind === 'message') {
        decls.push(`  ${id}: ${ty} | null = null;`);
        reads.push(`      if (r.field == ${n} && r.wireType == 2) { ${read(f.type, 'r', (v) => `m.${id} = ${v}`)} continue; }`);
        writes.push(`    { const v = this.${id}; if (v !== null) { w.tag(${n}, 2); ${write(f.type, 'w', 'v')} } }`);
        return;
      }
      const s = S[f.type.scalar];
      decls.push(`  ${id}: ${ty} = ${s.zero};`);
      if (f.label === 'optional') {
        decls.push(`  /** Whether ${id} is present (set it with ${id}). */\n  has_${id}: bool = false;`);
        reads.push(`      if (r.field == ${n} && r.wireType == ${w}) { ${read(f.type, 'r', (v) => `m.${id} = ${v}`)} m.has_${id} = true; continue; }`);
        writes.push(`    if (this.has_${id}) { w.tag(${n}, ${w}); ${write(f.type, 'w', `this.${id}`)} }`);
      } else {
        reads.push(`      if (r.field == ${n} && r.wireType == ${w}) { ${read(f.type, 'r', (v) => `m.${id} = ${v}`)} continue; }`);
        writes.push(`    if (${s.nonDefault(`this.${id}`)}) { w.tag(${n}, ${w}); ${write(f.type, 'w', `this.${id}`)} }`);
      }
      return;
    }
    case 'repeated':
      decls.push(`  ${id}: ${ty}[] = [];`);
      reads.push(`      if (r.field == ${n} && r.wireType == ${w}) { ${read(f.type, 'r', (v) => `m.${id}.push(${v})`)} continue; }`);
      if (isPackable(f.type)) reads.push(`      if (r.field == ${n} && r.wireType == 2) { const p = r.message(); while (!p.error && p.ptr < p.end) m.${id}.push(${S[(f.type as { scalar: Scalar }).scalar].read('p')}); if (p.error) return null; continue; }`);
      writes.push(
        f.packed
          ? `    if (this.${id}.length > 0) { const p = new Writer(); for (let i = 0; i < this.${id}.length; i++) { ${write(f.type, 'p', `this.${id}[i]`)} } w.message(${n}, p); }`
          : `    for (let i = 0; i < this.${id}.length; i++) { w.tag(${n}, ${w}); ${write(f.type, 'w', `this.${id}[i]`)} }`,
      );
      return;
    case 'map': {
      const k = S[f.key!.scalar];
      decls.push(`  ${id}: Map<${k.ty}, ${ty}> = new Map<${k.ty}, ${ty}>();`);
      const zero = f.type.kind === 'message' ? `new ${ty}()` : S[f.type.scalar].zero;
      reads.push(`      if (r.field == ${n} && r.wireType == 2) {
        const e = r.message();
        let k: ${k.ty} = ${k.zero};
        let x: ${ty} = ${zero};
        while (e.next()) {
          if (e.field == 1 && e.wireType == ${WIRE[f.key!.scalar]}) { k = ${k.read('e')}; continue; }
          if (e.field == 2 && e.wireType == ${w}) { ${read(f.type, 'e', (v) => `x = ${v}`)} continue; }
          e.skip();
        }
        if (e.error) return null;
        m.${id}.set(k, x);
        continue;
      }`);
      writes.push(`    {
      const keys = this.${id}.keys();
      for (let i = 0; i < keys.length; i++) {
        const e = new Writer();
        e.tag(1, ${WIRE[f.key!.scalar]}); ${k.raw('e', 'keys[i]')};
        e.tag(2, ${w}); ${write(f.type, 'e', `this.${id}.get(keys[i])`)}
        w.message(${n}, e);
      }
    }`);
      return;
    }
  }
}

function messageClass(m: GenMessage): string {
  const name = m.local;
  const decls: string[] = [];
  const reads: string[] = [];
  const writes: string[] = [];
  for (const f of m.fields) fieldCode(f, decls, reads, writes);
  return `/** ${m.typeName} */
export class ${name} {
${decls.join('\n')}

  /** Decodes the message at ptr (null when the bytes are not a ${m.typeName}). */
  static decode(ptr: usize, len: i32): ${name} | null {
    return ${name}.decodeFrom(new Reader(ptr, len));
  }
  static decodeFrom(r: Reader): ${name} | null {
    const m = new ${name}();
    while (r.next()) {
${reads.join('\n')}
      r.skip();
    }
    return r.error ? null : m;
  }
  writer(): Writer {
    const w = new Writer();
${writes.join('\n')}
    return w;
  }
  encode(): Uint8Array {
    return this.writer().finish();
  }
}
`;
}

function serviceCode(s: GenService): string {
  const name = s.name;
  const abstract = s.methods.map(
    (m) => `  /** rpc ${m.name}: return the answer, or \`return reject<${m.output.local}>(Status.X, "why")\`. */\n  abstract ${m.name}(req: ${m.input.local}): ${m.output.local} | null;`,
  );
  const exportsCode = s.methods.map(
    (m) => `/** The export the node calls for rpc ${m.name}; re-export it from your entry file. */
export function ${m.name}(ptr: i32, len: i32): i32 {
  const req = ${m.input.local}.decode(<usize>ptr, len);
  if (req === null) return fail(Status.INVALID_ARGUMENT, "malformed ${m.input.typeName}");
  const res = impl${name}().${m.name}(req);
  if (res === null) return rejectedStatus();
  return respond(res.encode());
}`,
  );
  return `/** ${s.typeName}: extend this and pass an instance to serve${name}() at the top level of your entry file. */
export abstract class ${name}Service {
${abstract.join('\n')}
}

let impl${name}Value: ${name}Service | null = null;
/** Registers the implementation (at the top level of your entry file, so it runs when the instance starts). */
export function serve${name}(impl: ${name}Service): void {
  impl${name}Value = impl;
}
function impl${name}(): ${name}Service {
  const v = impl${name}Value;
  if (v === null) {
    printErr("serve${name}(...) was not called: register the ${s.typeName} implementation at the top level of the entry file");
    unreachable();
  }
  return v!;
}

${exportsCode.join('\n\n')}
`;
}

export function emitAssemblyScript(model: GenModel, sdkImport: string): string {
  const exported = model.services.flatMap((s) => s.methods.map((m) => m.name));
  return `// @generated by \`workd gen\` from ${model.sources.join(', ')}. Do not edit.
// Entry file: \`export { workd_alloc } from "${sdkImport}";\`, \`export { ${exported.join(', ')} } from "./<this file>";\`
// and serve<Service>(new YourImplementation()) at its top level.
import { Reader, Writer, respond, fail, printErr, rejectedStatus, Status } from "${sdkImport}";

${model.enums.map((e) => `/** enum ${e.typeName} (an i32 field; any value may arrive) */\nexport namespace ${e.local} {\n${e.values.map((v) => `  export const ${v.name}: i32 = ${v.number};`).join('\n')}\n}\n`).join('\n')}
${model.messages.map(messageClass).join('\n')}
${model.services.map(serviceCode).join('\n')}`;
}

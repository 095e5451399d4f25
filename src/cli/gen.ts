// `workd gen`: typed code from the service's .proto, so an author writes
// `AddItem(req: AddItemRequest): Cart | null` and never a field number.
// AssemblyScript today (on the SDK's Reader/Writer): a class per message
// with decode/encode, an abstract class per service, and the method exports
// that decode the request, call the author's implementation and encode the
// answer.
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ScalarType, type DescField, type DescMessage, type DescService } from '@bufbuild/protobuf';
import { invalidArgument } from '../errors.js';
import { parseDescriptorSet } from '../images/proto-compile.js';
import { readDescriptors } from './component.js';

interface Scalar {
  /** AssemblyScript type. */
  ty: string;
  zero: string;
  /** Reader method, and the cast of its result. */
  read: (r: string) => string;
  /** Writer method writing a non-default value with its tag. */
  write: string;
  /** Wire type and the raw (tagless) writer of one element. */
  wire: number;
  raw: (w: string, v: string) => string;
}

const S: Partial<Record<ScalarType, Scalar>> = {
  [ScalarType.DOUBLE]: { ty: 'f64', zero: '0', read: (r) => `${r}.double()`, write: 'double', wire: 1, raw: (w, v) => `${w}.rawDouble(${v})` },
  [ScalarType.FLOAT]: { ty: 'f32', zero: '0', read: (r) => `${r}.float()`, write: 'float', wire: 5, raw: (w, v) => `${w}.rawFloat(${v})` },
  [ScalarType.INT64]: { ty: 'i64', zero: '0', read: (r) => `${r}.int64()`, write: 'int64', wire: 0, raw: (w, v) => `${w}.rawVarint(<u64>${v})` },
  [ScalarType.UINT64]: { ty: 'u64', zero: '0', read: (r) => `${r}.uint64()`, write: 'uint64', wire: 0, raw: (w, v) => `${w}.rawVarint(${v})` },
  [ScalarType.INT32]: { ty: 'i32', zero: '0', read: (r) => `${r}.int32()`, write: 'int32', wire: 0, raw: (w, v) => `${w}.rawVarint(<u64><i64>${v})` },
  [ScalarType.FIXED64]: { ty: 'u64', zero: '0', read: (r) => `${r}.fixed64()`, write: 'fixed64', wire: 1, raw: (w, v) => `${w}.rawFixed64(${v})` },
  [ScalarType.FIXED32]: { ty: 'u32', zero: '0', read: (r) => `${r}.fixed32()`, write: 'fixed32', wire: 5, raw: (w, v) => `${w}.rawFixed32(${v})` },
  [ScalarType.BOOL]: { ty: 'bool', zero: 'false', read: (r) => `${r}.bool()`, write: 'bool', wire: 0, raw: (w, v) => `${w}.rawVarint(${v} ? 1 : 0)` },
  [ScalarType.STRING]: { ty: 'string', zero: '""', read: (r) => `${r}.string()`, write: 'string', wire: 2, raw: (w, v) => `${w}.rawBytes(Uint8Array.wrap(String.UTF8.encode(${v})))` },
  [ScalarType.BYTES]: { ty: 'Uint8Array', zero: 'new Uint8Array(0)', read: (r) => `${r}.bytes()`, write: 'bytes', wire: 2, raw: (w, v) => `${w}.rawBytes(${v})` },
  [ScalarType.UINT32]: { ty: 'u32', zero: '0', read: (r) => `${r}.uint32()`, write: 'uint32', wire: 0, raw: (w, v) => `${w}.rawVarint(<u64>${v})` },
  [ScalarType.SFIXED32]: { ty: 'i32', zero: '0', read: (r) => `<i32>${r}.fixed32()`, write: 'sfixed32', wire: 5, raw: (w, v) => `${w}.rawFixed32(<u32>${v})` },
  [ScalarType.SFIXED64]: { ty: 'i64', zero: '0', read: (r) => `<i64>${r}.fixed64()`, write: 'sfixed64', wire: 1, raw: (w, v) => `${w}.rawFixed64(<u64>${v})` },
  [ScalarType.SINT32]: { ty: 'i32', zero: '0', read: (r) => `${r}.sint32()`, write: 'sint32', wire: 0, raw: (w, v) => `${w}.rawVarint(<u64>(<u32>((${v} << 1) ^ (${v} >> 31))))` },
  [ScalarType.SINT64]: { ty: 'i64', zero: '0', read: (r) => `${r}.sint64()`, write: 'sint64', wire: 0, raw: (w, v) => `${w}.rawVarint(<u64>((${v} << 1) ^ (${v} >> 63)))` },
};
const ENUM: Scalar = S[ScalarType.INT32]!;

/** The class name of a message: its name inside the package, dots as `_`. */
function className(m: DescMessage): string {
  const pkg = m.file.proto.package;
  return (pkg ? m.typeName.slice(pkg.length + 1) : m.typeName).replace(/\./g, '_');
}

function scalarOf(f: DescField): Scalar | undefined {
  if (f.fieldKind === 'scalar') return S[f.scalar];
  if (f.fieldKind === 'enum') return ENUM;
  if (f.fieldKind === 'list') return f.listKind === 'scalar' ? S[f.scalar] : f.listKind === 'enum' ? ENUM : undefined;
  return undefined;
}

function messageClass(m: DescMessage): string {
  const name = className(m);
  const decls: string[] = [];
  const reads: string[] = [];
  const writes: string[] = [];
  for (const f of m.fields) {
    const n = f.number;
    const id = f.name;
    if (f.fieldKind === 'map') throw invalidArgument(`${m.typeName}.${f.name}: map fields are not supported by workd gen yet (use a repeated message of key and value)`);
    if (f.fieldKind === 'message') {
      const c = className(f.message);
      decls.push(`  ${id}: ${c} | null = null;`);
      reads.push(`      if (r.field == ${n} && r.wireType == 2) { const v = ${c}.decodeFrom(r.message()); if (v === null) return null; m.${id} = v; continue; }`);
      writes.push(`    { const v = this.${id}; if (v !== null) w.message(${n}, v.writer()); }`);
    } else if (f.fieldKind === 'list' && f.listKind === 'message') {
      const c = className(f.message);
      decls.push(`  ${id}: ${c}[] = [];`);
      reads.push(`      if (r.field == ${n} && r.wireType == 2) { const v = ${c}.decodeFrom(r.message()); if (v === null) return null; m.${id}.push(v); continue; }`);
      writes.push(`    for (let i = 0; i < this.${id}.length; i++) w.message(${n}, this.${id}[i].writer());`);
    } else if (f.fieldKind === 'list') {
      const s = scalarOf(f)!;
      decls.push(`  ${id}: ${s.ty}[] = [];`);
      reads.push(`      if (r.field == ${n} && r.wireType == ${s.wire}) { m.${id}.push(${s.read('r')}); continue; }`);
      if (s.wire !== 2) reads.push(`      if (r.field == ${n} && r.wireType == 2) { const p = r.message(); while (!p.error && p.ptr < p.end) m.${id}.push(${s.read('p')}); if (p.error) return null; continue; }`);
      writes.push(`    for (let i = 0; i < this.${id}.length; i++) { w.tag(${n}, ${s.wire}); ${s.raw('w', `this.${id}[i]`)}; }`);
    } else {
      const s = scalarOf(f)!;
      decls.push(`  ${id}: ${s.ty} = ${s.zero};`);
      reads.push(`      if (r.field == ${n} && r.wireType == ${s.wire}) { m.${id} = ${s.read('r')}; continue; }`);
      const write = s.write === 'sfixed32' ? `w.fixed32(${n}, <u32>this.${id})` : s.write === 'sfixed64' ? `w.fixed64(${n}, <u64>this.${id})` : `w.${s.write}(${n}, this.${id})`;
      writes.push(`    ${write};`);
    }
  }
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

function serviceCode(s: DescService): string {
  const name = s.name;
  const abstract = s.methods.map((m) => {
    if (m.methodKind !== 'unary') throw invalidArgument(`${s.typeName}/${m.name} is a ${m.methodKind} method; guest ABI v1 serves unary methods`);
    return `  /** rpc ${m.name}: return the answer, or \`return reject<${className(m.output)}>(Status.X, "why")\`. */\n  abstract ${m.name}(req: ${className(m.input)}): ${className(m.output)} | null;`;
  });
  const exportsCode = s.methods.map(
    (m) => `/** The export the node calls for rpc ${m.name}; re-export it from your entry file. */
export function ${m.name}(ptr: i32, len: i32): i32 {
  const req = ${className(m.input)}.decode(<usize>ptr, len);
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

/** AssemblyScript for every message and service of the files given (their imports' messages included). */
export function generateAssemblyScript(descriptorSet: Uint8Array, sdkImport: string, only?: readonly string[]): string {
  const { registry } = parseDescriptorSet(descriptorSet);
  const messages: DescMessage[] = [];
  const services: DescService[] = [];
  for (const t of registry) {
    if (t.kind === 'message' && !t.typeName.startsWith('google.protobuf.')) messages.push(t);
    if (t.kind === 'service' && (only === undefined || only.includes(t.file.proto.name))) services.push(t);
  }
  const exported = services.flatMap((s) => s.methods.map((m) => m.name));
  return `// @generated by \`workd gen\` from ${only?.join(', ') ?? 'the .proto files'}. Do not edit.
// Entry file: \`export { workd_alloc } from "${sdkImport}";\`, \`export { ${exported.join(', ')} } from "./<this file>";\`
// and serve<Service>(new YourImplementation()) at its top level.
import { Reader, Writer, respond, fail, printErr, rejectedStatus, Status } from "${sdkImport}";

${messages.map(messageClass).join('\n')}
${services.map(serviceCode).join('\n')}`;
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function registerGenCommand(program: Command): void {
  program
    .command('gen')
    .description('generate typed messages and method stubs from the service\'s .proto (AssemblyScript)')
    .requiredOption('--proto <file>', 'a .proto file (repeatable)', collect)
    .option('-I, --proto-path <dir>', 'a directory to search for imports (repeatable)', collect)
    .option('--lang <language>', 'assemblyscript', 'assemblyscript')
    .option('--sdk <import>', 'how the generated code imports the SDK', 'workd-assemblyscript')
    .requiredOption('-o, --output <file>', 'the file to write, e.g. assembly/cart.gen.ts')
    .action(async (o: { proto: string[]; protoPath?: string[]; lang: string; sdk: string; output: string }) => {
      if (o.lang !== 'assemblyscript') throw invalidArgument(`--lang ${o.lang}: workd gen writes assemblyscript only so far (C and Rust: see docs/guest-abi.md for the hand-written form)`);
      const ds = await readDescriptors({ protoFiles: o.proto, protoIncludeDirs: o.protoPath });
      const names = o.proto.map((p) => p.split('/').pop()!);
      await writeFile(o.output, generateAssemblyScript(ds, o.sdk, names));
      process.stdout.write(`wrote ${o.output}\n`);
    });
}

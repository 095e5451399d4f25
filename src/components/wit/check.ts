// A component's world against the world its .proto gives (mapping.ts).
// wasm-tools (through jco-transpile) decodes the component's types and prints
// them as WIT; both sides are then compared item by item in that printed,
// whitespace-normalised form, so a mismatch names the function or type.
import { invalidArgument } from '../../errors.js';
import type { ServiceWorld, TypeDef, WitType } from './mapping.js';
import { funcText, HOST_TYPES, typeDefText } from './print.js';
import { witIdent } from './names.js';

/** What a component imports and exports, as the CNCF Wasm OCI artifact's config lists them. */
export interface ComponentWorld {
  readonly imports: readonly string[];
  readonly exports: readonly string[];
  /** Items of each inline interface export, by export name: item name -> normalised WIT. */
  readonly interfaces: ReadonlyMap<string, ReadonlyMap<string, string>>;
}

/** Decodes a component binary's world. INVALID_ARGUMENT when it is not a valid component. */
export async function readComponentWorld(wasm: Uint8Array): Promise<ComponentWorld> {
  return parseWorld(await readComponentWit(wasm));
}

/** A component binary's world as wasm-tools prints it (parseWorld reads it). INVALID_ARGUMENT when it is not a valid component. */
export async function readComponentWit(wasm: Uint8Array): Promise<string> {
  // Loaded on first use: a daemon serving only core modules, and every executor worker (through
  // guest-abi.ts → validate.ts), would otherwise load jco's wasm-tools at start.
  const { componentWit } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  try {
    return await componentWit(wasm);
  } catch (err) {
    throw invalidArgument(`the component is not a valid WebAssembly component: ${firstLine(err)}`);
  }
}

function firstLine(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n').filter((l) => l.trim() !== '').slice(0, 3).join(': ');
}

/** Comments out, whitespace collapsed, no trailing commas, no space beside punctuation. */
export function normalise(wit: string): string {
  return wit
    .replace(/\/\/[^\n]*/g, '')
    .replace(/\s+/g, ' ')
    .replace(/\s*([{}()<>,:;=])\s*/g, '$1')
    .replace(/,}/g, '}')
    .replace(/;$/, '')
    .trim();
}

/** Splits a body into its top-level items: `…;` or `… { … }`. */
function items(body: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) {
        out.push(body.slice(start, i + 1).trim());
        start = i + 1;
      }
    } else if (c === ';' && depth === 0) {
      out.push(body.slice(start, i + 1).trim());
      start = i + 1;
    }
  }
  return out.filter((s) => s !== '' && s !== ';');
}

/** `record foo {…}` -> foo; `bar: func(…)` -> bar; `use …` -> the whole item. */
function itemName(item: string): string {
  const def = /^(?:record|variant|enum|flags|resource|type)\s+(%?[a-z][a-z0-9-]*)/.exec(item);
  if (def) return def[1]!.replace(/^%/, '');
  const fn = /^(%?[a-z][a-z0-9-]*)\s*:/.exec(item);
  return fn ? fn[1]!.replace(/^%/, '') : item;
}

export function parseWorld(text: string): ComponentWorld {
  const src = text.replace(/\/\/[^\n]*/g, '');
  const open = /\bworld\s+%?[a-z][a-z0-9-]*\s*\{/.exec(src);
  if (!open) throw invalidArgument('the component has no world');
  const bodyStart = open.index + open[0].length;
  let depth = 1;
  let end = bodyStart;
  for (; end < src.length && depth > 0; end++) {
    if (src[end] === '{') depth++;
    else if (src[end] === '}') depth--;
  }
  const imports: string[] = [];
  const exports: string[] = [];
  const interfaces = new Map<string, Map<string, string>>();
  for (const item of items(src.slice(bodyStart, end - 1))) {
    // `import wasi:cli/stdout@0.2.3;`, `export shop: interface { … }`, `import f: func(…);`
    const m = /^(import|export)\s+(%?[^\s;{]+?)(:?)\s*(?:interface\s*\{([\s\S]*)\})?(?:func[^;]*)?;?$/.exec(item);
    if (!m) continue;
    const name = m[2]!.replace(/^%/, '');
    (m[1] === 'import' ? imports : exports).push(name);
    if (m[1] === 'export' && m[4] !== undefined) {
      interfaces.set(name, new Map(items(m[4]).map((i) => [itemName(i), normalise(i)])));
    }
  }
  return { imports, exports, interfaces };
}

/** Names a type's definition refers to. */
function refs(d: TypeDef): string[] {
  switch (d.kind) {
    case 'record':
      return d.members.flatMap((m) => namesIn(m.type));
    case 'variant':
      return d.cases.flatMap((c) => ('type' in c.conv ? namesIn(c.conv.type) : []));
    case 'enum':
      return [];
  }
}
function namesIn(t: WitType): string[] {
  switch (t.k) {
    case 'named': return [t.name];
    case 'list': case 'option': return namesIn(t.of);
    case 'tuple': return t.of.flatMap(namesIn);
    default: return [];
  }
}

/**
 * Every way the component's exports differ from the service's world, each
 * naming the function or type (empty when they match exactly).
 */
export function worldMismatches(world: ServiceWorld, component: ComponentWorld): string[] {
  const svc = world.service.typeName;
  const iface = component.interfaces.get(world.exportName);
  if (!iface) {
    const has = component.exports.length ? `it exports ${component.exports.map((e) => JSON.stringify(e)).join(', ')}` : 'it exports nothing';
    return [`the component does not export the interface ${JSON.stringify(world.exportName)} of service ${svc} (${has}); build it against the world \`workd wit\` prints`];
  }
  const problems: string[] = [];
  for (const e of component.exports) {
    if (e !== world.exportName) problems.push(`the component also exports ${JSON.stringify(e)}, which service ${svc} does not have`);
  }
  const wantTypes = new Map<string, string>();
  for (const h of HOST_TYPES) {
    const n = normalise(h);
    wantTypes.set(itemName(n), n);
  }
  const deps = new Map<string, string[]>();
  for (const d of world.types) {
    wantTypes.set(d.name, normalise(typeDefText(d)));
    deps.set(d.name, refs(d));
  }
  // Which functions use each type, to say what a wrong type breaks.
  const users = new Map<string, Set<string>>();
  for (const f of world.funcs) {
    const seen = new Set<string>();
    const walk = (n: string) => {
      if (seen.has(n)) return;
      seen.add(n);
      (users.get(n) ?? users.set(n, new Set()).get(n)!).add(f.name);
      for (const r of deps.get(n) ?? []) walk(r);
    };
    for (const r of [f.request, f.response]) if (r) walk(r.name);
  }
  const usedBy = (n: string) => {
    const u = users.get(n);
    return u && u.size ? ` (used by ${[...u].join(', ')})` : '';
  };
  const funcNames = new Set(world.funcs.map((f) => f.name));
  for (const f of world.funcs) {
    const want = normalise(funcText(f));
    const got = iface.get(f.name);
    if (got === undefined) problems.push(`function ${witIdent(f.name)} (rpc ${svc}/${f.rpc}) is not exported by the component`);
    else if (got !== want) problems.push(`function ${witIdent(f.name)} (rpc ${svc}/${f.rpc}) has the wrong type: the component has \`${got}\`, the .proto gives \`${want}\``);
  }
  for (const [name, want] of wantTypes) {
    const got = iface.get(name);
    if (got === undefined) continue; // a type no function uses is not exported; a missing used type shows in the function
    if (got !== want) problems.push(`type ${witIdent(name)}${usedBy(name)} differs: the component has \`${got}\`, the .proto gives \`${want}\``);
  }
  for (const [name, got] of iface) {
    if (wantTypes.has(name)) continue;
    if (/^[a-z%][a-z0-9-]*:func/.test(got) || /^%?[a-z][a-z0-9-]*:/.test(got)) {
      if (!funcNames.has(name)) problems.push(`the component exports the function ${witIdent(name)}, which no rpc of service ${svc} names`);
    } else problems.push(`the component's interface defines type ${witIdent(name)}, which the .proto does not give`);
  }
  return problems;
}

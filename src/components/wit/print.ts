// WIT source of the worlds of mapping.ts: what `workd wit` prints and authors
// generate their bindings from.
import {
  CALL_INTERFACE,
  CODE_CASES,
  CODE_TYPE,
  CONTEXT_TYPE,
  fieldDefault,
  GRPC_PACKAGE,
  STATUS_TYPE,
  type FuncDef,
  type Member,
  type ServiceWorld,
  type TypeDef,
  type WitType,
} from './mapping.js';
import { witIdent } from './names.js';

export function typeText(t: WitType): string {
  switch (t.k) {
    case 'prim':
      return t.prim;
    case 'bytes':
      return 'list<u8>';
    case 'list':
      return `list<${typeText(t.of)}>`;
    case 'option':
      return `option<${typeText(t.of)}>`;
    case 'tuple':
      return `tuple<${t.of.map(typeText).join(', ')}>`;
    case 'named':
      return witIdent(t.name);
  }
}

/** `add-floats: func(ctx: grpc-context, request: r) -> result<s, grpc-status>` (no `;`). */
export function funcText(f: FuncDef): string {
  const params = [`ctx: ${CONTEXT_TYPE}`, ...(f.request ? [`request: ${witIdent(f.request.name)}`] : [])];
  return `${witIdent(f.name)}: func(${params.join(', ')}) -> result<${f.response ? witIdent(f.response.name) : '_'}, ${STATUS_TYPE}>`;
}

/** The type definitions every world's interface starts with: the call's context and status. */
export const HOST_TYPES: readonly string[] = [
  `/// The call's request metadata: lowercase keys; values of \`-bin\` keys are base64, as on the wire.\n` +
    `record ${CONTEXT_TYPE} {\n  metadata: list<tuple<string, string>>,\n}`,
  `/// gRPC status codes, in the order of their numbers (ok = 0 ... unauthenticated = 16).\n` +
    `enum ${CODE_TYPE} {\n${CODE_CASES.map((c) => `  ${c},`).join('\n')}\n}`,
  `/// An error answer: a non-ok code and its message.\nrecord ${STATUS_TYPE} {\n  code: ${CODE_TYPE},\n  message: string,\n}`,
];

/** WIT source of one type definition. */
export function typeDefText(d: TypeDef): string {
  switch (d.kind) {
    case 'record':
      return [
        `/// message ${d.desc.typeName}`,
        `record ${witIdent(d.name)} {`,
        ...d.members.map((m) => `  ${witIdent(m.name)}: ${typeText(m.type)},${m.k === 'field' ? fieldNote(m) : ` // oneof ${m.oneof.name}`}`),
        '}',
      ].join('\n');
    case 'variant':
      return [
        `variant ${witIdent(d.name)} {`,
        ...d.cases.map((c) => `  ${witIdent(c.name)}${c.conv.k === 'empty' ? '' : `(${typeText(c.conv.type)})`},`),
        '}',
      ].join('\n');
    case 'enum':
      return [`/// enum ${d.desc?.typeName ?? d.name}`, `enum ${witIdent(d.name)} {`, ...d.cases.map((c) => `  ${witIdent(c)},`), '}'].join('\n');
  }
}

function fieldNote(m: Extract<Member, { k: 'field' }>): string {
  const notes: string[] = [];
  if (m.conv.k === 'encoded') notes.push(`protobuf encoding of ${m.conv.desc.typeName} (recursive)`);
  if (m.conv.k === 'json') notes.push(`JSON text of ${m.conv.desc.typeName}`);
  if (m.conv.k === 'wrapper') notes.push(m.conv.desc.typeName);
  if (m.shape === 'flag') notes.push(`set or not: ${m.conv.k === 'empty' ? m.conv.desc.typeName : ''}`);
  if (m.shape === 'map') notes.push('map');
  const def = m.shape === 'plain' && m.field.fieldKind !== 'list' && m.field.fieldKind !== 'map' ? fieldDefault(m.field) : undefined;
  if (def !== undefined) notes.push(`default ${m.conv.k === 'enum' ? m.conv.def.byNumber.get(def as number) : def instanceof Uint8Array ? JSON.stringify(Buffer.from(def).toString('latin1')) : String(def)}`);
  return notes.length > 0 ? ` // ${notes.join('; ')}` : '';
}

const indent = (text: string, by: string) => text.split('\n').map((l) => (l === '' ? l : by + l)).join('\n');

/** The world of one service, without the package line. */
export function worldText(w: ServiceWorld): string {
  const items = [
    ...HOST_TYPES,
    ...w.types.map(typeDefText),
    ...w.funcs.map((f) => `/// rpc ${w.service.typeName}/${f.rpc}\n${funcText(f)};`),
  ];
  return [
    `/// service ${w.service.typeName}`,
    `world ${witIdent(w.worldName)} {`,
    `  import ${CALL_INTERFACE};`,
    '',
    `  export ${witIdent(w.exportName)}: interface {`,
    indent(items.join('\n\n'), '    '),
    '  }',
    '}',
  ].join('\n');
}

/** The host's package, included in every printed file so the worlds resolve on their own. */
export const GRPC_PACKAGE_TEXT = [
  `package ${GRPC_PACKAGE} {`,
  '  /// What a call tells its caller besides the response.',
  '  interface call {',
  '    /// Adds a response trailer, sent with the status (ok or not). Keys are lowercase [0-9a-z_.-] and do not',
  '    /// start with `grpc-`; values are printable ASCII, or base64 for keys ending in `-bin`. A bad key or value',
  '    /// fails the call with INTERNAL.',
  '    add-trailer: func(key: string, value: string);',
  '  }',
  '}',
].join('\n');

/** A whole WIT file: one package holding a world per service, plus workd's package. */
export function witFile(worlds: readonly ServiceWorld[]): string {
  if (worlds.length === 0) throw new Error('no worlds to print');
  const pkg = worlds[0]!.packageName;
  return [`// @generated by \`workd wit\` from the service's .proto (docs/components.md).`, `package ${pkg};`, '', ...worlds.map((w) => worldText(w) + '\n'), GRPC_PACKAGE_TEXT, ''].join('\n');
}

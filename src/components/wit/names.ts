// Proto identifiers -> WIT identifiers (kebab-case, `%`-escaped keywords) and
// the JavaScript names jco's generated glue gives them.

/** Every WIT keyword: an identifier spelled like one is written `%name`. */
const KEYWORDS = new Set([
  'as', 'async', 'bool', 'borrow', 'char', 'constructor', 'enum', 'error-context', 'export', 'f32', 'f64', 'flags',
  'float32', 'float64', 'from', 'func', 'future', 'import', 'include', 'interface', 'list', 'option', 'own', 'package',
  'record', 'resource', 'result', 's16', 's32', 's64', 's8', 'static', 'stream', 'string', 'tuple', 'type', 'u16',
  'u32', 'u64', 'u8', 'use', 'variant', 'with', 'world',
]);

/**
 * The words of a proto identifier: split at underscores and at case changes
 * (`HTTPServer2Go` -> http, server2, go), lower-cased. WIT words must start
 * with a letter, so a word starting with a digit joins the word before it
 * (`value_2d` -> value2d).
 */
function words(id: string): string[] {
  const out: string[] = [];
  for (const part of id.split('_')) {
    for (const w of part.match(/[A-Z]+(?=[A-Z][a-z])|[A-Z]*[a-z]+[0-9]*|[A-Z]+[0-9]*|[0-9]+[a-z]*/g) ?? []) {
      const lower = w.toLowerCase();
      if (/^[0-9]/.test(lower)) {
        if (out.length > 0) out[out.length - 1] += lower;
        else out.push(`n${lower}`);
      } else out.push(lower);
    }
  }
  return out.length > 0 ? out : ['x'];
}

/** `AddFloats` -> `add-floats`, `type` -> `type` (escape it with witIdent). */
export function kebab(...ids: string[]): string {
  return ids.flatMap(words).join('-');
}

/** How an identifier is written in WIT source: keywords get a `%`. */
export function witIdent(name: string): string {
  return KEYWORDS.has(name) ? `%${name}` : name;
}

/** jco's JavaScript name of a WIT identifier: lowerCamelCase (`type-url` -> `typeUrl`). */
export function jsName(kebabName: string): string {
  return kebabName.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** WIT's kebab rule: words of [a-z][a-z0-9]* joined by `-`. */
export function isWitName(name: string): boolean {
  return /^[a-z][a-z0-9]*(-[a-z][a-z0-9]*)*$/.test(name);
}

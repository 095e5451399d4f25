// Every worker start (one per core, and a replacement each time a call is
// stopped at its limit or preempted) loads worker.js and what it imports. A
// package in that graph is paid on every start: protobufjs, @bufbuild/protobuf
// and jco's wasm-tools, reached through the validator and the component lane,
// cost ~130 ms of CPU per start, and under CPU load the replacements then
// lagged so far that a looping neighbour held up other containers' calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Static import/export-from specifiers of a compiled module (tsc's output: one statement per line). */
function staticImports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/^(?:import|export)\s[^;]*?from\s+'([^']+)';/gms)) out.push(m[1]!);
  for (const m of src.matchAll(/^import\s+'([^']+)';/gm)) out.push(m[1]!);
  return out;
}

test("a worker thread loads no package at start: only node: built-ins and the executor's own modules", () => {
  const root = new URL('./worker.js', import.meta.url);
  const seen = new Map<string, string[]>([[root.href, ['worker.js']]]);
  const todo = [root];
  const packages: string[] = [];
  while (todo.length > 0) {
    const url = todo.pop()!;
    const chain = seen.get(url.href)!;
    for (const spec of staticImports(fileURLToPath(url))) {
      if (spec.startsWith('node:')) continue;
      if (!spec.startsWith('.')) {
        packages.push(`${spec} (via ${chain.join(' -> ')})`);
        continue;
      }
      const next = new URL(spec, url);
      if (seen.has(next.href)) continue;
      seen.set(next.href, [...chain, spec.split('/').pop()!]);
      todo.push(next);
    }
  }
  assert.deepEqual(packages, [], 'load these lazily (a dynamic import where first needed), or move what the worker needs into a module without them');
  // The walk did follow the worker's own imports.
  assert.ok([...seen.keys()].some((k) => k.endsWith('/wasm/host.js')));
});

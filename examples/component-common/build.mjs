// Builds the component examples (scripts/examples.mjs calls `build` for an
// example.json naming this file): the world comes from the .proto through
// `workd wit`'s mapping, then
//  - a .js source becomes a component with componentize-js (SpiderMonkey inside);
//  - a .wat source is compiled by wabt, the world embedded and the module
//    wrapped into a component by jco's wasm-tools commands (`embed`, `new`).
import { readFile, writeFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { spawnSync } from 'node:child_process';

/** The world of the example's service, as `workd wit` prints it. */
export function worldOf(root, proto) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'workd.js'), 'wit', proto], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`workd wit failed for ${proto}:\n${r.stderr}`);
  return r.stdout;
}

export async function build({ root, dir, meta, out }) {
  const src = join(dir, meta.source);
  const wit = worldOf(root, join(dir, meta.proto));
  const world = /\bworld ([a-z0-9-]+) \{/.exec(wit)[1];
  let component;
  if (src.endsWith('.js')) {
    const { componentize } = await import('@bytecodealliance/componentize-js');
    // The source and the WIT as strings: componentize-js 0.23's path options need a preopened filesystem.
    const r = await componentize(await readFile(src, 'utf8'), wit, { worldName: world, disableFeatures: ['http', 'fetch-event'] });
    component = r.component;
  } else if (src.endsWith('.wat')) {
    const { componentEmbed, componentNew } = await import('@bytecodealliance/jco-transpile/wasm-tools');
    const wabt = await (await import('wabt')).default();
    const mod = wabt.parseWat(src, await readFile(src, 'utf8'), { bulk_memory: true, mutable_globals: true, multi_value: true });
    let core;
    try {
      mod.validate();
      core = Uint8Array.from(mod.toBinary({}).buffer);
    } finally {
      mod.destroy();
    }
    const embedded = await componentEmbed({ binary: core, witSource: wit, world, stringEncoding: 'utf8' });
    component = await componentNew(embedded, undefined);
  } else {
    throw new Error(`${meta.source}: a component example is .js (componentize-js) or .wat (a core module wrapped into a component)`);
  }
  await writeFile(out, component);
  await writeFile(join(dirname(out), `${world}.wit`), wit);
  return component;
}

// `npm run examples`: builds every example under examples/ (AssemblyScript
// with asc, WAT with wabt, C with clang --target=wasm32-wasi, Rust with rustc --target wasm32-wasi; first
// `workd gen` for an example.json naming a "gen" file) and packages each as an OCI image layout in
// examples/<name>/dist/image/ with `workd image build`.
// `node scripts/examples.mjs add-floats echo` builds only those.
// Needs `npm run build` first (the CLI runs from dist/).
import { readFile, readdir, mkdir, writeFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const EXAMPLES = join(ROOT, 'examples');
const SDK_ABORT = 'sdk/assemblyscript/abi/workdAbort';

/** Whether clang can build wasm32-wasi reactors here (C examples need it). */
export function haveWasiClang() {
  const r = spawnSync('clang', ['--target=wasm32-wasi', '-mexec-model=reactor', '-x', 'c', '-o', '/dev/null', '-'], { input: 'int x;', encoding: 'utf8' });
  return !r.error && r.status === 0;
}

/**
 * A rustc that has the wasm32-wasi standard library: $RUSTC, else Debian's
 * (/usr/bin/rustc, with libstd-rust-dev-wasm32), else the one on PATH. A
 * rustup toolchain without that target is skipped.
 */
export function wasiRustc() {
  for (const c of [process.env.RUSTC, '/usr/bin/rustc', 'rustc']) {
    if (!c) continue;
    const r = spawnSync(c, ['--print', 'target-libdir', '--target', 'wasm32-wasi'], { encoding: 'utf8' });
    if (!r.error && r.status === 0 && existsSync(r.stdout.trim())) return c;
  }
  return undefined;
}

/** The examples: directories of examples/ holding an example.json. */
export async function listExamples() {
  const names = [];
  for (const e of await readdir(EXAMPLES, { withFileTypes: true })) {
    if (e.isDirectory() && existsSync(join(EXAMPLES, e.name, 'example.json'))) names.push(e.name);
  }
  return names.sort();
}

/** Compiles one example to examples/<name>/dist/<name>.wasm; returns its description and bytes. */
export async function compileExample(name) {
  const dir = join(EXAMPLES, name);
  const meta = JSON.parse(await readFile(join(dir, 'example.json'), 'utf8'));
  const src = join(dir, meta.source);
  const out = join(dir, 'dist', `${name}.wasm`);
  await mkdir(dirname(out), { recursive: true });
  if (meta.gen) {
    // Typed code from the .proto, as an author runs `workd gen` (the language follows the source).
    const lang = src.endsWith('.c') ? ['--lang', 'c'] : src.endsWith('.rs') ? ['--lang', 'rust'] : ['--lang', 'assemblyscript', '--sdk', '../../../sdk/assemblyscript'];
    const g = spawnSync(process.execPath, [join(ROOT, 'bin', 'workd.js'), 'gen', '--proto', join(dir, meta.proto), ...lang, '-o', join(dir, meta.gen)], { encoding: 'utf8' });
    if (g.status !== 0) throw new Error(`workd gen failed for ${name}:\n${g.stderr}`);
  }
  let wasm;
  if (meta.build) {
    // An example with a build of its own (the component examples: examples/component-common/build.mjs).
    const { build } = await import(pathToFileURL(join(dir, meta.build)).href);
    wasm = await build({ root: ROOT, dir, meta, out });
  } else if (src.endsWith('.wat')) {
    const wabt = await (await import('wabt')).default();
    const mod = wabt.parseWat(src, await readFile(src, 'utf8'), { bulk_memory: true, mutable_globals: true });
    try {
      mod.validate();
      wasm = Uint8Array.from(mod.toBinary({}).buffer);
    } finally {
      mod.destroy();
    }
    await writeFile(out, wasm);
  } else if (src.endsWith('.ts')) {
    const asc = (await import('assemblyscript/asc')).default;
    const stderr = asc.createMemoryStream();
    const { error } = await asc.main(
      [src, '-o', out, '--runtime', 'stub', '-O3', '--noAssert', '--use', `abort=${SDK_ABORT}`],
      { stdout: asc.createMemoryStream(), stderr },
    );
    if (error) throw new Error(`asc failed for ${name}: ${error.message}\n${stderr.toString()}`);
    wasm = new Uint8Array(await readFile(out));
  } else if (src.endsWith('.c')) {
    const r = spawnSync('clang', ['--target=wasm32-wasi', '-mexec-model=reactor', '-O2', '-o', out, src], { encoding: 'utf8' });
    if (r.error) throw new Error(`${name} needs clang for wasm32-wasi (Debian: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32): ${r.error.message}`);
    if (r.status !== 0) throw new Error(`clang failed for ${name}:\n${r.stderr}`);
    wasm = new Uint8Array(await readFile(out));
  } else if (src.endsWith('.rs')) {
    const rustc = wasiRustc();
    if (!rustc) throw new Error(`${name} needs rustc with the wasm32-wasi standard library (Debian: apt-get install rustc libstd-rust-dev-wasm32)`);
    const r = spawnSync(rustc, ['--edition', '2021', '--target', 'wasm32-wasi', '--crate-type', 'cdylib', '-O', '-C', 'strip=symbols', '-o', out, src], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`rustc failed for ${name}:\n${r.stderr}`);
    wasm = new Uint8Array(await readFile(out));
  } else {
    throw new Error(`${name}: do not know how to build ${meta.source}`);
  }
  return { name, dir, component: meta.component, proto: join(dir, meta.proto), wasmPath: out, wasm };
}

/** Packages a compiled example as an image layout with `workd image build`. */
export async function packageExample(ex) {
  const outDir = join(ex.dir, 'dist', 'image');
  await rm(outDir, { recursive: true, force: true });
  const cli = join(ROOT, 'bin', 'workd.js');
  const args = [cli, 'image', 'build', '--wasm', ex.wasmPath, '--proto', ex.proto, '--component', ex.component, '-o', outDir];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`workd image build failed for ${ex.name}:\n${r.stderr}${r.stdout}`);
  return { outDir };
}

async function main() {
  if (!existsSync(join(ROOT, 'dist', 'src'))) {
    console.error('run `npm run build` first: the workd CLI runs from dist/');
    process.exit(1);
  }
  const wanted = process.argv.slice(2);
  const names = wanted.length > 0 ? wanted : await listExamples();
  let failed = 0;
  for (const name of names) {
    try {
      const ex = await compileExample(name);
      const { outDir } = await packageExample(ex);
      console.log(`${name}: ${ex.wasm.length} bytes of wasm -> ${outDir.slice(ROOT.length + 1)} (${ex.component})`);
    } catch (err) {
      failed++;
      console.error(`${name}: ${err.message}`);
    }
  }
  process.exit(failed ? 1 : 0);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();

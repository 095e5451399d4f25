// Compiles WAT guests (test/fixtures/guests/*.wat or inline text) to wasm bytes
// with the npm `wabt` package (no native tools needed), cached per process.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import wabtInit from 'wabt';

type Wabt = Awaited<ReturnType<typeof wabtInit>>;
let wabt: Promise<Wabt> | undefined;
const cache = new Map<string, Uint8Array>();

/** test/fixtures/guests, found from both the sources and the compiled dist/ tree. */
export const GUESTS_DIR = (() => {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = here.includes(`${join('dist', 'test')}`) ? join(here, '..', '..', '..') : join(here, '..', '..');
  return join(root, 'test', 'fixtures', 'guests');
})();

/** Compiles WAT text to a wasm binary. */
export async function watToWasm(source: string, name = 'inline.wat'): Promise<Uint8Array> {
  const hit = cache.get(source);
  if (hit) return hit;
  wabt ??= wabtInit();
  const w = await wabt;
  const mod = w.parseWat(name, source, { mutable_globals: true, sat_float_to_int: true, sign_extension: true, bulk_memory: true, multi_value: true, reference_types: true, simd: true });
  try {
    mod.validate();
    const bytes = Uint8Array.from(mod.toBinary({ write_debug_names: true }).buffer);
    cache.set(source, bytes);
    return bytes;
  } finally {
    mod.destroy();
  }
}

/** Compiles test/fixtures/guests/<name>.wat. */
export async function guest(name: string): Promise<Uint8Array> {
  return watToWasm(readFileSync(join(GUESTS_DIR, `${name}.wat`), 'utf8'), `${name}.wat`);
}

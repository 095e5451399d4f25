// Compiles an AssemblyScript guest with the SDK's build flags (as scripts/examples.mjs does).
import { readFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import asc from 'assemblyscript/asc';
import { GUESTS_DIR } from './guests.js';

const ROOT = join(GUESTS_DIR, '..', '..', '..');

/**
 * Compiles an AssemblyScript entry file (a path from the repository root) to wasm bytes.
 * AssemblyScript sources live outside the TypeScript project's tree (sdk/, examples/),
 * since tsc would try to type-check them.
 */
export async function compileAssemblyScript(path: string): Promise<Uint8Array> {
  const out = join(await mkdtemp(join(tmpdir(), 'workd-asc-')), 'guest.wasm');
  const stderr = asc.createMemoryStream();
  const entry = relative(process.cwd(), join(ROOT, path));
  const abort = `${relative(process.cwd(), join(ROOT, 'sdk', 'assemblyscript', 'abi'))}/workdAbort`;
  const { error } = await asc.main([entry, '-o', out, '--runtime', 'stub', '-O3', '--noAssert', '--use', `abort=${abort}`], {
    stdout: asc.createMemoryStream(),
    stderr,
  });
  if (error) throw new Error(`asc failed: ${error.message}\n${stderr.toString()}`);
  return new Uint8Array(await readFile(out));
}

// The benchmarks' echo guest, found from the sources and from the compiled dist/ tree.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const path = [join(here, 'echo.wat'), join(here, '..', '..', '..', 'bench', 'executor', 'echo.wat')].find((p) => {
  try {
    readFileSync(p);
    return true;
  } catch {
    return false;
  }
})!;

/** The text of bench/executor/echo.wat. */
export const ECHO_WAT = readFileSync(path, 'utf8');

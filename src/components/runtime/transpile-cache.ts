// The node's on-disk cache of component transpiles (`<state dir>/components/`):
// one file per image holding what prepare.ts derives from the component's
// bytes alone (its world, jco's glue, the rewritten core modules), so a daemon
// restart compiles them again but does not re-run jco and the rewriter (1–7 s
// for a componentize-js component). The executor owns it: it reads and writes
// an image's entry when it prepares the image and deletes it when the image is
// removed.
//
// An entry is used only if it was made from the same component bytes by the
// same code: its header names the component's SHA-256, a fingerprint of jco's
// version and of the code that writes the entry, and the SHA-256 of the rest.
// Anything else (an older workd, a torn write, a flipped bit) is a miss: the
// component is transpiled again and the entry rewritten. Writes go to a
// temporary file renamed into place, so a reader never sees half of one.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from '../../observability/log.js';
import type { TranspiledComponent, TranspiledCore } from './prepare.js';

const MAGIC = new TextEncoder().encode('workd-transpile\n');
const SUFFIX = '.transpiled';
const TEMP = '.tmp-';

interface Header {
  readonly fingerprint: string;
  /** SHA-256 of the component the entry was made from. */
  readonly component: string;
  /** SHA-256 of everything after the header. */
  readonly payload: string;
  readonly world: string;
  readonly imports: readonly string[];
  readonly lifts: TranspiledComponent['lifts'];
  readonly glueBytes: number;
  readonly cores: readonly (Omit<TranspiledCore, 'bytes'> & { readonly size: number })[];
}

const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

let fingerprintValue: string | undefined;
/** jco-transpile's version and the code whose output an entry holds: a change to either makes every entry a miss. */
function fingerprint(): string {
  if (fingerprintValue) return fingerprintValue;
  const require = createRequire(import.meta.url);
  const jcoMain = require.resolve('@bytecodealliance/jco-transpile');
  const jcoPackage = JSON.parse(readFileSync(new URL('../package.json', pathToFileURL(jcoMain)), 'utf8')) as { version: string };
  const code = ['./transpile-cache.js', './prepare.js', './canon-lifts.js', '../../wasm/rewrite.js', '../../wasm/wasm-binary.js'].map((f) => readFileSync(new URL(f, import.meta.url)));
  fingerprintValue = sha256(new TextEncoder().encode(`jco-transpile ${jcoPackage.version}\n`), ...code);
  return fingerprintValue;
}

export class TranspileCache {
  private seq = 0;

  private constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** Creates the directory if needed and removes temporary files a crashed write left. */
  static async open(dir: string, log: Logger): Promise<TranspileCache> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (const f of await readdir(dir)) if (f.includes(TEMP)) await rm(join(dir, f), { force: true });
    return new TranspileCache(dir, log);
  }

  private file(key: string): string {
    return join(this.dir, sha256(new TextEncoder().encode(key)).slice(0, 40) + SUFFIX);
  }

  /** The entry of `key` if it was made from exactly `wasm` by this code; otherwise undefined. */
  async get(key: string, wasm: Uint8Array): Promise<TranspiledComponent | undefined> {
    let buf: Buffer;
    try {
      buf = await readFile(this.file(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ key, err: (err as Error).message }, 'cannot read a cached component transpile; transpiling again');
      return undefined;
    }
    const miss = (why: string) => {
      this.log.info({ key, why }, 'cached component transpile not used; transpiling again');
      return undefined;
    };
    const start = MAGIC.length + 4;
    if (buf.length < start || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return miss('not a transpile cache entry');
    const headerBytes = buf.readUInt32LE(MAGIC.length);
    if (start + headerBytes > buf.length) return miss('truncated');
    let h: Header;
    try {
      h = JSON.parse(buf.subarray(start, start + headerBytes).toString('utf8')) as Header;
    } catch {
      return miss('unreadable header');
    }
    if (h.fingerprint !== fingerprint()) return miss('made by another version of workd or jco');
    const body = buf.subarray(start + headerBytes);
    if (h.glueBytes + h.cores.reduce((n, c) => n + c.size, 0) !== body.length || sha256(body) !== h.payload) return miss('damaged');
    if (sha256(wasm) !== h.component) return miss('made from another component');
    let at = h.glueBytes;
    const cores = h.cores.map(({ size, ...meta }) => {
      const bytes = body.subarray(at, at + size);
      at += size;
      return { ...meta, bytes };
    });
    return { world: h.world, imports: h.imports, lifts: h.lifts, glue: body.subarray(0, h.glueBytes).toString('utf8'), cores };
  }

  /** Writes the entry of `key`. A failure is logged, not thrown: the node runs without the entry. */
  async put(key: string, wasm: Uint8Array, t: TranspiledComponent): Promise<void> {
    const file = this.file(key);
    const temp = `${file}${TEMP}${process.pid}-${++this.seq}`;
    try {
      const glue = new TextEncoder().encode(t.glue);
      const blobs = [glue, ...t.cores.map((c) => c.bytes)];
      const header: Header = {
        fingerprint: fingerprint(),
        component: sha256(wasm),
        payload: sha256(...blobs),
        world: t.world,
        imports: t.imports,
        lifts: t.lifts,
        glueBytes: glue.length,
        cores: t.cores.map(({ bytes, ...meta }) => ({ ...meta, size: bytes.length })),
      };
      const json = Buffer.from(JSON.stringify(header), 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(json.length);
      await writeFile(temp, [MAGIC, len, json, ...blobs], { mode: 0o600 });
      await rename(temp, file);
    } catch (err) {
      this.log.warn({ key, dir: this.dir, err: (err as Error).message }, 'cannot write the component transpile cache; the next daemon start transpiles again');
      await rm(temp, { force: true }).catch(() => undefined);
    }
  }

  /** Deletes the entry of `key` (its image was removed). Never throws. */
  async remove(key: string): Promise<void> {
    await rm(this.file(key), { force: true }).catch((err: Error) => this.log.warn({ key, err: err.message }, 'cannot delete a cached component transpile'));
  }
}

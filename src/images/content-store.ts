// Content-addressed blobs under <state-dir>/images/blobs/sha256/<hex>.
//
// A blob is written to <dir>/ingest/<random>, fsynced, verified (size and
// sha256) and only then renamed into place, so a crash or a bad download never
// leaves a partial or wrong blob under a digest name. Concurrent ingests of
// one digest share one write (and one download). Leftover ingest files from a
// crash are removed at open.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Code, WorkdError } from '../errors.js';
import { openBlobWriter } from './blob-writer.js';
import { digestHex } from './digest.js';

export interface BlobSource {
  /** Chunks of the blob; the store hashes and counts them. */
  readonly chunks: AsyncIterable<Uint8Array>;
  /** Where the bytes come from, for error messages. */
  readonly origin: string;
}

export interface Expected {
  readonly digest: string;
  readonly size: number;
}

export type Progress = (done: number, total: number) => void;

const WRITE_AHEAD = 8 * 1024 * 1024;
const WORKER_MIN_BYTES = 256 * 1024;

interface Sink {
  /** A promise when the caller should wait before the next chunk. */
  write(chunk: Uint8Array): Promise<unknown> | undefined;
  /** fsynced and closed: what was written. */
  finish(): Promise<{ digest: string; size: number }>;
  abort(): Promise<void>;
}

function workerSink(path: string): Sink {
  return openBlobWriter(path);
}

/** Hashing on this thread, writes chained rather than awaited per chunk (at most WRITE_AHEAD bytes queued). */
async function localSink(path: string): Promise<Sink> {
  const fh = await open(path, 'wx');
  const hash = createHash('sha256');
  let writing: Promise<unknown> = Promise.resolve();
  let queued = 0;
  let written = 0;
  let closed = false;
  return {
    write(chunk) {
      hash.update(chunk);
      queued += chunk.length;
      writing = writing.then(async () => {
        await fh.write(chunk);
        written += chunk.length;
      });
      writing.catch(() => {}); // surfaced by finish()
      return queued - written > WRITE_AHEAD ? writing : undefined;
    },
    async finish() {
      await writing;
      await fh.sync();
      closed = true;
      await fh.close();
      return { digest: 'sha256:' + hash.digest('hex'), size: queued };
    },
    async abort() {
      await writing.catch(() => {});
      if (!closed) await fh.close().catch(() => {});
    },
  };
}

export class ContentStore {
  private readonly blobDir: string;
  private readonly ingestDir: string;
  /** digest → size, for every committed blob. */
  private readonly sizes = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<void>>();

  private constructor(readonly dir: string) {
    this.blobDir = join(dir, 'blobs', 'sha256');
    this.ingestDir = join(dir, 'ingest');
  }

  static async open(dir: string): Promise<ContentStore> {
    const s = new ContentStore(dir);
    await rm(s.ingestDir, { recursive: true, force: true });
    await mkdir(s.blobDir, { recursive: true });
    await mkdir(s.ingestDir, { recursive: true });
    for (const name of await readdir(s.blobDir)) {
      if (!/^[a-f0-9]{64}$/.test(name)) continue;
      const st = await stat(join(s.blobDir, name));
      s.sizes.set(`sha256:${name}`, st.size);
    }
    return s;
  }

  has(digest: string): boolean {
    return this.sizes.has(digest);
  }

  size(digest: string): number | undefined {
    return this.sizes.get(digest);
  }

  digests(): IterableIterator<string> {
    return this.sizes.keys();
  }

  path(digest: string): string {
    return join(this.blobDir, digestHex(digest));
  }

  async read(digest: string): Promise<Buffer> {
    if (!this.sizes.has(digest)) throw new WorkdError(Code.NOT_FOUND, `blob ${digest} is not in the content store`);
    return readFile(this.path(digest));
  }

  /** Stores in-memory bytes under their expected digest (verified). */
  async put(expected: Expected, bytes: Uint8Array, origin: string): Promise<void> {
    await this.ingest(expected, () => ({ origin, chunks: (async function* () { yield bytes; })() }));
  }

  /**
   * Stores a blob unless present. `open` is called only when a download is
   * needed, and at most once for concurrent callers of the same digest.
   */
  async ingest(expected: Expected, source: () => BlobSource | Promise<BlobSource>, progress?: Progress): Promise<void> {
    digestHex(expected.digest);
    if (this.sizes.has(expected.digest)) return;
    const running = this.inflight.get(expected.digest);
    if (running) return running;
    const p = this.write(expected, source, progress).finally(() => this.inflight.delete(expected.digest));
    this.inflight.set(expected.digest, p);
    return p;
  }

  /** Blobs being written now (a GC must leave them alone). */
  isIngesting(digest: string): boolean {
    return this.inflight.has(digest);
  }

  private async write(expected: Expected, source: () => BlobSource | Promise<BlobSource>, progress?: Progress): Promise<void> {
    const tmp = join(this.ingestDir, randomBytes(12).toString('hex'));
    // Big blobs are hashed and written on a worker thread, overlapping the download.
    const sink = expected.size >= WORKER_MIN_BYTES ? workerSink(tmp) : await localSink(tmp);
    let committed = false;
    try {
      const src = await source();
      let n = 0;
      for await (const chunk of src.chunks) {
        n += chunk.length;
        if (n > expected.size) {
          throw new WorkdError(Code.DATA_LOSS, `blob ${expected.digest} from ${src.origin} is longer than the ${expected.size} bytes its descriptor declares`);
        }
        const wait = sink.write(chunk);
        if (wait) await wait;
        progress?.(n, expected.size);
      }
      if (n !== expected.size) {
        throw new WorkdError(Code.DATA_LOSS, `blob ${expected.digest} from ${src.origin} is truncated: got ${n} of ${expected.size} bytes`);
      }
      const got = await sink.finish();
      if (got.size !== expected.size) throw new WorkdError(Code.INTERNAL, `blob ${expected.digest}: wrote ${got.size} of ${expected.size} bytes`);
      if (got.digest !== expected.digest) {
        throw new WorkdError(Code.DATA_LOSS, `blob from ${src.origin} does not match its digest: expected ${expected.digest}, got ${got.digest}`);
      }
      await rename(tmp, this.path(expected.digest));
      committed = true;
      this.sizes.set(expected.digest, expected.size);
    } finally {
      if (!committed) {
        await sink.abort();
        await rm(tmp, { force: true });
      }
    }
  }

  async delete(digest: string): Promise<void> {
    if (!this.sizes.delete(digest)) return;
    await rm(this.path(digest), { force: true });
  }

  /** Bytes and files used by committed blobs. */
  usage(): { bytes: number; inodes: number } {
    let bytes = 0;
    for (const s of this.sizes.values()) bytes += s;
    return { bytes, inodes: this.sizes.size };
  }

  /** fsync of the blob directory, so renames done so far survive a crash. */
  async syncDir(): Promise<void> {
    const d = await open(this.blobDir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}

// Hashing and writing of blob bytes on a worker thread, so the main thread
// only receives: a pull's sha256 and disk writes overlap the download instead
// of adding to it (bench/images measures the difference).
//
// One worker serves every ingest of the process; each open file is a "job".
// Chunks are transferred (no copy) when they own their memory.
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const jobs = new Map();
parentPort.on('message', (m) => {
  try {
    if (m.op === 'open') {
      let fd = -1, err;
      try { fd = fs.openSync(m.path, 'wx'); } catch (e) { err = e; }
      jobs.set(m.id, { fd, hash: createHash('sha256'), n: 0, err });
      // A failed open is reported at finish; meanwhile the writer must never wait for acks.
      if (err) parentPort.postMessage({ id: m.id, ack: Number.MAX_SAFE_INTEGER });
      return;
    }
    const j = jobs.get(m.id);
    if (!j) return;
    if (m.op === 'write') {
      if (j.err) return;
      const b = Buffer.from(m.chunk);
      j.hash.update(b);
      let off = 0;
      while (off < b.length) off += fs.writeSync(j.fd, b, off, b.length - off);
      j.n += b.length;
      if (j.n - (j.acked || 0) >= 4194304) { j.acked = j.n; parentPort.postMessage({ id: m.id, ack: j.n }); }
    } else if (m.op === 'finish') {
      jobs.delete(m.id);
      if (j.err) {
        if (j.fd >= 0) try { fs.closeSync(j.fd); } catch {}
        throw j.err;
      }
      try { fs.fsyncSync(j.fd); } catch (e) { try { fs.closeSync(j.fd); } catch {} throw e; }
      fs.closeSync(j.fd);
      parentPort.postMessage({ id: m.id, digest: 'sha256:' + j.hash.digest('hex'), size: j.n });
    } else if (m.op === 'abort') {
      jobs.delete(m.id);
      if (j.fd >= 0) try { fs.closeSync(j.fd); } catch {}
      parentPort.postMessage({ id: m.id, aborted: true });
    }
  } catch (err) {
    const j = jobs.get(m.id);
    if (j && m.op === 'write') { j.err = err; parentPort.postMessage({ id: m.id, ack: Number.MAX_SAFE_INTEGER }); return; }
    parentPort.postMessage({ id: m.id, error: String(err && err.message || err), code: err && err.code });
  }
});
`;

let worker: Worker | undefined;
let nextId = 1;
const waiting = new Map<number, { resolve: (v: { digest: string; size: number } | undefined) => void; reject: (e: Error) => void }>();
let openJobs = 0;
const acks = new Map<number, (n: number) => void>();

/** Bytes a job may have in flight to the worker before the writer waits. */
const WINDOW = 16 * 1024 * 1024;

function getWorker(): Worker {
  if (worker) return worker;
  const w = new Worker(WORKER_SOURCE, { eval: true });
  w.on('message', (m: { id: number; ack?: number; digest?: string; size?: number; error?: string; code?: string; aborted?: boolean }) => {
    if (m.ack !== undefined) {
      acks.get(m.id)?.(m.ack);
      return;
    }
    const p = waiting.get(m.id);
    if (!p) return;
    waiting.delete(m.id);
    if (m.error !== undefined) p.reject(Object.assign(new Error(m.error), { code: m.code }));
    else p.resolve(m.aborted ? undefined : { digest: m.digest!, size: m.size! });
  });
  w.on('error', (err) => {
    for (const a of acks.values()) a(Number.MAX_SAFE_INTEGER);
    for (const p of waiting.values()) p.reject(err);
    waiting.clear();
    worker = undefined;
  });
  w.on('exit', () => {
    worker = undefined;
  });
  // Idle, it must not keep a process (a CLI, a test) alive.
  w.unref();
  worker = w;
  return w;
}

export interface BlobWriter {
  /** Hands the chunk over (it may be detached); a promise when the caller should wait before the next. */
  write(chunk: Uint8Array): Promise<void> | undefined;
  /** fsyncs and closes; the sha256 digest and byte count of what was written. */
  finish(): Promise<{ digest: string; size: number }>;
  /** Closes without syncing (the caller deletes the file). */
  abort(): Promise<void>;
}

/** Opens `path` (which must not exist) for a blob hashed and written off the main thread. */
export function openBlobWriter(path: string): BlobWriter {
  const w = getWorker();
  const id = nextId++;
  openJobs++;
  w.ref();
  w.postMessage({ op: 'open', id, path });
  let done = false;
  let settled = false;
  let sent = 0;
  let acked = 0;
  let wake: (() => void) | undefined;
  acks.set(id, (n) => {
    acked = n;
    if (wake && sent - acked <= WINDOW) {
      const f = wake;
      wake = undefined;
      f();
    }
  });
  const settle = <T>(op: 'finish' | 'abort'): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      w.postMessage({ op, id });
    }).finally(() => {
      acks.delete(id);
      if (!done) {
        done = true;
        if (--openJobs === 0) worker?.unref();
      }
    });
  return {
    write(chunk) {
      sent += chunk.byteLength;
      const owns = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer;
      let posted = false;
      if (owns) {
        try {
          w.postMessage({ op: 'write', id, chunk }, [chunk.buffer as ArrayBuffer]);
          posted = true;
        } catch {
          /* not transferable (e.g. pooled): copied below */
        }
      }
      if (!posted) w.postMessage({ op: 'write', id, chunk });
      if (sent - acked <= WINDOW) return undefined;
      return new Promise<void>((r) => (wake = r));
    },
    finish: () => {
      settled = true;
      return settle<{ digest: string; size: number }>('finish');
    },
    // After finish() the worker has closed the file already: nothing to abort.
    abort: async () => {
      if (settled) return;
      settled = true;
      await settle<undefined>('abort').catch(() => undefined);
    },
  };
}

// The node's durable state: records of any kind (pods, containers, counters, which
// runtime owns an ID, …) kept in memory and in an append-only journal with group
// commit. `commit(changes)` applies the changes at once and resolves when they are on
// disk (written and fdatasync'd), so a CRI verb that awaits it before answering never
// confirms what a crash could lose. Changes that arrive while a sync is running are
// written together by the next one: one fdatasync for many verbs.
//
//   <dir>/LOCK              who holds the state dir (the lock itself: lock.ts)
//   <dir>/snapshot-<N>      every record at the moment generation N began (absent for N = 0)
//   <dir>/journal-<N>       changes since then, one frame per commit
//
// When the journal outgrows the records it describes, the store writes a new snapshot
// and starts generation N+1 (compaction). Formats and recovery rules: docs/state.md.
import { constants, mkdirSync, openSync, closeSync, fsyncSync, readdirSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Code, WorkdError } from '../errors.js';
import { DEFAULT_LIMITS } from '../limits.js';
import { encodeFrame, scanFrames } from './frames.js';
import { killPoint } from './kill-points.js';
import { lockStateDir, type StateLock } from './lock.js';

/** One change: `value` undefined deletes the record. Values are JSON (bigints allowed). */
export interface StateChange {
  readonly kind: string;
  readonly id: string;
  readonly value?: unknown;
}

export interface StoreOptions {
  /** Largest encoded commit (limits.ts stateMaxCommitBytes). */
  readonly maxCommitBytes?: number;
  /** Compact when the journal holds more than this many bytes (limits.ts stateCompactMinBytes) and more than `compactRatio` × the last snapshot. */
  readonly compactMinBytes?: number;
  readonly compactRatio?: number;
  /**
   * Compact at close when the journal holds more than an eighth of the last snapshot's bytes: the next open
   * then reads each record once instead of every change to it (10,000 pods: a 14.7 MB snapshot instead of a
   * 23.6 MB journal, about half the CPU to open). The node's store does (a planned restart reads a snapshot).
   */
  readonly compactOnClose?: boolean;
  /** Told about a damaged tail dropped on open, and about compactions. */
  readonly onEvent?: (event: StoreEvent) => void;
}

export type StoreEvent =
  | { readonly type: 'torn-tail'; readonly file: string; readonly droppedBytes: number; readonly reason: string }
  | { readonly type: 'compacted'; readonly generation: number; readonly records: number; readonly snapshotBytes: number; readonly ms: number }
  | { readonly type: 'compaction-failed'; readonly generation: number; readonly error: unknown };

export interface StoreStats {
  readonly generation: number;
  readonly records: number;
  readonly journalBytes: number;
  readonly commits: number;
  readonly syncs: number;
}

const FORMAT = 'workd-state';
const VERSION = 1;
const SNAPSHOT_CHUNK_RECORDS = 1024;

type Header = { format: string; version: number; generation: number; file: 'journal' | 'snapshot' };
/** On disk: [kind, id, value] puts, [kind, id] deletes. */
type DiskChange = [string, string, unknown] | [string, string];

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

function damaged(file: string, why: string): WorkdError {
  return new WorkdError(Code.DATA_LOSS, `state file ${file}: ${why}; refusing to start on state that cannot be read whole (move the state dir aside to start empty)`);
}

function checkHeader(file: string, value: unknown, generation: number, kind: Header['file']): void {
  const h = value as Partial<Header> | undefined;
  if (!h || h.format !== FORMAT) throw damaged(file, 'no workd-state header');
  if (h.version !== VERSION) throw damaged(file, `format version ${String(h.version)}, this workd reads ${VERSION}`);
  if (h.generation !== generation || h.file !== kind) throw damaged(file, `header names ${String(h.file)} ${String(h.generation)}`);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class StateStore {
  private readonly records = new Map<string, Map<string, unknown>>();
  private recordCount = 0;
  private pending: Buffer[] = [];
  private pendingWaiters: Waiter[] = [];
  private flushing: Promise<void> | undefined;
  private failed: unknown;
  private closed = false;
  private commits = 0;
  private syncs = 0;
  /** Bytes of records' JSON as last measured by a snapshot (compaction's yardstick). */
  private liveBytesEstimate = 0;

  private constructor(
    readonly dir: string,
    private readonly lock: StateLock,
    private generation: number,
    private journal: FileHandle,
    private journalBytes: number,
    private readonly options: StoreOptions,
  ) {}

  /** Opens (creating) the store in `dir`, taking its lock and recovering what is on disk. */
  static async open(dir: string, options: StoreOptions = {}): Promise<StateStore> {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    const lock = await lockStateDir(dir);
    try {
      const names = readdirSync(dir);
      const gens = (prefix: string) => names.flatMap((n) => (n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)) ? [Number(n.slice(prefix.length))] : []));
      const snapshots = gens('snapshot-');
      const generation = snapshots.length > 0 ? Math.max(...snapshots) : 0;
      const records = new Map<string, Map<string, unknown>>();
      const apply = (change: DiskChange) => {
        let byId = records.get(change[0]);
        if (change.length === 3) {
          if (!byId) records.set(change[0], (byId = new Map()));
          byId.set(change[1], change[2]);
        } else byId?.delete(change[1]);
      };

      let liveBytes = 0;
      if (generation > 0) {
        const file = join(dir, `snapshot-${generation}`);
        const data = readFileSync(file);
        const scan = scanFrames(data);
        // A snapshot is renamed into place only once complete and synced, so any damage is real damage.
        if (scan.damage) throw damaged(file, scan.damage);
        checkHeader(file, scan.values[0], generation, 'snapshot');
        const end = scan.values[scan.values.length - 1] as { end?: number } | undefined;
        let count = 0;
        for (const chunk of scan.values.slice(1, -1)) for (const c of chunk as DiskChange[]) (apply(c), count++);
        if (scan.values.length < 2 || end?.end !== count) throw damaged(file, 'incomplete snapshot (no end frame with its record count)');
        liveBytes = data.length;
      }

      const journalPath = join(dir, `journal-${generation}`);
      let journalBytes = 0;
      let data: Buffer | undefined;
      try {
        data = readFileSync(journalPath);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      if (data && data.length > 0) {
        const scan = scanFrames(data);
        if (scan.values.length > 0) {
          checkHeader(journalPath, scan.values[0], generation, 'journal');
          for (const batch of scan.values.slice(1)) for (const c of batch as DiskChange[]) apply(c);
        }
        if (scan.damage) {
          // The tail of a write that never finished (or never synced): nothing in it was acknowledged.
          truncateSync(journalPath, scan.goodBytes);
          options.onEvent?.({ type: 'torn-tail', file: journalPath, droppedBytes: data.length - scan.goodBytes, reason: scan.damage });
        }
        journalBytes = scan.goodBytes;
      }
      const journal = await open(journalPath, constants.O_RDWR | constants.O_CREAT, 0o640);
      if (journalBytes === 0) {
        // A fresh journal (or one whose header itself was torn) starts with its header.
        const header = encodeFrame({ format: FORMAT, version: VERSION, generation, file: 'journal' } satisfies Header);
        await journal.truncate(0);
        await journal.write(header, 0, header.length, 0);
        await journal.datasync();
        fsyncDir(dir);
        journalBytes = header.length;
      }

      // Leftovers of older generations and of a compaction that did not finish.
      for (const n of names) {
        const old = /^(?:snapshot|journal)-(\d+)$/.exec(n);
        if ((old && Number(old[1]) < generation) || n.endsWith('.tmp')) rmSync(join(dir, n), { force: true });
      }

      const store = new StateStore(dir, lock, generation, journal, journalBytes, options);
      for (const [kind, byId] of records) {
        store.records.set(kind, byId);
        store.recordCount += byId.size;
      }
      store.liveBytesEstimate = liveBytes;
      return store;
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /** The record of this kind and ID, as last committed (or being committed). */
  get<T>(kind: string, id: string): T | undefined {
    return this.records.get(kind)?.get(id) as T | undefined;
  }

  /** Every record of a kind: ID → value. The map is live; do not change it. */
  list<T>(kind: string): ReadonlyMap<string, T> {
    return (this.records.get(kind) ?? new Map()) as ReadonlyMap<string, T>;
  }

  kinds(): string[] {
    return [...this.records.keys()];
  }

  /**
   * Applies `changes` as one atomic step (all of them survive a crash or none) and
   * resolves once they are on disk. Readers see them at once. Rejects, and so does every
   * later commit, if the disk refused a write: state that might not be durable is never
   * reported as such.
   */
  commit(changes: readonly StateChange[]): Promise<void> {
    if (this.closed) return Promise.reject(new WorkdError(Code.UNAVAILABLE, 'state store is closed'));
    if (this.failed !== undefined) return Promise.reject(this.failedError());
    if (changes.length === 0) return this.sync();
    const disk: DiskChange[] = changes.map((c) => (c.value === undefined ? [c.kind, c.id] : [c.kind, c.id, c.value]));
    let frame: Buffer;
    try {
      frame = encodeFrame(disk, this.options.maxCommitBytes ?? DEFAULT_LIMITS.stateMaxCommitBytes);
    } catch (err) {
      // Nothing changed: a value JSON cannot hold (a cycle, a frame over the limit).
      return Promise.reject(new WorkdError(Code.INVALID_ARGUMENT, `state change refused: ${(err as Error).message}`, { cause: err }));
    }
    for (const c of changes) this.apply(c);
    this.commits++;
    this.pending.push(frame);
    return new Promise<void>((resolve, reject) => {
      this.pendingWaiters.push({ resolve, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  /** Resolves when everything committed so far is on disk. */
  async sync(): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => undefined);
    if (this.failed !== undefined) throw this.failedError();
  }

  stats(): StoreStats {
    return { generation: this.generation, records: this.recordCount, journalBytes: this.journalBytes, commits: this.commits, syncs: this.syncs };
  }

  /** Writes what is pending (and compacts, with compactOnClose), then releases the files and the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.sync();
    } catch {
      // The failure was reported to the commits it concerned.
    }
    if (this.options.compactOnClose === true && this.failed === undefined && this.journalBytes > this.headerBytes && this.journalBytes * 8 > this.liveBytesEstimate) {
      try {
        await this.compactNow();
      } catch (error) {
        // The journal is still whole: the next open reads it instead.
        this.options.onEvent?.({ type: 'compaction-failed', generation: this.generation, error });
      }
    }
    await this.journal.close();
    await this.lock.release();
  }

  /** Writes a snapshot and starts a new generation now (normally done when the journal grows). */
  async compact(): Promise<void> {
    await this.sync();
    this.flushing = this.compactNow();
    try {
      await this.flushing;
    } finally {
      this.flushing = undefined;
    }
    if (this.pending.length > 0) this.flushing ??= this.flushLoop();
  }

  private apply(c: StateChange): void {
    let byId = this.records.get(c.kind);
    if (c.value === undefined) {
      if (byId?.delete(c.id)) this.recordCount--;
      return;
    }
    if (!byId) this.records.set(c.kind, (byId = new Map()));
    if (!byId.has(c.id)) this.recordCount++;
    byId.set(c.id, c.value);
  }

  private failedError(): WorkdError {
    return new WorkdError(Code.INTERNAL, `state store ${this.dir} can no longer write: ${String((this.failed as Error)?.message ?? this.failed)}`, { cause: this.failed });
  }

  /** One group commit after another until nothing is pending. */
  private async flushLoop(): Promise<void> {
    try {
      while (this.pending.length > 0 && this.failed === undefined) {
        const frames = this.pending;
        const waiters = this.pendingWaiters;
        this.pending = [];
        this.pendingWaiters = [];
        try {
          const buf = frames.length === 1 ? frames[0]! : Buffer.concat(frames);
          killPoint('state:before-write');
          await this.journal.write(buf, 0, buf.length, this.journalBytes);
          this.journalBytes += buf.length;
          killPoint('state:before-sync');
          await this.journal.datasync();
          this.syncs++;
          killPoint('state:after-sync');
        } catch (err) {
          this.failed = err;
          for (const w of waiters) w.reject(this.failedError());
          for (const w of this.pendingWaiters) w.reject(this.failedError());
          this.pendingWaiters = [];
          this.pending = [];
          return;
        }
        for (const w of waiters) w.resolve();
        if (this.shouldCompact()) {
          try {
            await this.compactNow();
          } catch (error) {
            // The journal is still whole and in use; only the compaction failed (it is tried again later).
            this.options.onEvent?.({ type: 'compaction-failed', generation: this.generation, error });
          }
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /** A journal's bytes before its first commit. */
  private get headerBytes(): number {
    return encodeFrame({ format: FORMAT, version: VERSION, generation: this.generation, file: 'journal' } satisfies Header).length;
  }

  private shouldCompact(): boolean {
    const min = this.options.compactMinBytes ?? DEFAULT_LIMITS.stateCompactMinBytes;
    const ratio = this.options.compactRatio ?? 4;
    return this.journalBytes > min && this.journalBytes > ratio * this.liveBytesEstimate;
  }

  /**
   * Snapshot of every record (taken synchronously, so consistent), written to a temp file,
   * synced, renamed into place; then the new journal. Changes committed meanwhile go to the
   * new journal: replaying a put or delete over a snapshot that already has it is harmless.
   */
  private async compactNow(): Promise<void> {
    const t0 = performance.now();
    const next = this.generation + 1;
    const frames: Buffer[] = [encodeFrame({ format: FORMAT, version: VERSION, generation: next, file: 'snapshot' } satisfies Header)];
    let chunk: DiskChange[] = [];
    let count = 0;
    for (const [kind, byId] of this.records) {
      for (const [id, value] of byId) {
        chunk.push([kind, id, value]);
        count++;
        if (chunk.length === SNAPSHOT_CHUNK_RECORDS) {
          frames.push(encodeFrame(chunk));
          chunk = [];
        }
      }
    }
    if (chunk.length > 0) frames.push(encodeFrame(chunk));
    frames.push(encodeFrame({ end: count }));
    const snapshot = Buffer.concat(frames);

    const snapPath = join(this.dir, `snapshot-${next}`);
    const tmp = `${snapPath}.tmp`;
    const fh = await open(tmp, 'w', 0o640);
    try {
      await fh.write(snapshot, 0, snapshot.length, 0);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    const journalPath = join(this.dir, `journal-${next}`);
    const journal = await open(journalPath, 'w', 0o640);
    const header = encodeFrame({ format: FORMAT, version: VERSION, generation: next, file: 'journal' } satisfies Header);
    try {
      await journal.write(header, 0, header.length, 0);
      await journal.datasync();
      killPoint('state:before-snapshot-rename');
      // The rename is the switch: from here on, generation `next` is the state.
      await rename(tmp, snapPath);
      fsyncDir(this.dir);
    } catch (err) {
      await journal.close();
      throw err;
    }
    killPoint('state:after-snapshot-rename');
    const old = this.journal;
    const oldGen = this.generation;
    this.journal = journal;
    this.journalBytes = header.length;
    this.generation = next;
    this.liveBytesEstimate = snapshot.length;
    await old.close();
    rmSync(join(this.dir, `journal-${oldGen}`), { force: true });
    rmSync(join(this.dir, `snapshot-${oldGen}`), { force: true });
    this.options.onEvent?.({ type: 'compacted', generation: next, records: count, snapshotBytes: snapshot.length, ms: performance.now() - t0 });
  }
}

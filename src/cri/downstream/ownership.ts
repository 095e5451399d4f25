// Which IDs belong to the downstream runtime. Every sandbox and container the
// downstream created is recorded here before its ID is answered, and forgotten
// once it is removed there, so after a restart of workd (or of the downstream)
// a call naming that ID goes to the downstream, and one naming an ID of neither
// side goes to workd's own verbs (which answer NotFound, or OK for Stop/Remove).
//
// The record is a journal file of its own in the state dir, behind this
// interface so that it can move into the daemon's state store.
import { closeSync, fdatasyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

export type OwnedKind = 'sandbox' | 'container';

export interface OwnedId {
  readonly id: string;
  readonly kind: OwnedKind;
  /** A container's sandbox. */
  readonly sandboxId?: string;
}

export type Resolved = OwnedId | 'ambiguous' | undefined;

export interface OwnershipStore {
  get(id: string): OwnedId | undefined;
  /** An exact ID, or a prefix matching exactly one ID of `kind` (any kind when omitted). */
  resolve(idOrPrefix: string, kind?: OwnedKind): Resolved;
  /** Durable once it resolves. */
  add(records: readonly OwnedId[]): Promise<void>;
  /** Forgets IDs (and, for a sandbox, its containers). Durable once it resolves. */
  remove(ids: readonly string[]): Promise<void>;
  list(kind?: OwnedKind): OwnedId[];
  close(): Promise<void>;
}

type Entry = { op: 'add'; rec: OwnedId } | { op: 'del'; id: string };

/** Opens (or creates) `<dir>/owned.jsonl`, compacting it to the live records. */
export async function openOwnershipStore(dir: string): Promise<OwnershipStore> {
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  const path = join(dir, 'owned.jsonl');
  const live = new Map<string, OwnedId>();
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let e: Entry;
    try {
      e = JSON.parse(line) as Entry;
    } catch {
      continue; // a line torn by a crash mid-write: its call was never answered
    }
    if (e.op === 'add') live.set(e.rec.id, e.rec);
    else live.delete(e.id);
  }
  // Rewrite with only the live records (tmp + fsync + rename), so the journal does not grow without end.
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o640);
  writeSync(fd, [...live.values()].map((rec) => JSON.stringify({ op: 'add', rec }) + '\n').join(''));
  fdatasyncSync(fd);
  closeSync(fd);
  renameSync(tmp, path);

  const file: FileHandle = await open(path, 'a');
  let tail: Promise<void> = Promise.resolve();
  const append = (entries: Entry[]): Promise<void> => {
    const line = entries.map((e) => JSON.stringify(e) + '\n').join('');
    const next = tail.then(async () => {
      await file.write(line);
      await file.datasync();
    });
    tail = next.catch(() => undefined);
    return next;
  };

  return {
    get: (id) => live.get(id),
    resolve(idOrPrefix, kind) {
      const exact = live.get(idOrPrefix);
      if (exact && (!kind || exact.kind === kind)) return exact;
      if (idOrPrefix === '') return undefined;
      let found: OwnedId | undefined;
      for (const rec of live.values()) {
        if ((kind && rec.kind !== kind) || !rec.id.startsWith(idOrPrefix)) continue;
        if (found) return 'ambiguous';
        found = rec;
      }
      return found;
    },
    async add(records) {
      const fresh = records.filter((r) => live.get(r.id)?.kind !== r.kind);
      if (fresh.length === 0) return;
      for (const r of fresh) live.set(r.id, r);
      await append(fresh.map((rec) => ({ op: 'add', rec })));
    },
    async remove(ids) {
      const gone = new Set<string>();
      for (const id of ids) {
        if (live.has(id)) gone.add(id);
        for (const rec of live.values()) if (rec.sandboxId === id) gone.add(rec.id);
      }
      if (gone.size === 0) return;
      for (const id of gone) live.delete(id);
      await append([...gone].map((id) => ({ op: 'del', id })));
    },
    list: (kind) => [...live.values()].filter((r) => !kind || r.kind === kind),
    async close() {
      await tail;
      await file.close();
    },
  };
}

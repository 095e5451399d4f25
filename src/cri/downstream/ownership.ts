// Which IDs belong to the downstream runtime. Every sandbox and container the
// downstream created is recorded in the node's state store before its ID is
// answered, and forgotten once it is removed there, so after a restart of workd
// (or of the downstream) a call naming that ID goes to the downstream, and one
// naming an ID of neither side goes to workd's own verbs (which answer
// NotFound, or OK for Stop and Remove).
import type { StateStore } from '../../state/store.js';

/** The state store kind of these records: ID → OwnedRecord. */
export const OWNER_KIND = 'downstream.owner';

export type OwnedKind = 'sandbox' | 'container';

export interface OwnedId {
  readonly id: string;
  readonly kind: OwnedKind;
  /** A container's sandbox. */
  readonly sandboxId?: string;
}

type OwnedRecord = Omit<OwnedId, 'id'>;

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
}

export function ownershipStore(state: StateStore): OwnershipStore {
  const live = (): ReadonlyMap<string, OwnedRecord> => state.list<OwnedRecord>(OWNER_KIND);
  const get = (id: string): OwnedId | undefined => {
    const r = live().get(id);
    return r ? { id, ...r } : undefined;
  };
  return {
    get,
    resolve(idOrPrefix, kind) {
      const exact = get(idOrPrefix);
      if (exact && (!kind || exact.kind === kind)) return exact;
      if (idOrPrefix === '') return undefined;
      let found: OwnedId | undefined;
      for (const [id, rec] of live()) {
        if ((kind && rec.kind !== kind) || !id.startsWith(idOrPrefix)) continue;
        if (found) return 'ambiguous';
        found = { id, ...rec };
      }
      return found;
    },
    async add(records) {
      const fresh = records.filter((r) => live().get(r.id)?.kind !== r.kind);
      if (fresh.length === 0) return;
      await state.commit(fresh.map((r) => ({ kind: OWNER_KIND, id: r.id, value: r.sandboxId ? { kind: r.kind, sandboxId: r.sandboxId } : { kind: r.kind } })));
    },
    async remove(ids) {
      const gone = new Set<string>();
      for (const id of ids) {
        if (live().has(id)) gone.add(id);
        for (const [cid, rec] of live()) if (rec.sandboxId === id) gone.add(cid);
      }
      if (gone.size === 0) return;
      await state.commit([...gone].map((id) => ({ kind: OWNER_KIND, id })));
    },
    list: (kind) => [...live()].filter(([, r]) => !kind || r.kind === kind).map(([id, r]) => ({ id, ...r })),
  };
}

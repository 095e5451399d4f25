// A small cache for results that repeat call after call (QPACK's encoded
// field lines and decoded field sections), built so that values which never
// repeat cost nothing and nothing churns:
// - direct-mapped: an entry replaces the one in its slot in place, so no table
//   is ever rebuilt or cleared (a Map that is cleared when full leaves dead
//   tables that keep their entries alive through every scavenge; see
//   id-map.ts for the mechanism, measured at ~750 KB per scavenge for QPACK
//   sections that carried a per-call grpc-timeout);
// - a key is stored on its second miss in its slot (only its hash is noted
//   on the first), so one-off keys allocate nothing here.

export class RepeatCache<K, V> {
  private readonly keys: (K | undefined)[];
  private readonly vals: (V | undefined)[];
  /** Hash of the last key that missed in each slot. */
  private readonly missed: Int32Array;
  private readonly mask: number;

  /** `slots` is a power of two; `same` compares a stored key with a looked-up one. */
  constructor(
    slots: number,
    private readonly same: (stored: K, key: K) => boolean,
  ) {
    this.keys = new Array<K | undefined>(slots).fill(undefined);
    this.vals = new Array<V | undefined>(slots).fill(undefined);
    this.missed = new Int32Array(slots);
    this.mask = slots - 1;
  }

  private slot(hash: number): number {
    // FNV's low bits mix least: take the high ones.
    return (hash >>> 16) & this.mask;
  }

  /** The value stored for `key` (whose hash is `hash`), if any. */
  get(key: K, hash: number): V | undefined {
    const i = this.slot(hash);
    const k = this.keys[i];
    return k !== undefined && this.same(k, key) ? this.vals[i] : undefined;
  }

  /** After a miss: true when this is the key's second miss in its slot and it should be stored with set(). */
  admits(hash: number): boolean {
    const i = this.slot(hash);
    if (this.missed[i] === hash) return true;
    this.missed[i] = hash;
    return false;
  }

  set(key: K, hash: number, value: V): void {
    const i = this.slot(hash);
    this.keys[i] = key;
    this.vals[i] = value;
  }
}

/** FNV-1a over bytes. */
export function hashBytes(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h | 0;
}

/** FNV-1a over UTF-16 code units. */
export function hashString(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h | 0;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

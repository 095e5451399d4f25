// A map from integer IDs (QUIC stream IDs, call sequence numbers) to objects,
// for the long-lived tables of a data plane that adds and removes one entry per
// call. Why not a Map: V8's Map never reuses a removed entry's slot; after
// about capacity/2 additions it rehashes into a new table, and the old table
// keeps its entries and a link to the new one. Once a table is in the old
// generation (any connection that lived a while), every later table is
// allocated there too, and each dead table keeps the calls it held alive
// through every scavenge until the next full GC: measured under HTTP/3 load,
// ~1.3 MB of finished calls survived each scavenge and was promoted (a
// 6-10 ms pause each time, plus the concurrent marking to free it), where an
// ID map that reuses its slots leaves nothing behind.
//
// Open addressing with linear probing; a removal shifts the rest of its
// cluster back instead of leaving a tombstone, so churn never rebuilds the
// table. It only grows (when half full) and `clear()` starts small again.
// Keys are integers in [0, 2^53); values are objects (undefined marks a free slot).

const MIN_CAPACITY = 16;

/** Fibonacci hashing: stream IDs step by 4, call numbers by 1; both spread evenly. */
function slotOf(key: number, shift: number): number {
  const lo = key >>> 0;
  const hi = (key - lo) / 4294967296;
  return Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> shift;
}

export class IdMap<V extends object> {
  private keys: Float64Array;
  private vals: (V | undefined)[];
  private mask: number;
  private shift: number;
  private count = 0;
  /** Bumped by every removal or replacement: forEach re-checks entries only after one. */
  private removals = 0;
  /** forEach's snapshot, reused unless an iteration is already under way. */
  private readonly spareKeys: number[] = [];
  private readonly spareVals: (V | undefined)[] = [];
  private iterating = false;

  constructor() {
    this.keys = new Float64Array(MIN_CAPACITY);
    this.vals = new Array<V | undefined>(MIN_CAPACITY).fill(undefined);
    this.mask = MIN_CAPACITY - 1;
    this.shift = 32 - Math.log2(MIN_CAPACITY);
  }

  get size(): number {
    return this.count;
  }

  get(key: number): V | undefined {
    const { keys, vals, mask } = this;
    for (let i = slotOf(key, this.shift); ; i = (i + 1) & mask) {
      const v = vals[i];
      if (v === undefined) return undefined;
      if (keys[i] === key) return v;
    }
  }

  has(key: number): boolean {
    return this.get(key) !== undefined;
  }

  set(key: number, value: V): this {
    if ((this.count + 1) * 2 > this.vals.length) this.grow();
    const { keys, vals, mask } = this;
    for (let i = slotOf(key, this.shift); ; i = (i + 1) & mask) {
      if (vals[i] === undefined) {
        keys[i] = key;
        vals[i] = value;
        this.count++;
        return this;
      }
      if (keys[i] === key) {
        if (vals[i] !== value) this.removals++;
        vals[i] = value;
        return this;
      }
    }
  }

  delete(key: number): boolean {
    const { keys, vals, mask, shift } = this;
    let i = slotOf(key, shift);
    for (; ; i = (i + 1) & mask) {
      const v = vals[i];
      if (v === undefined) return false;
      if (keys[i] === key) break;
    }
    // Backward shift: move each later entry of the cluster into the hole
    // unless its home slot lies cyclically after the hole.
    for (let j = (i + 1) & mask; vals[j] !== undefined; j = (j + 1) & mask) {
      const home = slotOf(keys[j]!, shift);
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      keys[i] = keys[j]!;
      vals[i] = vals[j];
      i = j;
    }
    vals[i] = undefined;
    this.count--;
    this.removals++;
    return true;
  }

  clear(): void {
    this.removals++;
    this.count = 0;
    // Emptied in place: an array already in the old generation cannot keep entries alive.
    this.vals.fill(undefined);
    if (this.vals.length === MIN_CAPACITY) return;
    this.keys = new Float64Array(MIN_CAPACITY);
    this.vals = new Array<V | undefined>(MIN_CAPACITY).fill(undefined);
    this.mask = MIN_CAPACITY - 1;
    this.shift = 32 - Math.log2(MIN_CAPACITY);
  }


  /**
   * Calls `fn` for each entry present when the iteration began and still
   * present (with the same value) when its turn comes, like a Map; entries
   * added meanwhile are not visited. `fn` may add and remove entries, and
   * stops the iteration by returning true.
   */
  forEach(fn: (value: V, key: number) => boolean | void): void {
    const n = this.count;
    if (n === 0) return;
    // A nested forEach (from fn) gets arrays of its own.
    const nested = this.iterating;
    const ks: number[] = nested ? [] : this.spareKeys;
    const vs: (V | undefined)[] = nested ? [] : this.spareVals;
    this.iterating = true;
    const { keys, vals } = this;
    let m = 0;
    for (let i = 0; i < vals.length && m < n; i++) {
      const v = vals[i];
      if (v !== undefined) {
        ks[m] = keys[i]!;
        vs[m++] = v;
      }
    }
    const removals = this.removals;
    try {
      for (let i = 0; i < m; i++) {
        const v = vs[i]!;
        if ((this.removals === removals || this.get(ks[i]!) === v) && fn(v, ks[i]!) === true) break;
      }
    } finally {
      // Drop the references (the snapshot must not keep finished entries
      // alive) but keep the arrays' storage for the next iteration.
      vs.fill(undefined, 0, m);
      if (!nested) this.iterating = false;
    }
  }

  /** The values, in a new array (for paths that are not hot). */
  values(): V[] {
    const out: V[] = [];
    for (const v of this.vals) if (v !== undefined) out.push(v);
    return out;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldVals = this.vals;
    const cap = oldVals.length * 2;
    this.keys = new Float64Array(cap);
    this.vals = new Array<V | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
    this.count = 0;
    for (let i = 0; i < oldVals.length; i++) {
      const v = oldVals[i];
      if (v !== undefined) this.set(oldKeys[i]!, v);
    }
    // The old array may already be in the old generation: emptied, it cannot keep entries alive.
    oldVals.fill(undefined);
  }
}

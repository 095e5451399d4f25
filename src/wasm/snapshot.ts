// A memory's post-initialisation snapshot and its reset, shared by the ABI v1
// worker (worker.ts) and the component lane (src/components/runtime/instance.ts).

/** A copy of memory without its all-zero tail (most of a fresh memory). */
export function withoutZeroTail(mem: Uint8Array): Uint8Array {
  let end = mem.length;
  while (end > 0 && mem[end - 1] === 0) end--;
  return mem.slice(0, end);
}

/** Puts the snapshot's bytes back in [lo, hi): copied where the snapshot has them, zeros past its end. */
export function restoreRange(mem: Uint8Array, snap: Uint8Array, lo: number, hi: number): void {
  const end = snap.length;
  if (lo < end) mem.set(snap.subarray(lo, Math.min(hi, end)), lo);
  if (hi > end) mem.fill(0, Math.max(lo, end), hi);
}

// Child of id-map.test.ts (run with --expose-gc --trace-gc-nvp): a long-lived
// ID table with one entry added and one removed per simulated call, 16 calls
// live at a time, each holding ~600 bytes; the parent reads the GC trace.
import { IdMap } from '../id-map.js';

declare const gc: () => void;
interface Call {
  readonly id: number;
  readonly payload: number[];
}
const kind = process.argv[2];
const map = new Map<number, Call>();
const ours = new IdMap<Call>();
for (let i = 1; i <= 5; i++) {
  map.set(-i, { id: -i, payload: [] });
  ours.set(2 ** 40 + i, { id: -i, payload: [] });
}
// Both tables now live in the old generation, as a long-lived connection's do.
gc();
gc();
const live: Call[] = [];
for (let id = 0; id < 400_000; id++) {
  const c: Call = { id, payload: new Array<number>(64).fill(id) };
  if (kind === 'map') map.set(id, c);
  else ours.set(id, c);
  live.push(c);
  if (live.length > 16) {
    const done = live.shift()!;
    if (kind === 'map') map.delete(done.id);
    else ours.delete(done.id);
  }
}

// A child process for the store's crash tests: opens the store in argv[2] and commits
// forever, printing `ack N` once commit N is durable. The parent kills it with SIGKILL
// (or WORKD_KILL_AT kills it at an exact point) and checks what survived.
//
// Commit N sets a.x = N and b.y = N, adds c/N and deletes c/(N-10): after recovery
// a.x === b.y (no half commit) and c holds exactly the ten IDs below it.
import { StateStore, type StateChange } from '../../src/state/store.js';

const dir = process.argv[2]!;
const inFlight = Number(process.argv[3] ?? 8);
const padding = 'p'.repeat(Number(process.argv[4] ?? 200));

const store = await StateStore.open(dir, { compactMinBytes: 64 * 1024, compactRatio: 2 });
let n = (store.get<number>('a', 'x') ?? -1) + 1;
process.stdout.write(`start ${n}\n`);

async function one(i: number): Promise<void> {
  const changes: StateChange[] = [
    { kind: 'a', id: 'x', value: i },
    { kind: 'b', id: 'y', value: i },
    { kind: 'c', id: String(i), value: { i, at: BigInt(i) * 1_000_000_007n, padding } },
  ];
  if (i >= 10) changes.push({ kind: 'c', id: String(i - 10), });
  await store.commit(changes);
  process.stdout.write(`ack ${i}\n`);
}

const lanes = Array.from({ length: inFlight }, async () => {
  for (;;) await one(n++);
});
await Promise.all(lanes);

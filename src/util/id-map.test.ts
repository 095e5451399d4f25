import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { IdMap } from './id-map.js';

interface Box {
  readonly n: number;
}

test('IdMap agrees with Map over a long random mix of set, get and delete (stream-like and large keys)', () => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  // A range of 300 keys grows the table; a range of 7 keeps it at its smallest,
  // where clusters often wrap around the end (the backward shift's hard case).
  for (const range of [300, 7]) for (const keyOf of [(i: number) => i * 4, (i: number) => i, (i: number) => 2 ** 52 + i * 7, (i: number) => (i % 3) * 2 ** 33 + i]) {
    const ours = new IdMap<Box>();
    const ref = new Map<number, Box>();
    for (let step = 0; step < 20000; step++) {
      const k = keyOf(rand(range));
      const op = rand(3);
      if (op === 0) {
        const b = { n: step };
        ours.set(k, b);
        ref.set(k, b);
      } else if (op === 1) {
        assert.equal(ours.delete(k), ref.delete(k), `delete ${k} at step ${step}`);
      }
      assert.equal(ours.get(k), ref.get(k), `get ${k} at step ${step}`);
      assert.equal(ours.size, ref.size);
    }
    for (const [k, v] of ref) assert.equal(ours.get(k), v);
    assert.deepEqual(new Set(ours.values()), new Set(ref.values()));
    ours.clear();
    assert.equal(ours.size, 0);
    assert.equal(ours.get(keyOf(1)), undefined);
  }
});

test('IdMap.forEach visits each entry once, skips entries removed meanwhile, not entries added meanwhile, and can stop', () => {
  const m = new IdMap<Box>();
  for (let i = 0; i < 40; i++) m.set(i * 4, { n: i });
  const seen: number[] = [];
  let victim = -1;
  m.forEach((v, k) => {
    assert.equal(k, v.n * 4);
    seen.push(v.n);
    // Remove ourselves and (on the first visit) another entry, add new ones:
    // like a Map's iteration, the removed one is not visited.
    m.delete(k);
    if (victim < 0) {
      victim = v.n === 0 ? 1 : 0;
      m.delete(victim * 4);
    }
    m.set(1000 + v.n * 4, { n: 1000 + v.n });
  });
  assert.equal(seen.length, 39);
  assert.ok(!seen.includes(victim));
  assert.equal(new Set(seen).size, 39);
  assert.ok(seen.every((n) => n < 1000));
  assert.equal(m.size, 39);

  let visits = 0;
  m.forEach(() => ++visits === 5);
  assert.equal(visits, 5);

  // Nested iteration (a callback that iterates again) sees a consistent snapshot.
  let inner = 0;
  m.forEach(() => {
    m.forEach(() => {
      inner++;
    });
    return true;
  });
  assert.equal(inner, 39);
});

test('IdMap churn leaves no finished entries for the scavenger to keep alive (unlike a Map whose table is in the old generation)', () => {
  // In a child with --trace-gc-nvp: a long-lived table, one entry added and one removed per
  // "call", each entry holding ~600 bytes; count what survives the young-generation GCs.
  const script = fileURLToPath(new URL('./testdata/churn.js', import.meta.url));
  const survived = (kind: string) => {
    const r = spawnSync(process.execPath, ['--expose-gc', '--trace-gc-nvp', script, kind], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.split('\n').filter((l) => l.includes('gc=s') && / allocated=(\d{7,})/.test(l));
    assert.ok(rows.length >= 3, `too few scavenges:\n${r.stdout.slice(0, 2000)}`);
    const vals = rows.map((l) => Number(/ new_space_survived=(\d+)/.exec(l)![1]));
    vals.sort((a, b) => a - b);
    return vals[vals.length >> 1]!;
  };
  const map = survived('map');
  const ours = survived('idmap');
  assert.ok(map > 1_000_000, `the V8 Map case should keep megabytes alive per scavenge (got ${map} bytes); has V8 changed?`);
  assert.ok(ours < 200_000, `IdMap kept ${ours} bytes alive per scavenge`);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, WorkdError } from '../errors.js';
import { encodeFrame, scanFrames } from './frames.js';
import { StateStore, type StoreEvent } from './store.js';

/** Runs `fn` on a fresh temp dir, removed afterwards. */
async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'workd-state-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a commit is there after reopening, with bigints and deletes', () =>
  inTempDir(async (dir) => {
    const s = await StateStore.open(dir);
    await s.commit([
      { kind: 'pod', id: 'a#0', value: { labels: { app: 'x' }, createdAt: 1764763200123456789n } },
      { kind: 'pod', id: 'a#1', value: { labels: {} } },
      { kind: 'counter', id: 'a', value: 2 },
    ]);
    await s.commit([{ kind: 'pod', id: 'a#1' }]);
    assert.equal(s.list('pod').size, 1);
    await s.close();

    const r = await StateStore.open(dir);
    assert.deepEqual(r.get('pod', 'a#0'), { labels: { app: 'x' }, createdAt: 1764763200123456789n });
    assert.equal(r.get('pod', 'a#1'), undefined);
    assert.equal(r.get('counter', 'a'), 2);
    assert.equal(r.stats().records, 2);
    await r.close();
  }));

test('concurrent commits share fdatasyncs (group commit) and all resolve durable', () =>
  inTempDir(async (dir) => {
    const s = await StateStore.open(dir);
    await Promise.all(Array.from({ length: 200 }, (_, i) => s.commit([{ kind: 'k', id: String(i), value: i }])));
    const { commits, syncs } = s.stats();
    assert.equal(commits, 200);
    assert.ok(syncs < commits / 4, `${syncs} syncs for ${commits} commits`);
    await s.close();
    const r = await StateStore.open(dir);
    assert.equal(r.list('k').size, 200);
    await r.close();
  }));

test('a second open of the same dir is refused while the first holds it, and allowed after close', () =>
  inTempDir(async (dir) => {
    const s = await StateStore.open(dir);
    await assert.rejects(StateStore.open(dir), (err: unknown) => {
      assert.ok(err instanceof WorkdError);
      assert.equal(err.code, Code.FAILED_PRECONDITION);
      assert.match(err.message, new RegExp(`state dir ${dir} is in use by workd pid ${process.pid}`));
      return true;
    });
    await s.close();
    const again = await StateStore.open(dir);
    await again.close();
  }));

test('a torn tail (partial frame, garbage, bad CRC) is dropped and reported; what came before stays', async () => {
  for (const tail of [encodeFrame([['k', 'torn', 1]]).subarray(0, 11), Buffer.from([7, 0, 0]), (() => {
    const f = encodeFrame([['k', 'bad', 1]]);
    f[f.length - 2] ^= 0xff;
    return f;
  })()]) {
    await inTempDir(async (dir) => {
      const s = await StateStore.open(dir);
      await s.commit([{ kind: 'k', id: 'kept', value: 1 }]);
      await s.close();
      const journal = join(dir, 'journal-0');
      const good = statSync(journal).size;
      appendFileSync(journal, tail);
      const events: StoreEvent[] = [];
      const r = await StateStore.open(dir, { onEvent: (e) => events.push(e) });
      assert.equal(r.get('k', 'kept'), 1);
      assert.equal(r.list('k').size, 1);
      assert.equal(events[0]?.type, 'torn-tail');
      assert.equal(statSync(journal).size, good, 'the torn tail is cut off');
      // The journal goes on after the cut.
      await r.commit([{ kind: 'k', id: 'after', value: 2 }]);
      await r.close();
      const again = await StateStore.open(dir);
      assert.deepEqual([...again.list('k').keys()].sort(), ['after', 'kept']);
      await again.close();
    });
  }
});

test('compaction writes a snapshot, starts a new generation and loses nothing', () =>
  inTempDir(async (dir) => {
    const events: StoreEvent[] = [];
    const s = await StateStore.open(dir, { compactMinBytes: 16 * 1024, compactRatio: 2, onEvent: (e) => events.push(e) });
    for (let i = 0; i < 2000; i++) {
      await s.commit([
        { kind: 'k', id: String(i % 50), value: { i, pad: 'x'.repeat(100) } },
        { kind: 'n', id: 'last', value: i },
      ]);
    }
    assert.ok(events.some((e) => e.type === 'compacted'), 'compacted at least once');
    const gen = s.stats().generation;
    assert.ok(gen > 0);
    assert.deepEqual(readdirSync(dir).sort(), ['LOCK', `journal-${gen}`, `snapshot-${gen}`]);
    await s.close();
    const r = await StateStore.open(dir);
    assert.equal(r.get('n', 'last'), 1999);
    assert.equal(r.list('k').size, 50);
    assert.deepEqual(r.get('k', '49'), { i: 1999, pad: 'x'.repeat(100) });
    await r.compact();
    assert.equal(r.stats().generation, gen + 1);
    await r.close();
    const again = await StateStore.open(dir);
    assert.equal(again.stats().records, 51);
    await again.close();
  }));

test('compactOnClose: a planned close leaves one snapshot of every record, which the next open reads alone', () =>
  inTempDir(async (dir) => {
    const s = await StateStore.open(dir, { compactOnClose: true });
    for (let i = 0; i < 300; i++) await s.commit([{ kind: 'k', id: String(i % 100), value: { i, pad: 'y'.repeat(200) } }]);
    await s.commit([{ kind: 'k', id: '0' }]);
    const journalBytes = s.stats().journalBytes;
    await s.close();
    assert.deepEqual(readdirSync(dir).sort(), ['LOCK', 'journal-1', 'snapshot-1']);
    assert.ok(statSync(join(dir, 'snapshot-1')).size < journalBytes / 2, 'the snapshot holds each record once');
    const r = await StateStore.open(dir, { compactOnClose: true });
    assert.equal(r.stats().generation, 1);
    assert.equal(r.list('k').size, 99);
    assert.equal(r.get('k', '0'), undefined);
    assert.deepEqual(r.get('k', '99'), { i: 299, pad: 'y'.repeat(200) });
    // Nothing committed since: closing again writes no new generation.
    await r.close();
    assert.deepEqual(readdirSync(dir).sort(), ['LOCK', 'journal-1', 'snapshot-1']);
    const again = await StateStore.open(dir);
    await again.commit([{ kind: 'k', id: 'x', value: 1 }]);
    await again.close();
    assert.deepEqual(readdirSync(dir).sort(), ['LOCK', 'journal-1', 'snapshot-1'], 'without the option the journal stays');
    const last = await StateStore.open(dir);
    assert.equal(last.list('k').size, 100);
    await last.close();
  }));

test('a damaged snapshot refuses to start with DATA_LOSS naming the file', () =>
  inTempDir(async (dir) => {
    const s = await StateStore.open(dir);
    await s.commit([{ kind: 'k', id: 'a', value: 1 }]);
    await s.compact();
    await s.close();
    const snap = join(dir, 'snapshot-1');
    const bytes = readFileSync(snap);
    bytes[bytes.length - 3] ^= 0xff;
    writeFileSync(snap, bytes);
    await assert.rejects(StateStore.open(dir), (err: unknown) => {
      assert.ok(err instanceof WorkdError);
      assert.equal(err.code, Code.DATA_LOSS);
      assert.match(err.message, /snapshot-1: CRC mismatch/);
      return true;
    });
    // The refused open released the lock.
    writeFileSync(snap, encodeFrame({ format: 'workd-state', version: 1, generation: 1, file: 'snapshot' }));
    await assert.rejects(StateStore.open(dir), /incomplete snapshot/);
  }));

test('a value JSON cannot hold is refused and changes nothing', () =>
  inTempDir(async (dir) => {
    const s = await StateStore.open(dir);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await assert.rejects(s.commit([{ kind: 'k', id: 'a', value: 1 }, { kind: 'k', id: 'b', value: cyclic }]), /state change refused/);
    assert.equal(s.get('k', 'a'), undefined);
    await s.close();
  }));

test('frames: a scan stops at the first invalid frame', () => {
  const a = encodeFrame({ a: 1 });
  const b = encodeFrame([1, 2n]);
  const all = Buffer.concat([a, b]);
  assert.deepEqual(scanFrames(all).values, [{ a: 1 }, [1, 2n]]);
  assert.equal(scanFrames(all).damage, undefined);
  const cut = scanFrames(all.subarray(0, all.length - 1));
  assert.deepEqual(cut.values, [{ a: 1 }]);
  assert.equal(cut.goodBytes, a.length);
  assert.match(cut.damage ?? '', /needs/);
  // A string that looks like the bigint form is kept a string only when it is not exactly {$big}.
  assert.deepEqual(scanFrames(encodeFrame({ $big: '1', other: 2 })).values, [{ $big: '1', other: 2 }]);
});

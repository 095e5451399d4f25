import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContentStore, type BlobSource } from './content-store.js';
import { sha256Digest } from './digest.js';
import { Code, WorkdError } from '../errors.js';

async function withStore(fn: (s: ContentStore, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'workd-cs-'));
  try {
    await fn(await ContentStore.open(dir), dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function source(bytes: Uint8Array, chunk = 64 * 1024): BlobSource {
  return {
    origin: 'test',
    chunks: (async function* () {
      for (let i = 0; i < bytes.length; i += chunk) yield Uint8Array.prototype.slice.call(bytes, i, i + chunk);
    })(),
  };
}

// Both write paths: in-thread (small blobs) and the worker (>= 256 KiB).
for (const size of [10_000, 1_500_000]) {
  test(`a ${size}-byte blob is committed only when size and digest match`, () =>
    withStore(async (s, dir) => {
      const bytes = new Uint8Array(size).map((_, i) => (i * 7) & 0xff);
      const d = { digest: sha256Digest(bytes), size };
      const wrong = Uint8Array.from(bytes);
      wrong[size >> 1] ^= 1;
      await assert.rejects(s.ingest(d, () => source(wrong)), (e: unknown) => e instanceof WorkdError && e.code === Code.DATA_LOSS && /does not match its digest/.test(e.message));
      await assert.rejects(s.ingest(d, () => source(bytes.subarray(0, size - 1))), (e: unknown) => e instanceof WorkdError && /truncated/.test(e.message));
      const longer = new Uint8Array(size + 1);
      longer.set(bytes);
      await assert.rejects(s.ingest(d, () => source(longer)), (e: unknown) => e instanceof WorkdError && /longer than/.test(e.message));
      assert.equal(s.has(d.digest), false);
      assert.deepEqual(await readdir(join(dir, 'ingest')), [], 'failed writes leave no temp file');
      assert.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), []);
      await s.ingest(d, () => source(bytes));
      assert.deepEqual(new Uint8Array(await readFile(s.path(d.digest))), bytes);
      assert.deepEqual(s.usage(), { bytes: size, inodes: 1 });
    }));
}

test('concurrent ingests of one digest open the source once', () =>
  withStore(async (s) => {
    const bytes = new Uint8Array(500_000).fill(3);
    const d = { digest: sha256Digest(bytes), size: bytes.length };
    let opened = 0;
    await Promise.all(Array.from({ length: 10 }, () => s.ingest(d, () => (opened++, source(bytes)))));
    assert.equal(opened, 1);
    await s.ingest(d, () => (opened++, source(bytes)));
    assert.equal(opened, 1, 'a present blob is not fetched again');
  }));

test('open clears leftovers of a crash and finds committed blobs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'workd-cs-'));
  try {
    const s = await ContentStore.open(dir);
    const bytes = Buffer.from('hello');
    await s.put({ digest: sha256Digest(bytes), size: 5 }, bytes, 'test');
    await mkdir(join(dir, 'ingest'), { recursive: true });
    await writeFile(join(dir, 'ingest', 'half-written'), 'xx');
    const again = await ContentStore.open(dir);
    assert.equal(again.has(sha256Digest(bytes)), true);
    assert.deepEqual(await readdir(join(dir, 'ingest')), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a blob that cannot be written fails the ingest instead of hanging (both write paths)', () =>
  withStore(async (s, dir) => {
    await rm(join(dir, 'ingest'), { recursive: true });
    for (const size of [1000, 2_000_000]) {
      const bytes = new Uint8Array(size).fill(1);
      await assert.rejects(s.ingest({ digest: sha256Digest(bytes), size }, () => source(bytes)), /ENOENT/);
      assert.equal(s.has(sha256Digest(bytes)), false);
    }
  }));

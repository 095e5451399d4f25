// A registry that misbehaves on purpose (a proxy in front of the real one):
// wrong bytes, truncated blobs, going down mid-pull; and concurrent pulls
// sharing one download.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Code, WorkdError } from '../../src/errors.js';
import { openImageStore, type ImageStoreImpl } from '../../src/images/image-store.js';
import { pushLayout } from '../../src/images/push.js';
import { buildTestImage, paddedWasm, type TestImage } from '../helpers/images.js';
import { blobDownloads, registryAvailable, startFaultyProxy, startRegistry, type FaultyProxy, type TestRegistry } from '../helpers/registry.js';

const log = pino({ level: 'silent' });
const skip = registryAvailable() ? false : 'needs Debian package docker-registry';

describe('misbehaving registry', { skip }, () => {
  let reg: TestRegistry;
  let proxy: FaultyProxy;
  let img: TestImage;
  let wasmDigest: string;
  let store: ImageStoreImpl;
  let storeDir: string;
  const ref = () => `${proxy.host}/example.com/foo.bar:1.2.3`;

  before(async () => {
    reg = await startRegistry();
    proxy = await startFaultyProxy(reg.host);
    img = await buildTestImage({ component: 'example.com:foo.Bar@1.2.3', wasm: paddedWasm(300_000) });
    await pushLayout({ dir: img.dir, reference: `${reg.host}/example.com/foo.bar:1.2.3` });
    await pushLayout({ dir: img.dir, reference: `${reg.host}/example.com/foo.bar:stable` });
    const { readFile } = await import('node:fs/promises');
    const manifest = JSON.parse(await readFile(join(img.dir, 'blobs', 'sha256', img.manifestDigest.slice(7)), 'utf8'));
    wasmDigest = manifest.layers[0].digest;
  });
  after(async () => {
    await proxy.stop();
    await reg.stop();
    await img.cleanup();
  });
  beforeEach(async () => {
    await store?.close();
    if (storeDir) await rm(storeDir, { recursive: true, force: true });
    storeDir = await mkdtemp(join(tmpdir(), 'workd-faults-'));
    store = await openImageStore({ dir: storeDir, log, insecureRegistries: [] });
    proxy.setFault({ kind: 'none' });
    proxy.requests.length = 0;
  });
  after(async () => {
    await store?.close();
    await rm(storeDir, { recursive: true, force: true });
  });

  async function failure(p: Promise<unknown>): Promise<WorkdError> {
    try {
      await p;
    } catch (err) {
      assert.ok(err instanceof WorkdError, String(err));
      return err;
    }
    assert.fail('the pull succeeded');
  }

  async function nothingStored(): Promise<void> {
    assert.equal(store.list().length, 0);
    assert.deepEqual(await readdir(join(storeDir, 'blobs', 'sha256')), [], 'no blob left behind');
    assert.deepEqual(await readdir(join(storeDir, 'ingest')), [], 'no temp file left behind');
  }

  test('a blob with the wrong bytes fails the pull (DATA_LOSS) and stores nothing', async () => {
    proxy.setFault({ kind: 'corrupt', digest: wasmDigest });
    const e = await failure(store.pull(ref()));
    assert.equal(e.code, Code.DATA_LOSS);
    assert.match(e.message, new RegExp(`does not match its digest: expected ${wasmDigest}`));
    await nothingStored();
  });

  test('a truncated blob fails the pull and stores nothing', async () => {
    proxy.setFault({ kind: 'truncate', digest: wasmDigest });
    const e = await failure(store.pull(ref()));
    assert.equal(e.code, Code.DATA_LOSS);
    assert.match(e.message, /truncated: got 150000 of 300000 bytes/);
    await nothingStored();
  });

  test('the registry going down mid-pull is UNAVAILABLE; the retry succeeds', async () => {
    proxy.setFault({ kind: 'die', digest: wasmDigest });
    const e = await failure(store.pull(ref()));
    assert.equal(e.code, Code.UNAVAILABLE);
    await nothingStored();
    // While it is down, pulls are UNAVAILABLE too (connection refused).
    assert.equal((await failure(store.pull(ref()))).code, Code.UNAVAILABLE);
    await proxy.revive();
    const r = await store.pull(ref());
    assert.equal(r.id, img.configDigest);
    assert.equal((await store.readWasm(r)).length, 300_000);
  });

  test('a registry redirecting blob downloads is followed', async () => {
    proxy.setFault({ kind: 'redirect' });
    const r = await store.pull(ref());
    assert.equal(r.id, img.configDigest);
    assert.ok(proxy.requests.some((q) => q.path === `/redirected/v2/example.com/foo.bar/blobs/${wasmDigest}`));
  });

  test('ten concurrent pulls of one image download each blob once', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => store.pull(ref())));
    assert.ok(results.every((r) => r.id === img.configDigest));
    assert.equal(blobDownloads(proxy, wasmDigest), 1);
    assert.equal(blobDownloads(proxy, img.configDigest), 1);
  });

  test('concurrent pulls of two tags of one manifest share the blob downloads', async () => {
    const [a, b] = await Promise.all([store.pull(ref()), store.pull(`${proxy.host}/example.com/foo.bar:stable`)]);
    assert.equal(a.id, b.id);
    assert.equal(blobDownloads(proxy, wasmDigest), 1);
    assert.deepEqual([...store.resolve(a.id)!.repoTags].sort(), [`${proxy.host}/example.com/foo.bar:1.2.3`, `${proxy.host}/example.com/foo.bar:stable`]);
  });
});

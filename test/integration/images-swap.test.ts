// An image ID is the digest of its config, so a manifest from another
// repository may reuse a trusted image's config with layers of its own. The
// config's layerDigests bind the ID to the layers (as containerd's
// rootfs.diff_ids do), and the store never lets a second pull rewrite what an
// ID already names. Against a real registry on loopback.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Code, WorkdError } from '../../src/errors.js';
import { sha256Digest } from '../../src/images/digest.js';
import { openImageStore, type ImageStoreImpl } from '../../src/images/image-store.js';
import { ANNOTATION_COMPONENT, type ImageManifest } from '../../src/images/media-types.js';
import { pushLayout } from '../../src/images/push.js';
import { buildTestImage, paddedWasm, type TestImage } from '../helpers/images.js';
import { registryAvailable, startFaultyProxy, startRegistry, type TestRegistry } from '../helpers/registry.js';

const log = pino({ level: 'silent' });
const skip = registryAvailable() ? false : 'needs Debian package docker-registry';
const FOO = 'example.com:foo.Bar@1.2.3';

async function readManifest(img: TestImage): Promise<ImageManifest> {
  return JSON.parse(await readFile(join(img.dir, 'blobs', 'sha256', img.manifestDigest.slice(7)), 'utf8')) as ImageManifest;
}

/**
 * A layout holding `manifest` (plus every blob of `from` and `extra`), with
 * index.json naming it: what an attacker pushes to a repository of their own.
 */
async function forgedLayout(manifest: ImageManifest, from: TestImage[]): Promise<{ dir: string; digest: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'workd-forged-'));
  for (const f of from) await cp(join(f.dir, 'blobs'), join(dir, 'blobs'), { recursive: true, force: true });
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = sha256Digest(bytes);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: bytes.length }] }),
  );
  return { dir, digest };
}

async function failure(p: Promise<unknown>): Promise<WorkdError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof WorkdError, `expected a WorkdError, got ${String(err)}`);
    return err;
  }
  assert.fail('the pull succeeded');
}

describe('an image cannot be swapped through another repository', { skip }, () => {
  let reg: TestRegistry;
  let trusted: TestImage;
  let evil: TestImage;
  let trustedManifest: ImageManifest;
  let evilManifest: ImageManifest;
  const dirs: string[] = [];
  let store: ImageStoreImpl;
  const trustedRef = () => `${reg.host}/example.com/foo.bar:1.2.3`;

  before(async () => {
    reg = await startRegistry();
    trusted = await buildTestImage({ component: FOO, wasm: paddedWasm(2_000) });
    evil = await buildTestImage({ component: FOO, wasm: paddedWasm(3_000) });
    trustedManifest = await readManifest(trusted);
    evilManifest = await readManifest(evil);
    await pushLayout({ dir: trusted.dir, reference: trustedRef() });
    const dir = await mkdtemp(join(tmpdir(), 'workd-swap-store-'));
    dirs.push(dir);
    store = await openImageStore({ dir, log, insecureRegistries: [] });
  });
  after(async () => {
    await store?.close();
    await reg?.stop();
    await trusted?.cleanup();
    await evil?.cleanup();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function assertTrustedIntact(): Promise<void> {
    const rec = store.resolve(trustedRef());
    assert.ok(rec, 'the trusted tag still resolves');
    assert.equal(rec.id, trusted.configDigest);
    assert.equal(rec.manifestDigest, trusted.manifestDigest, 'the record still names the trusted manifest');
    assert.equal(rec.wasmDigest, trustedManifest.layers[0]!.digest, 'the record still names the trusted module');
    assert.equal(rec.component.name, FOO);
    const wasm = await store.readWasm(rec);
    assert.equal(sha256Digest(wasm), trustedManifest.layers[0]!.digest);
    assert.equal(store.list().length, 1, 'no second record for the forged manifest');
  }

  test('a manifest reusing the trusted config with another wasm layer is refused, naming both digests', async () => {
    await store.pull(trustedRef());
    const forged: ImageManifest = { ...evilManifest, config: trustedManifest.config };
    const layout = await forgedLayout(forged, [trusted, evil]);
    dirs.push(layout.dir);
    await pushLayout({ dir: layout.dir, reference: `${reg.host}/mallory/foo.bar:1.2.3` });

    const e = await failure(store.pull(`${reg.host}/mallory/foo.bar:1.2.3`));
    assert.equal(e.code, Code.INVALID_ARGUMENT, e.message);
    assert.ok(e.message.includes(evilManifest.layers[0]!.digest), `names the manifest's layer: ${e.message}`);
    assert.ok(e.message.includes(trustedManifest.layers[0]!.digest), `names the config's layer: ${e.message}`);
    assert.ok(e.message.includes(trusted.configDigest), `names the config: ${e.message}`);
    await assertTrustedIntact();
  });

  test('the trusted layers under a manifest naming another component are refused: the record is not rewritten', async () => {
    // Same config and layers, so layerDigests match; only the manifest's
    // (authoritative) component annotation differs.
    const forged: ImageManifest = {
      ...trustedManifest,
      annotations: { ...trustedManifest.annotations, [ANNOTATION_COMPONENT]: 'example.com:foo.Bar@6.6.6' },
    };
    const layout = await forgedLayout(forged, [trusted]);
    dirs.push(layout.dir);
    await pushLayout({ dir: layout.dir, reference: `${reg.host}/mallory/foo.bar:renamed` });

    const e = await failure(store.pull(`${reg.host}/mallory/foo.bar:renamed`));
    assert.ok(e.code === Code.INVALID_ARGUMENT || e.code === Code.FAILED_PRECONDITION, `${e.code}: ${e.message}`);
    assert.match(e.message, /6\.6\.6/);
    await assertTrustedIntact();
  });

  test('a config whose layerDigests do not list the manifest layers is refused on its own too (first pull)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'workd-swap-fresh-'));
    dirs.push(dir);
    const fresh = await openImageStore({ dir, log, insecureRegistries: [] });
    try {
      const forged: ImageManifest = { ...evilManifest, config: trustedManifest.config };
      const layout = await forgedLayout(forged, [trusted, evil]);
      dirs.push(layout.dir);
      await pushLayout({ dir: layout.dir, reference: `${reg.host}/mallory/foo.bar:first` });
      const e = await failure(fresh.pull(`${reg.host}/mallory/foo.bar:first`));
      assert.equal(e.code, Code.INVALID_ARGUMENT);
      assert.ok(e.message.includes(evilManifest.layers[0]!.digest) && e.message.includes(trustedManifest.layers[0]!.digest), e.message);
      assert.equal(fresh.list().length, 0);
      // And importing the same forged layout is refused the same way.
      const ei = await failure(fresh.importLayout(layout.dir, { tags: ['example.com/foo.bar:forged'] }));
      assert.equal(ei.code, Code.INVALID_ARGUMENT);
      assert.equal(fresh.list().length, 0);
    } finally {
      await fresh.close();
    }
  });

  test('the same image pulled through another repository is accepted and only gains a name', async () => {
    await pushLayout({ dir: trusted.dir, reference: `${reg.host}/mirror/foo.bar:1.2.3` });
    const rec = await store.pull(`${reg.host}/mirror/foo.bar:1.2.3`);
    assert.equal(rec.id, trusted.configDigest);
    assert.ok(rec.repoTags.includes(`${reg.host}/mirror/foo.bar:1.2.3`));
    await assertTrustedIntact();
  });

  test('a manifest with 10,000 extra layers is refused before anything is downloaded (RESOURCE_EXHAUSTED naming the limit)', async () => {
    const extra = trustedManifest.layers[1]!;
    const forged: ImageManifest = {
      ...trustedManifest,
      layers: [...trustedManifest.layers, ...Array.from({ length: 10_000 }, () => ({ ...extra, mediaType: 'application/octet-stream' }))],
    };
    const layout = await forgedLayout(forged, [trusted]);
    dirs.push(layout.dir);
    await pushLayout({ dir: layout.dir, reference: `${reg.host}/mallory/layers:many` });
    const proxy = await startFaultyProxy(reg.host);
    const dir = await mkdtemp(join(tmpdir(), 'workd-swap-layers-'));
    dirs.push(dir);
    const fresh = await openImageStore({ dir, log, insecureRegistries: [] });
    try {
      const e = await failure(fresh.pull(`${proxy.host}/mallory/layers:many`));
      assert.equal(e.code, Code.RESOURCE_EXHAUSTED);
      assert.match(e.message, /10002 layers, more than 16 \(\[images\] max_layers\)/);
      assert.deepEqual(proxy.requests.filter((r) => r.path.includes('/blobs/')), [], 'no blob was requested');
      assert.equal(fresh.list().length, 0);
    } finally {
      await fresh.close();
      await proxy.stop();
    }
  });
});

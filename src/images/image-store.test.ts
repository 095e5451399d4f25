// The store on its own, fed from OCI layout directories (no registry needed):
// resolution, persistence, shared blobs, removal rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ContentStore } from './content-store.js';
import { openImageStore } from './image-store.js';
import { Code, WorkdError } from '../errors.js';
import { buildLinuxImageLayout, buildTestImage, paddedWasm } from '../../test/helpers/images.js';

const log = pino({ level: 'silent' });

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'workd-store-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function blobCount(dir: string): Promise<number> {
  return (await readdir(join(dir, 'blobs', 'sha256'))).length;
}

test('import registers the image under the component reference and resolves it every way', () =>
  withDir(async (dir) => {
    const img = await buildTestImage({ component: 'example.com:foo.Bar@1.2.3' });
    try {
      const store = await openImageStore({ dir, log, insecureRegistries: [] });
      const [r] = await store.importLayout(img.dir);
      assert.equal(r!.id, img.configDigest);
      assert.equal(r!.component.name, 'example.com:foo.Bar@1.2.3');
      assert.equal(r!.abiVersion, 1);
      assert.deepEqual(r!.repoTags, ['example.com/foo.bar:1.2.3']);
      for (const ref of [img.configDigest, img.configDigest.slice(7, 19), img.configDigest.slice(0, 20), 'example.com/foo.bar:1.2.3', `example.com/foo.bar@${img.manifestDigest}`, img.manifestDigest]) {
        assert.equal(store.resolve(ref)?.id, img.configDigest, ref);
      }
      assert.equal(store.resolve('example.com/foo.bar:1.2.4'), undefined);
      assert.equal(store.resolve('example.com/foo.bar'), undefined, 'no :latest tag was made');
      assert.deepEqual(new Uint8Array(await store.readWasm(r!)), new Uint8Array(await readFile(join(img.dir, 'blobs', 'sha256', r!.wasmDigest.slice(7)))));
      assert.ok((await store.readDescriptorSet(r!)).length > 0);
      await store.close();
    } finally {
      await img.cleanup();
    }
  }));

test('images survive a restart; removal frees blobs no other image shares', () =>
  withDir(async (dir) => {
    const wasm = paddedWasm(4096);
    const a = await buildTestImage({ component: 'example.com:foo.Bar@1.2.3', wasm });
    const b = await buildTestImage({ component: 'example.com:foo.Bar@1.2.4', wasm });
    try {
      let store = await openImageStore({ dir, log, insecureRegistries: [] });
      await store.importLayout(a.dir, { tags: ['registry:5000/example.com/foo.bar:1.2.3'] });
      await store.importLayout(b.dir);
      // Shared wasm and descriptor set stored once: 2 × (manifest, config) + 2 shared layers.
      assert.equal(await blobCount(dir), 6);
      await store.close();

      store = await openImageStore({ dir, log, insecureRegistries: [] });
      assert.equal(store.list().length, 2);
      assert.equal(store.resolve('registry:5000/example.com/foo.bar:1.2.3')?.id, a.configDigest);
      assert.equal(await store.remove('registry:5000/example.com/foo.bar:1.2.3'), true);
      assert.equal(await blobCount(dir), 4, 'the shared layers stay for the other image');
      assert.equal(await store.remove(a.configDigest), false, 'removing again is a no-op');
      assert.equal(await store.remove(b.configDigest), true);
      assert.equal(await blobCount(dir), 0);
      assert.deepEqual(store.fsInfo().usedBytes > 0, true);
      assert.equal(store.fsInfo().inodesUsed, 1, 'only the metadata file is left');
      await store.close();
    } finally {
      await a.cleanup();
      await b.cleanup();
    }
  }));

test('an image in use by a container is not removed (FAILED_PRECONDITION naming the containers)', () =>
  withDir(async (dir) => {
    const img = await buildTestImage({ component: 'example.com:foo.Bar@1.2.3' });
    try {
      const store = await openImageStore({ dir, log, insecureRegistries: [] });
      const [r] = await store.importLayout(img.dir);
      store.acquire(r!.id, 'example.com:foo.Bar@1.2.3#0');
      store.acquire(r!.id, 'example.com:foo.Bar@1.2.3#1');
      await assert.rejects(store.remove('example.com/foo.bar:1.2.3'), (e: unknown) => {
        assert.ok(e instanceof WorkdError);
        assert.equal(e.code, Code.FAILED_PRECONDITION);
        assert.match(e.message, /in use by containers example\.com:foo\.Bar@1\.2\.3#0, example\.com:foo\.Bar@1\.2\.3#1/);
        return true;
      });
      store.release(r!.id, 'example.com:foo.Bar@1.2.3#0');
      store.release(r!.id, 'example.com:foo.Bar@1.2.3#1');
      assert.equal(await store.remove('example.com/foo.bar:1.2.3'), true);
      await store.close();
    } finally {
      await img.cleanup();
    }
  }));

test('a Linux container image is refused naming its media type, and nothing is stored', () =>
  withDir(async (dir) => {
    const layout = join(dir, 'linux');
    await buildLinuxImageLayout(layout);
    const storeDir = join(dir, 'store');
    const store = await openImageStore({ dir: storeDir, log, insecureRegistries: [] });
    await assert.rejects(store.importLayout(layout), (e: unknown) => {
      assert.ok(e instanceof WorkdError);
      assert.equal(e.code, Code.INVALID_ARGUMENT);
      assert.match(e.message, /Linux container image \(config media type application\/vnd\.oci\.image\.config\.v1\+json/);
      return true;
    });
    assert.equal(store.list().length, 0);
    assert.equal(await blobCount(storeDir), 0);
    await store.close();
  }));

test('an unknown ABI version is stored (the executor refuses it), a corrupt layout blob is not', () =>
  withDir(async (dir) => {
    const img = await buildTestImage({ component: 'example.com:foo.Bar@1.2.3', abiVersion: 99 });
    try {
      const store = await openImageStore({ dir: join(dir, 's'), log, insecureRegistries: [] });
      const [r] = await store.importLayout(img.dir);
      assert.equal(r!.abiVersion, 99);
      await store.remove(r!.id);
      // Corrupt the wasm blob in the layout: the import fails with DATA_LOSS and leaves nothing.
      const manifest = JSON.parse(await readFile(join(img.dir, 'blobs', 'sha256', img.manifestDigest.slice(7)), 'utf8'));
      await writeFile(join(img.dir, 'blobs', 'sha256', manifest.layers[0].digest.slice(7)), Buffer.from('\0asm\x01\0\0\x01'));
      await assert.rejects(store.importLayout(img.dir), (e: unknown) => e instanceof WorkdError && e.code === Code.DATA_LOSS && /does not match its digest/.test(e.message));
      assert.equal(store.list().length, 0);
      assert.equal(await blobCount(join(dir, 's')), 0);
      await store.close();
    } finally {
      await img.cleanup();
    }
  }));

test('blobs a crashed first pull committed before registering its image are collected at open, though no images.json was ever written', () =>
  withDir(async (dir) => {
    const img = await buildTestImage({ component: 'example.com:foo.Bar@1.2.3' });
    try {
      // What a daemon killed between committing the blobs and registering the image leaves behind.
      const content = await ContentStore.open(dir);
      for (const name of await readdir(join(img.dir, 'blobs', 'sha256'))) {
        const bytes = await readFile(join(img.dir, 'blobs', 'sha256', name));
        await content.put({ digest: `sha256:${name}`, size: bytes.length }, bytes, 'test');
      }
      assert.ok((await blobCount(dir)) > 0);
      await assert.rejects(readFile(join(dir, 'images.json')), { code: 'ENOENT' });

      const store = await openImageStore({ dir, log, insecureRegistries: [] });
      assert.equal(store.list().length, 0);
      assert.equal(await blobCount(dir), 0, 'no blob is kept that no image names');
      await store.close();
    } finally {
      await img.cleanup();
    }
  }));

test('an unreadable images.json stops the store with an error naming the file, and leaves it in place', () =>
  withDir(async (dir) => {
    const db = join(dir, 'images.json');
    await writeFile(db, '{"version":1,"images":[');
    await assert.rejects(openImageStore({ dir, log, insecureRegistries: [] }), (err: unknown) => {
      assert.ok(err instanceof WorkdError, String(err));
      assert.equal(err.code, Code.DATA_LOSS);
      assert.ok(err.message.includes(db), err.message);
      return true;
    });
    assert.equal(await readFile(db, 'utf8'), '{"version":1,"images":[');
  }));

test('an image ID never changes what it names: a second manifest for the same config must name the same content', () =>
  withDir(async (dir) => {
    // A config without the optional `workd` field, so only the manifests name
    // the component; two manifests reuse it and its layers with different names.
    const img = await buildTestImage({ component: 'example.com:foo.Bar@1.2.3' });
    try {
      const { sha256Digest } = await import('./digest.js');
      const blob = (d: string) => join(img.dir, 'blobs', 'sha256', d.slice(7));
      const manifest = JSON.parse(await readFile(blob(img.manifestDigest), 'utf8'));
      const config = JSON.parse(await readFile(blob(manifest.config.digest), 'utf8'));
      delete config.workd;
      const configBytes = Buffer.from(JSON.stringify(config));
      const configDigest = sha256Digest(configBytes);
      await writeFile(blob(configDigest), configBytes);
      const layout = async (component: string, extra: Record<string, string> = {}) => {
        const m = { ...manifest, config: { ...manifest.config, digest: configDigest, size: configBytes.length }, annotations: { ...manifest.annotations, 'dev.workd.component': component, ...extra } };
        const bytes = Buffer.from(JSON.stringify(m));
        const digest = sha256Digest(bytes);
        await writeFile(blob(digest), bytes);
        await writeFile(join(img.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: manifest.mediaType, digest, size: bytes.length }] }));
        return digest;
      };
      const store = await openImageStore({ dir, log, insecureRegistries: [] });
      const first = await layout('example.com:foo.Bar@1.2.3');
      const [a] = await store.importLayout(img.dir, { tags: ['example.com/foo.bar:a'] });
      assert.equal(a!.id, configDigest);

      const second = await layout('example.com:foo.Bar@6.6.6');
      const e = await store.importLayout(img.dir, { tags: ['example.com/foo.bar:b'] }).then(() => undefined, (err: unknown) => err);
      assert.ok(e instanceof WorkdError, String(e));
      assert.equal(e.code, Code.FAILED_PRECONDITION);
      assert.ok(e.message.includes(first) && e.message.includes(second), `names both manifests: ${e.message}`);
      assert.match(e.message, /component example\.com:foo\.Bar@6\.6\.6 instead of example\.com:foo\.Bar@1\.2\.3/);
      assert.equal(store.resolve('example.com/foo.bar:b'), undefined);
      assert.equal(store.resolve(configDigest)?.component.name, 'example.com:foo.Bar@1.2.3');

      // The same content under a manifest that differs only in an unrelated annotation just gains the name.
      await layout('example.com:foo.Bar@1.2.3', { 'org.example.note': 'mirror copy' });
      const [c] = await store.importLayout(img.dir, { tags: ['example.com/foo.bar:c'] });
      assert.equal(c!.id, configDigest);
      assert.equal(c!.manifestDigest, first, 'the record keeps the manifest it was made from');
      assert.deepEqual([...c!.repoTags].sort(), ['example.com/foo.bar:a', 'example.com/foo.bar:c']);
      await store.close();
    } finally {
      await img.cleanup();
    }
  }));

test('pull and import limits: layer count, one layer\'s declared size and the image\'s total are refused before any layer is read', () =>
  withDir(async (dir) => {
    const { withLimits } = await import('../limits.js');
    const img = await buildTestImage({ component: 'example.com:foo.Bar@1.2.3', wasm: paddedWasm(10_000) });
    try {
      for (const [limits, why] of [
        [{ imagesMaxLayers: 1 }, /lists 2 layers, more than 1 \(\[images\] max_layers\)/],
        [{ imagesMaxBlobBytes: 5_000 }, /is 10000 bytes, more than 5000 \(\[images\] max_blob_bytes\)/],
        [{ imagesMaxImageBytes: 10_000 }, /the image is \d+ bytes, more than 10000 \(\[images\] max_image_bytes\)/],
      ] as const) {
        const store = await openImageStore({ dir, log, insecureRegistries: [], limits: withLimits(limits) });
        const e = await store.importLayout(img.dir).then(() => undefined, (err: unknown) => err);
        assert.ok(e instanceof WorkdError, String(e));
        assert.equal(e.code, Code.RESOURCE_EXHAUSTED);
        assert.match(e.message, why);
        assert.equal(store.list().length, 0);
        assert.equal(await blobCount(dir), 0, 'nothing was stored');
        await store.close();
      }
      const store = await openImageStore({ dir, log, insecureRegistries: [] });
      assert.equal((await store.importLayout(img.dir)).length, 1, 'the defaults accept it');
      await store.close();
    } finally {
      await img.cleanup();
    }
  }));

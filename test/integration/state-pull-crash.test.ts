// kill -9 of the daemon in the middle of PullImage, at moments spread over the pull: after a
// restart the image is there whole or not at all, nothing half-written is left in the image
// store (no ingest files, no blob no image names), and the kubelet's retry pulls it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pushLayout } from '../../src/images/push.js';
import { criClient } from '../helpers/cri-client.js';
import { startDaemon } from '../helpers/daemon.js';
import { buildTestImage, paddedWasm, type TestImage } from '../helpers/images.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../helpers/registry.js';

const skip = registryAvailable() ? false : 'needs Debian docker-registry (.ci/run installs it)';
let reg: TestRegistry;
let img: TestImage;
let ref: string;

before(async () => {
  if (skip) return;
  reg = await startRegistry();
  img = await buildTestImage({ component: 'example.com:big.Pull@1.0.0', wasm: paddedWasm(16 * 1024 * 1024) });
  ref = (await pushLayout({ dir: img.dir, reference: `${reg.host}/example.com/big.pull` })).reference;
});
after(async () => {
  await img?.cleanup();
  await reg?.stop();
});

function blobsOf(layoutDir: string): string[] {
  return readdirSync(join(layoutDir, 'blobs', 'sha256')).sort();
}

test('kill -9 during PullImage: after restart the image is whole or absent, no half-pulled blob, and a retry pulls it', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'workd-pull-crash-'));
  const stateDir = join(dir, 'state');
  const expected = blobsOf(img.dir);
  try {
    // Time one pull, then kill at moments spread over that span (and a little past it).
    let pullMs = 0;
    {
      const d = await startDaemon({ stateDir: join(dir, 'timing'), args: ['--plaintext'] });
      const cri = criClient(d.criSocket);
      const t0 = performance.now();
      await cri.image.PullImage!({ image: { image: ref } });
      pullMs = performance.now() - t0;
      cri.close();
      await d.stop();
    }
    let absent = 0;
    /** Starts a pull on a daemon over `state`, kills it -9 when `moment` resolves, restarts, checks, retries. */
    const crashAndCheck = async (state: string, moment: () => Promise<void>, label: string): Promise<void> => {
      const d = await startDaemon({ stateDir: state, logLevel: 'info', args: ['--plaintext'] });
      const cri = criClient(d.criSocket);
      const pull = cri.image.PullImage!({ image: { image: ref } }).catch(() => undefined);
      await moment();
      d.process.kill('SIGKILL');
      await pull;
      cri.close();
      assert.equal((await d.stop()).signal, 'SIGKILL');

      const images = join(state, 'images');
      const r = await startDaemon({ stateDir: state, logLevel: 'info', args: ['--plaintext'] });
      const rc = criClient(r.criSocket);
      try {
        const listed = (await rc.image.ListImages!({})).images as Array<{ id: string }>;
        assert.deepEqual(readdirSync(join(images, 'ingest')), [], 'no half-written download is kept');
        const blobs = readdirSync(join(images, 'blobs', 'sha256')).sort();
        if (listed.length === 1) {
          assert.equal(listed[0]!.id, img.configDigest);
          assert.deepEqual(blobs, expected, 'a listed image has all its blobs');
        } else {
          absent++;
          assert.equal(listed.length, 0);
          assert.deepEqual(blobs, [], `a pull that never answered leaves no blob behind (${label})`);
        }
        // The kubelet's retry.
        assert.equal((await rc.image.PullImage!({ image: { image: ref } })).image_ref, img.configDigest);
        await rc.image.RemoveImage!({ image: { image: img.configDigest } });
      } finally {
        rc.close();
        await r.stop();
      }
    };
    // First, in a store that never registered an image (no images.json yet), as soon as the pull
    // committed its first blob: the small blobs are in, the 16 MiB layer is not.
    await crashAndCheck(stateDir, async () => {
      const blobDir = join(stateDir, 'images', 'blobs', 'sha256');
      const deadline = performance.now() + 10 * pullMs + 5_000;
      while (performance.now() < deadline) {
        try {
          if (readdirSync(blobDir).length > 0) return;
        } catch {
          // not created yet
        }
        await new Promise((r) => setTimeout(r, 1));
      }
      assert.fail('the pull committed no blob');
    }, 'at the first committed blob, in a store that never registered an image');
    for (const fraction of [0.4, 0.7, 1.05]) {
      await crashAndCheck(stateDir, () => new Promise((r) => setTimeout(r, fraction * pullMs)), `at ${fraction} of the pull`);
    }
    assert.ok(absent > 0, 'at least one kill landed before the pull finished');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

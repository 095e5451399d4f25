// The downstream's and the mirrors' configuration, without a containerd: an
// ordinary pod refused with how to configure a downstream, mirror failover,
// the RuntimeClass handler name of workd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { pushLayout } from '../../src/images/push.js';
import { criClient, criError, podConfig } from '../helpers/cri-client.js';
import { startDaemon } from '../helpers/daemon.js';
import { COMPONENT, COMPONENT_IMAGE, linuxPod } from '../helpers/hybrid.js';
import { buildTestImage } from '../helpers/images.js';
import { freePort, registryAvailable, startRegistry } from '../helpers/registry.js';

test('with no downstream configured, an ordinary pod is refused with how to configure one', async () => {
  const d = await startDaemon();
  const cri = criClient(d.criSocket);
  try {
    const err = await criError(cri.runtime.RunPodSandbox!({ config: linuxPod(tmpdir()) }));
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /\[downstream\] endpoint = "unix:\/\/\/run\/containerd\/containerd\.sock"/);
  } finally {
    cri.close();
    await d.stop();
  }
});

test('registry mirrors: a dead mirror hands the pull on to the next; with none alive the error names the registry', { skip: registryAvailable() ? undefined : 'docker-registry missing' }, async () => {
  const reg = await startRegistry();
  const image = await buildTestImage({ component: COMPONENT });
  const dead = `http://127.0.0.1:${await freePort()}`;
  try {
    await pushLayout({ dir: image.dir, reference: `${reg.host}/workd-test/kitchen-sink:1.0.0` });
    const good = await startDaemon({ configToml: `[images.mirrors."registry.k8s.io"]\nendpoints = ["${dead}", "http://${reg.host}"]\n` });
    const c = criClient(good.criSocket);
    try {
      assert.equal((await c.image.PullImage!({ image: { image: COMPONENT_IMAGE } })).image_ref, image.configDigest);
      assert.deepEqual((await c.image.ImageStatus!({ image: { image: COMPONENT_IMAGE } })).image.repo_tags, [COMPONENT_IMAGE]);
    } finally {
      c.close();
      await good.stop();
    }
    const bad = await startDaemon({ configToml: `[images.mirrors."registry.k8s.io"]\nendpoints = ["${dead}"]\n` });
    const b = criClient(bad.criSocket);
    try {
      const err = await criError(b.image.PullImage!({ image: { image: COMPONENT_IMAGE } }));
      assert.equal(err.code, grpc.status.UNAVAILABLE);
      assert.match(err.details, /registry\.k8s\.io/);
    } finally {
      b.close();
      await bad.stop();
    }
  } finally {
    await image.cleanup();
    await reg.stop();
  }
});

test('[downstream] workd_handler names the RuntimeClass handler of component pods', async () => {
  const d = await startDaemon({ configToml: '[downstream]\nworkd_handler = "wasm"\n' });
  const cri = criClient(d.criSocket);
  try {
    const id = (await cri.runtime.RunPodSandbox!({ config: podConfig(COMPONENT), runtime_handler: 'wasm' })).pod_sandbox_id as string;
    assert.equal((await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: id })).status.runtime_handler, 'wasm');
    const err = await criError(cri.runtime.RunPodSandbox!({ config: podConfig(COMPONENT), runtime_handler: 'runc' }));
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /unknown runtime handler "runc" \(workd serves "" and "wasm"\)/);
  } finally {
    cri.close();
    await d.stop();
  }
});

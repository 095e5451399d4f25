// The node refuses, at StartContainer, a component image whose component does
// not export the world of the descriptor set it ships with: an image another
// tool made (here: a `workd image build` layout whose component layer was
// swapped for one of another version of the .proto), through the real socket.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { criClient, criError, containerConfig, importImage, podConfig, type CriClient } from '../helpers/cri-client.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { dummyComponent } from '../helpers/components.js';
import { buildImageLayout } from '../../src/images/build.js';
import { sha256Digest } from '../../src/images/digest.js';
import { compileProtoFilesToBinary, parseDescriptorSet } from '../../src/images/proto-compile.js';
import { mapService } from '../../src/components/wit/mapping.js';
import { witFile } from '../../src/components/wit/print.js';

const COMPONENT = 'example.com:shop.v1.Shop@1.0.0';
const SHOP = 'test/fixtures/wit/shop.proto';

let d: TestDaemon;
let cri: CriClient;
let work: string;

before(async () => {
  d = await startDaemon();
  cri = criClient(d.criSocket);
  work = await mkdtemp(join(tmpdir(), 'workd-world-cri-'));
});
after(async () => {
  cri?.close();
  await d?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Writes a blob into the layout, returning its descriptor fields. */
async function putBlob(dir: string, bytes: Uint8Array): Promise<{ digest: string; size: number }> {
  const digest = sha256Digest(bytes);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

/** The layout with its component layer replaced (manifest, config and index rewritten to match). */
async function swapComponent(dir: string, wasm: Uint8Array): Promise<void> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
  const read = async (digest: string) => JSON.parse(await readFile(join(dir, 'blobs', 'sha256', digest.slice(7)), 'utf8'));
  const manifest = await read(index.manifests[0].digest);
  const config = await read(manifest.config.digest);
  Object.assign(manifest.layers[0], await putBlob(dir, wasm));
  config.layerDigests[0] = manifest.layers[0].digest;
  Object.assign(manifest.config, await putBlob(dir, Buffer.from(JSON.stringify(config))));
  Object.assign(index.manifests[0], await putBlob(dir, Buffer.from(JSON.stringify(manifest))));
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
}

test('StartContainer refuses a component whose world does not match its descriptor set, naming the difference', async () => {
  const world = mapService(parseDescriptorSet(compileProtoFilesToBinary([SHOP])).registry, 'shop.v1.Shop');
  const wit = witFile([world]);
  const layout = join(work, 'layout');
  await buildImageLayout({ wasm: await dummyComponent(wit, 'shop'), protoFiles: [SHOP], component: COMPONENT, outDir: layout });
  await swapComponent(layout, await dummyComponent(wit.replace('quantity: u32', 'quantity: s32'), 'shop'));
  const image = await importImage(cri, layout);

  const config = podConfig(COMPONENT);
  const { pod_sandbox_id } = await cri.runtime.RunPodSandbox!({ config });
  const { container_id } = await cri.runtime.CreateContainer!({ pod_sandbox_id, config: containerConfig(image), sandbox_config: config });
  const err = await criError(cri.runtime.StartContainer!({ container_id }));
  assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
  assert.match(err.details, /the component does not implement the world of service shop\.v1\.Shop: type order-line \(used by place-order\) differs/);
  const s = (await cri.runtime.ContainerStatus!({ container_id })).status;
  assert.equal(s.state, 'CONTAINER_EXITED');
  assert.equal(s.reason, 'InvalidModule');
  assert.equal(s.message, err.details);
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id });
});

// Bounded answers on the CRI socket: an error echoes at most a few KB of what
// the client or an image sent, and a pod cannot store labels or annotations
// that make every later List answer huge. Over the real socket, timing the
// answers a user would wait for.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { fixedLimit } from '../../src/limits.js';
import { criClient, criError, containerConfig, importImage, podConfig, type CriClient } from '../helpers/cri-client.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { watToWasm } from '../helpers/guests.js';
import { buildTestImage, type TestImage } from '../helpers/images.js';

const FOO = 'example.com:foo.Bar@1.2.3';
let d: TestDaemon;
let cri: CriClient;
const built: TestImage[] = [];

before(async () => {
  d = await startDaemon({ args: ['--plaintext'] });
  cri = criClient(d.criSocket);
});
after(async () => {
  cri?.close();
  await d?.stop();
  for (const b of built) await b.cleanup();
});

const bytes = (s: string) => Buffer.byteLength(s);

test('a 200,000-character ID gets a short error at once, and the connection keeps serving', async () => {
  const id = 'a'.repeat(200_000);
  const t0 = performance.now();
  for (const [name, call] of [
    ['ContainerStatus', () => cri.runtime.ContainerStatus!({ container_id: id })],
    ['PodSandboxStatus', () => cri.runtime.PodSandboxStatus!({ pod_sandbox_id: id })],
    ['StartContainer', () => cri.runtime.StartContainer!({ container_id: id })],
    ['PullImage (repository)', () => cri.image.PullImage!({ image: { image: `example.com/${id}:1` } })],
    ['PullImage (registry)', () => cri.image.PullImage!({ image: { image: `127.0.0.1:1/${'b'.repeat(200_000)}:1` } })],
  ] as const) {
    const e = await criError(call());
    assert.ok(bytes(e.details) <= fixedLimit('statusMessageBytes'), `${name}: ${bytes(e.details)} bytes: ${e.details.slice(0, 100)}`);
  }
  const ms = performance.now() - t0;
  const v = await cri.runtime.Version!({});
  assert.equal(v.runtime_name, 'workd');
  // Not a speed target: a 1.2 MB trailer used to stall the connection for 5–20 s.
  assert.ok(ms < 5_000, `${ms} ms`);
});

test('a module with 10,000 unknown imports fails StartContainer with a bounded message naming the problem', async () => {
  const imports = Array.from({ length: 10_000 }, (_, i) => `(import "nowhere_${i}" "function_with_a_long_name_${i}" (func))`).join('\n');
  const wasm = await watToWasm(`(module ${imports} (memory (export "memory") 1) (func (export "workd_alloc") (param i32) (result i32) i32.const 0))`);
  const img = await buildTestImage({ component: FOO, wasm });
  built.push(img);
  const image = await importImage(cri, img.dir);
  const config = podConfig(FOO);
  const { pod_sandbox_id } = await cri.runtime.RunPodSandbox!({ config });
  const { container_id } = await cri.runtime.CreateContainer!({ pod_sandbox_id, config: containerConfig(image), sandbox_config: config });
  const e = await criError(cri.runtime.StartContainer!({ container_id }));
  assert.notEqual(e.code, grpc.status.OK);
  assert.ok(bytes(e.details) <= fixedLimit('statusMessageBytes'), `${bytes(e.details)} bytes`);
  assert.match(e.details, /nowhere_0/, e.details.slice(0, 300));
  const s = (await cri.runtime.ContainerStatus!({ container_id })).status;
  assert.ok(bytes(s.message) <= fixedLimit('statusMessageBytes'), `the container's status message is ${bytes(s.message)} bytes`);
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id });
});

test('labels and annotations are bounded as the Kubernetes API bounds them; ListPodSandbox stays small', async () => {
  const big = { ...podConfig(FOO), annotations: { 'example.com/blob': 'x'.repeat(9 * 1024 * 1024) } };
  const e = await criError(cri.runtime.RunPodSandbox!({ config: big }));
  assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
  assert.match(e.details, /annotations take more than 262144 bytes/);

  // Just under the API's 256 KiB total is accepted, as the kubelet may send it.
  const nearLimit = { ...podConfig(FOO), annotations: { 'example.com/a': 'y'.repeat(256 * 1024 - 100) } };
  const { pod_sandbox_id } = await cri.runtime.RunPodSandbox!({ config: nearLimit });

  for (const [labels, why] of [
    [{ 'bad key with spaces': 'v' }, /not a qualified name/],
    [{ ['k'.repeat(64)]: 'v' }, /more than 63/],
    [{ 'example.com/name': 'v'.repeat(254) }, /more than 253/],
    [Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`example.com/k${i}`, 'v'.repeat(100)])), /labels take more than/],
  ] as const) {
    const le = await criError(cri.runtime.RunPodSandbox!({ config: podConfig(FOO, { labels: labels as Record<string, string> }) }));
    assert.equal(le.code, grpc.status.INVALID_ARGUMENT);
    assert.match(le.details, why);
  }
  const nameErr = await criError(cri.runtime.RunPodSandbox!({ config: podConfig(FOO, { name: 'n'.repeat(300) }) }));
  assert.match(nameErr.details, /metadata\.name is 300 bytes/);

  // What the kubelet sends is accepted: its own io.kubernetes.* labels, a 253-character pod name.
  const podName = 'p'.repeat(253);
  const kubelet = podConfig(FOO, { name: podName, labels: { 'io.kubernetes.pod.name': podName, 'io.kubernetes.pod.namespace': 'default', 'io.kubernetes.pod.uid': '6f1c1d2e-0000-4000-8000-000000000000', app: 'foo' } });
  kubelet.metadata.uid = '6f1c1d2e-0000-4000-8000-000000000000';
  kubelet.annotations = { 'kubernetes.io/config.seen': '2026-01-01T00:00:00Z', 'kubernetes.io/config.source': 'api' };
  const ok = await cri.runtime.RunPodSandbox!({ config: kubelet });

  const list = await cri.runtime.ListPodSandbox!({});
  const size = Buffer.byteLength(JSON.stringify(list));
  assert.ok(size < 1024 * 1024, `ListPodSandbox is ${size} bytes`);
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id });
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: ok.pod_sandbox_id });
});

test('container labels and annotations are bounded the same way at CreateContainer', async () => {
  const config = podConfig(FOO);
  const { pod_sandbox_id } = await cri.runtime.RunPodSandbox!({ config });
  const cc = containerConfig('sha256:' + '0'.repeat(64), { labels: { 'io.kubernetes.container.name': 'main' } });
  cc.annotations = { 'io.kubernetes.container.hash': 'z'.repeat(300 * 1024) };
  const e = await criError(cri.runtime.CreateContainer!({ pod_sandbox_id, config: cc, sandbox_config: config }));
  assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
  assert.match(e.details, /CreateContainer: config: annotations take more than/);
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id });
});

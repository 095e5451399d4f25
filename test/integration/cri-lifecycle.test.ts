// The full container lifecycle over the real CRI socket, with real images
// (built and imported through the daemon) and real WebAssembly guests.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { criClient, criError, containerConfig, importImage, podConfig, type CriClient } from '../helpers/cri-client.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { guest } from '../helpers/guests.js';
import { EMPTY_WASM, buildTestImage, type TestImage } from '../helpers/images.js';

const FOO = 'example.com:foo.Bar@1.2.3';
const OTHER = 'other.org:baz.Qux@0.1.0';
let d: TestDaemon;
let cri: CriClient;
let fooImage: string;
let otherImage: string;
let brokenImage: string;
let futureAbiImage: string;
const built: TestImage[] = [];

before(async () => {
  d = await startDaemon();
  cri = criClient(d.criSocket);
  const wasm = await guest('kitchen');
  const foo = await buildTestImage({ component: FOO, wasm });
  const other = await buildTestImage({ component: OTHER, wasm });
  // Parses as wasm but exports none of the guest ABI: StartContainer must refuse it.
  const broken = await buildTestImage({ component: 'broken.example:b.B@1.0.0', wasm: EMPTY_WASM });
  const futureAbi = await buildTestImage({ component: FOO, wasm, abiVersion: 99 });
  built.push(foo, other, broken, futureAbi);
  futureAbiImage = await importImage(cri, futureAbi.dir, ['example.com/foo.bar:abi99']);
  fooImage = await importImage(cri, foo.dir);
  otherImage = await importImage(cri, other.dir);
  brokenImage = await importImage(cri, broken.dir);
});
after(async () => {
  cri?.close();
  await d?.stop();
  for (const b of built) await b.cleanup();
});

async function pod(component = FOO, opts: Parameters<typeof podConfig>[1] = {}) {
  const config = podConfig(component, opts);
  const { pod_sandbox_id } = await cri.runtime.RunPodSandbox!({ config });
  return { id: pod_sandbox_id as string, config };
}

test('a relative log_path without a pod log_directory means no log (as containerd), not a file under the daemon\'s working directory', async () => {
  const { id, config } = await pod(FOO, { name: 'no-log-dir' });
  const name = `stray-${process.pid}.log`;
  const { container_id: cid } = await cri.runtime.CreateContainer!({ pod_sandbox_id: id, config: containerConfig(fooImage, { logPath: name }), sandbox_config: config });
  assert.equal((await cri.runtime.ContainerStatus!({ container_id: cid })).status.log_path, '');
  await cri.runtime.StartContainer!({ container_id: cid });
  assert.equal(existsSync(join(process.cwd(), name)), false);
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
});

test('Run → Create → Start → Stop → Remove → RemovePodSandbox, with the status a user sees at each step', async () => {
  const logDir = join(d.dir, 'logs', 'lifecycle');
  const { id, config } = await pod(FOO, { logDirectory: logDir });
  const cc = containerConfig(fooImage, { name: 'server', labels: { tier: 'api' }, env: { GREETING: 'hi' }, logPath: 'server/0.log' });
  cc.annotations = { 'note/a': 'b' };
  // A mount the kubelet adds to every container (accepted; the guest has no filesystem to see it in).
  cc.mounts = [{ container_path: '/var/run/secrets/kubernetes.io/serviceaccount', host_path: '/tmp', readonly: true }];
  cc.linux = { resources: { memory_limit_in_bytes: String(32 * 1024 * 1024) } };
  const { container_id: cid } = await cri.runtime.CreateContainer!({ pod_sandbox_id: id, config: cc, sandbox_config: config });
  assert.match(cid, /^[0-9a-f]{64}$/, 'container IDs are 64 lowercase hex, as containerd makes them');
  assert.notEqual(cid, id);

  let s = (await cri.runtime.ContainerStatus!({ container_id: cid })).status;
  assert.equal(s.state, 'CONTAINER_CREATED');
  assert.ok(BigInt(s.created_at) > 0n);
  assert.equal(s.started_at, '0');
  assert.equal(s.image_id, fooImage);
  assert.ok(s.image.image.length > 0);
  assert.ok(s.image_ref.length > 0);
  assert.deepEqual(s.labels, { tier: 'api' });
  assert.deepEqual(s.annotations, { 'note/a': 'b' });
  assert.equal(s.log_path, join(logDir, 'server/0.log'));
  assert.deepEqual(s.mounts.map((m: { container_path: string; readonly: boolean }) => [m.container_path, m.readonly]), [['/var/run/secrets/kubernetes.io/serviceaccount', true]]);
  assert.equal(s.resources.linux.memory_limit_in_bytes, String(32 * 1024 * 1024));

  const again = await criError(cri.runtime.CreateContainer!({ pod_sandbox_id: id, config: cc, sandbox_config: config }));
  assert.equal(again.code, grpc.status.ALREADY_EXISTS, 'the same name and attempt is reserved (a retried CreateContainer)');
  assert.match(again.details, new RegExp(cid));
  const sidecar = await criError(cri.runtime.CreateContainer!({ pod_sandbox_id: id, config: { ...cc, metadata: { name: 'sidecar', attempt: 0 } }, sandbox_config: config }));
  assert.equal(sidecar.code, grpc.status.FAILED_PRECONDITION);
  assert.match(sidecar.details, /has not exited: a component pod runs one container at a time/);
  const notRunning = await criError(cri.runtime.ReopenContainerLog!({ container_id: cid }));
  assert.equal(notRunning.code, grpc.status.FAILED_PRECONDITION);

  await cri.runtime.StartContainer!({ container_id: cid });
  s = (await cri.runtime.ContainerStatus!({ container_id: cid, verbose: true })).status;
  assert.equal(s.state, 'CONTAINER_RUNNING');
  assert.ok(BigInt(s.started_at) >= BigInt(s.created_at));
  assert.equal(s.finished_at, '0');
  const info = JSON.parse((await cri.runtime.ContainerStatus!({ container_id: cid, verbose: true })).info.info);
  assert.equal(info.component, FOO);
  assert.equal(info.memoryLimitBytes, 32 * 1024 * 1024);
  assert.ok(info.methods.includes('Echo'), 'the running module exports the service methods');
  assert.ok(existsSync(join(logDir, 'server/0.log')), 'the log file exists once the container runs');

  const twice = await criError(cri.runtime.StartContainer!({ container_id: cid }));
  assert.equal(twice.code, grpc.status.FAILED_PRECONDITION);
  await cri.runtime.ReopenContainerLog!({ container_id: cid });
  const sandbox = await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: id });
  assert.equal(sandbox.containers_statuses[0].state, 'CONTAINER_RUNNING');
  assert.equal(sandbox.containers_statuses[0].id, cid);

  await cri.runtime.StopContainer!({ container_id: cid, timeout: 5 });
  s = (await cri.runtime.ContainerStatus!({ container_id: cid })).status;
  assert.equal(s.state, 'CONTAINER_EXITED');
  assert.equal(s.exit_code, 0);
  assert.equal(s.reason, 'Completed');
  assert.ok(BigInt(s.finished_at) >= BigInt(s.started_at));
  await cri.runtime.StopContainer!({ container_id: cid, timeout: 0 }); // idempotent
  const restart = await criError(cri.runtime.StartContainer!({ container_id: cid }));
  assert.equal(restart.code, grpc.status.FAILED_PRECONDITION);
  assert.match(restart.details, /has exited/);

  await cri.runtime.RemoveContainer!({ container_id: cid });
  await cri.runtime.RemoveContainer!({ container_id: cid }); // idempotent
  assert.equal((await criError(cri.runtime.ContainerStatus!({ container_id: cid }))).code, grpc.status.NOT_FOUND);
  assert.equal((await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: id })).status.state, 'SANDBOX_READY');

  await cri.runtime.StopPodSandbox!({ pod_sandbox_id: id });
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
  assert.equal((await criError(cri.runtime.PodSandboxStatus!({ pod_sandbox_id: id }))).code, grpc.status.NOT_FOUND);
});

test('RemovePodSandbox on a running pod stops and removes its container; StopPodSandbox stops it', async () => {
  const a = await pod();
  const ca = (await cri.runtime.CreateContainer!({ pod_sandbox_id: a.id, config: containerConfig(fooImage), sandbox_config: a.config })).container_id;
  await cri.runtime.StartContainer!({ container_id: ca });
  await cri.runtime.StopPodSandbox!({ pod_sandbox_id: a.id });
  const s = (await cri.runtime.ContainerStatus!({ container_id: ca })).status;
  assert.equal(s.state, 'CONTAINER_EXITED');
  assert.equal((await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: a.id })).status.state, 'SANDBOX_NOTREADY');

  const b = await pod();
  const cb = (await cri.runtime.CreateContainer!({ pod_sandbox_id: b.id, config: containerConfig(fooImage), sandbox_config: b.config })).container_id;
  await cri.runtime.StartContainer!({ container_id: cb });
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: b.id });
  assert.equal((await criError(cri.runtime.ContainerStatus!({ container_id: cb }))).code, grpc.status.NOT_FOUND);
  assert.deepEqual((await cri.runtime.ListContainers!({ filter: { id: cb } })).containers, []);
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: a.id });
});

test('a module that fails validation: StartContainer returns the error, the container EXITED with reason and message', async () => {
  const { id, config } = await pod('broken.example:b.B@1.0.0');
  const { container_id: cid } = await cri.runtime.CreateContainer!({ pod_sandbox_id: id, config: containerConfig(brokenImage), sandbox_config: config });
  const err = await criError(cri.runtime.StartContainer!({ container_id: cid }));
  assert.notEqual(err.code, grpc.status.OK);
  assert.notEqual(err.code, grpc.status.INTERNAL, 'a bad module is the caller’s problem, not an internal error');
  const s = (await cri.runtime.ContainerStatus!({ container_id: cid })).status;
  assert.equal(s.state, 'CONTAINER_EXITED');
  assert.equal(s.exit_code, 1);
  assert.equal(s.reason, 'InvalidModule');
  assert.equal(s.message, err.details);
  assert.ok(BigInt(s.finished_at) > 0n);
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
});

test('CreateContainer refuses an image that declares an unknown guest ABI version, and the pod stays usable', async () => {
  const { id, config } = await pod();
  const err = await criError(cri.runtime.CreateContainer!({ pod_sandbox_id: id, config: containerConfig(futureAbiImage), sandbox_config: config }));
  assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
  assert.match(err.details, /guest ABI version 99; this node implements version 1/);
  assert.deepEqual((await cri.runtime.ListContainers!({ filter: { pod_sandbox_id: id } })).containers, []);
  await cri.runtime.CreateContainer!({ pod_sandbox_id: id, config: containerConfig(fooImage), sandbox_config: config });
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
});

test('CreateContainer refuses an image of another component', async () => {
  const { id, config } = await pod();
  const err = await criError(cri.runtime.CreateContainer!({ pod_sandbox_id: id, config: containerConfig(otherImage), sandbox_config: config }));
  assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
  assert.match(err.details, /holds component other\.org:baz\.Qux@0\.1\.0 but pod sandbox example\.com:foo\.Bar@1\.2\.3#\d+ runs example\.com:foo\.Bar@1\.2\.3/);
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
});

test('an image in use by a container cannot be removed until the container is', async () => {
  const { id, config } = await pod();
  await cri.runtime.CreateContainer!({ pod_sandbox_id: id, config: containerConfig(fooImage), sandbox_config: config });
  await assert.rejects(cri.image.RemoveImage!({ image: { image: fooImage } }));
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
});

test('listing with filters: six pods stopped at each phase of the lifecycle, plus one of another component', async () => {
  // A fresh daemon so the counts are exact.
  const ld = await startDaemon();
  const lc = criClient(ld.criSocket);
  try {
    const img = await importImage(lc, built[0]!.dir);
    const otherImg = await importImage(lc, built[1]!.dir);
    const ids: string[] = [];
    const cids: string[] = [];
    const steps = ['run', 'create', 'start', 'stop', 'remove', 'stoppod'] as const;
    for (let phase = 0; phase < steps.length; phase++) {
      const config = podConfig(FOO, { labels: { phase: steps[phase]! } });
      const { pod_sandbox_id: id } = await lc.runtime.RunPodSandbox!({ config });
      ids.push(id);
      let cid = '';
      if (phase >= 1) cid = (await lc.runtime.CreateContainer!({ pod_sandbox_id: id, config: containerConfig(img, { labels: { phase: steps[phase]! } }), sandbox_config: config })).container_id;
      cids.push(cid);
      if (phase >= 2) await lc.runtime.StartContainer!({ container_id: cid });
      if (phase >= 3) await lc.runtime.StopContainer!({ container_id: cid, timeout: 0 });
      if (phase >= 4) await lc.runtime.RemoveContainer!({ container_id: cid });
      if (phase >= 5) await lc.runtime.StopPodSandbox!({ pod_sandbox_id: id });
    }
    const oc = podConfig(OTHER);
    const { pod_sandbox_id: otherId } = await lc.runtime.RunPodSandbox!({ config: oc });
    const { container_id: otherCid } = await lc.runtime.CreateContainer!({ pod_sandbox_id: otherId, config: containerConfig(otherImg), sandbox_config: oc });
    await lc.runtime.StartContainer!({ container_id: otherCid });

    const pods = async (filter: object) => (await lc.runtime.ListPodSandbox!({ filter })).items.map((p: { id: string }) => p.id).sort();
    const ctrs = async (filter: object) => (await lc.runtime.ListContainers!({ filter })).containers.map((c: { id: string }) => c.id).sort();

    assert.equal((await pods({})).length, 7);
    assert.equal((await lc.runtime.ListPodSandbox!({})).items.length, 7, 'no filter at all');
    assert.deepEqual(await pods({ state: { state: 'SANDBOX_NOTREADY' } }), [ids[5]]);
    assert.equal((await pods({ state: { state: 'SANDBOX_READY' } })).length, 6);
    assert.equal((await pods({ label_selector: { 'workd.dev/service': 'foo.Bar' } })).length, 6);
    assert.deepEqual(await pods({ label_selector: { 'workd.dev/service': 'foo.Bar', phase: 'start' } }), [ids[2]]);
    assert.deepEqual(await pods({ label_selector: { 'workd.dev/domain': 'other.org' }, state: { state: 'SANDBOX_READY' } }), [otherId]);
    assert.deepEqual(await pods({ id: ids[3] }), [ids[3]], 'exact ID');
    assert.deepEqual(await pods({ id: 'other' }), [otherId], 'unique prefix');
    assert.deepEqual(await pods({ id: 'example.com:foo.Bar@1.2.3#' }), [], 'an ambiguous prefix lists nothing');
    assert.deepEqual(await pods({ id: 'zzz' }), []);

    // Containers exist for the create, start and stop phases, and the other pod's.
    assert.deepEqual(await ctrs({}), [cids[1], cids[2], cids[3], otherCid].sort());
    assert.deepEqual(await ctrs({ state: { state: 'CONTAINER_CREATED' } }), [cids[1]]);
    assert.deepEqual(await ctrs({ state: { state: 'CONTAINER_RUNNING' } }), [cids[2], otherCid].sort());
    assert.deepEqual(await ctrs({ state: { state: 'CONTAINER_EXITED' } }), [cids[3]]);
    assert.deepEqual(await ctrs({ label_selector: { phase: 'stop' } }), [cids[3]]);
    assert.deepEqual(await ctrs({ pod_sandbox_id: ids[2] }), [cids[2]]);
    assert.deepEqual(await ctrs({ pod_sandbox_id: 'other' }), [otherCid], 'sandbox ID prefix');
    assert.deepEqual(await ctrs({ pod_sandbox_id: ids[0] }), [], 'a pod without a container');
    assert.deepEqual(await ctrs({ id: otherCid.slice(0, 13) }), [otherCid], "container ID prefix (crictl's short ID)");
    assert.deepEqual(await ctrs({ id: cids[1], pod_sandbox_id: ids[2] }), [], 'ID and pod filters must agree');
    assert.deepEqual(await ctrs({ id: cids[2], pod_sandbox_id: ids[2] }), [cids[2]]);
    assert.deepEqual(await ctrs({ id: cids[2], state: { state: 'CONTAINER_EXITED' } }), []);
    assert.deepEqual(await ctrs({ id: ids[2] }), [], 'a sandbox ID is not a container ID');

    const c = (await lc.runtime.ListContainers!({ filter: { id: cids[2] } })).containers[0];
    assert.equal(c.pod_sandbox_id, ids[2]);
    assert.equal(c.image_id, img);
    assert.equal(c.metadata.name, 'main');
  } finally {
    lc.close();
    const exit = await ld.stop('SIGTERM');
    assert.equal(exit.code, 0, `SIGTERM with running containers shuts down cleanly; logs:\n${ld.logs()}`);
  }
});

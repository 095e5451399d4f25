// RuntimeService over the real socket: Version/Status, pods, validation, idempotency, UNIMPLEMENTED.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { criClient, criError, containerConfig, podConfig, type CriClient } from '../helpers/cri-client.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

const FOO = 'example.com:foo.Bar@1.2.3';
let d: TestDaemon;
let cri: CriClient;

before(async () => {
  d = await startDaemon();
  cri = criClient(d.criSocket);
});
after(async () => {
  cri?.close();
  await d?.stop();
});

test('Version names workd and CRI v1', async () => {
  const v = await cri.runtime.Version!({ version: 'v1' });
  assert.deepEqual(v, { version: '0.1.0', runtime_name: 'workd', runtime_version: d.ready.version, runtime_api_version: 'v1' });
});

test('Status reports RuntimeReady and NetworkReady; verbose adds info', async () => {
  const s = await cri.runtime.Status!({ verbose: false });
  assert.deepEqual(
    s.status.conditions.map((c: { type: string; status: boolean }) => [c.type, c.status]),
    [['RuntimeReady', true], ['NetworkReady', true]],
  );
  assert.deepEqual(s.info, {});
  const v = await cri.runtime.Status!({ verbose: true });
  assert.equal(JSON.parse(v.info.config).cri.socket, d.criSocket);
  assert.equal(typeof JSON.parse(v.info.pods).sandboxes, 'number');
  assert.equal(typeof JSON.parse(v.info.pods).containers, 'number');
});

test('Status lists every runtime handler RunPodSandbox accepts', async () => {
  const s = await cri.runtime.Status!({ verbose: false });
  const names: string[] = s.runtime_handlers.map((h: { name: string }) => h.name);
  assert.deepEqual(names.sort(), ['', 'workd']);
  for (const handler of names) {
    const { pod_sandbox_id: id } = await cri.runtime.RunPodSandbox!({ config: podConfig(FOO, { name: `handler-${handler || 'default'}` }), runtime_handler: handler });
    assert.equal((await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: id })).status.runtime_handler, handler);
    await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
  }
});

test('UpdateRuntimeConfig is accepted and shown by verbose Status', async () => {
  await cri.runtime.UpdateRuntimeConfig!({ runtime_config: { network_config: { pod_cidr: '10.88.0.0/16' } } });
  const v = await cri.runtime.Status!({ verbose: true });
  assert.equal(JSON.parse(v.info.config).runtimeConfig.podCidr, '10.88.0.0/16');
});

test('RunPodSandbox keeps metadata, labels, annotations; status reports the node address', async () => {
  const config = podConfig(FOO, { name: 'keep', labels: { app: 'x' }, logDirectory: '/var/log/pods/keep' });
  config.annotations = { note: 'hello' };
  const { pod_sandbox_id: id } = await cri.runtime.RunPodSandbox!({ config });
  assert.match(id, /^example\.com:foo\.Bar@1\.2\.3#\d+$/);
  const { status, containers_statuses, info } = await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: id, verbose: true });
  assert.equal(status.id, id);
  assert.equal(status.state, 'SANDBOX_READY');
  assert.deepEqual(status.metadata, config.metadata);
  assert.equal(status.labels.app, 'x');
  assert.equal(status.labels['workd.dev/service'], 'foo.Bar');
  assert.deepEqual(status.annotations, { note: 'hello' });
  assert.ok(status.network.ip.length > 0, 'pod IP is the node address');
  assert.equal(status.linux.namespaces.options.network, 'POD', 'the namespace mode asked for (POD unless hostNetwork) is echoed');
  assert.ok(BigInt(status.created_at) > 1_600_000_000_000_000_000n, 'created_at is in nanoseconds');
  assert.deepEqual(containers_statuses, []);
  const verbose = JSON.parse(info.info);
  assert.equal(verbose.component, FOO);
  assert.equal(verbose.logDirectory, '/var/log/pods/keep');
});

test('IDs count per component and are never reused', async () => {
  const a = (await cri.runtime.RunPodSandbox!({ config: podConfig('example.com:count.Me@1.0.0') })).pod_sandbox_id;
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: a });
  const b = (await cri.runtime.RunPodSandbox!({ config: podConfig('example.com:count.Me@1.0.0') })).pod_sandbox_id;
  assert.equal(a, 'example.com:count.Me@1.0.0#0');
  assert.equal(b, 'example.com:count.Me@1.0.0#1');
});

test('a pod name is reserved until its pod is removed', async () => {
  const config = podConfig(FOO, { name: 'twice' });
  const { pod_sandbox_id: id } = await cri.runtime.RunPodSandbox!({ config });
  const err = await criError(cri.runtime.RunPodSandbox!({ config }));
  // containerd's answer to a reserved name: a conflict (FAILED_PRECONDITION) naming the holder.
  assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
  assert.match(err.details, new RegExp(`failed to reserve sandbox name default/twice.*reserved for pod sandbox ${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
  await cri.runtime.RunPodSandbox!({ config });
});

test('bad pod labels are INVALID_ARGUMENT naming the part', async () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{}, /none of the labels workd\.dev\/domain, workd\.dev\/service, workd\.dev\/version/],
    [{ 'workd.dev/service': 'foo.Bar', 'workd.dev/version': '1.0.0' }, /label workd\.dev\/domain is missing/],
    [{ 'workd.dev/domain': 'example.com', 'workd.dev/version': '1.0.0' }, /label workd\.dev\/service is missing/],
    [{ 'workd.dev/domain': 'example.com', 'workd.dev/service': 'foo.Bar' }, /label workd\.dev\/version is missing/],
    [{ 'workd.dev/domain': 'Example_.com', 'workd.dev/service': 'foo.Bar', 'workd.dev/version': '1.0.0' }, /domain.*"Example_\.com".*DNS name/],
    [{ 'workd.dev/domain': 'example.com', 'workd.dev/service': 'foo-Bar', 'workd.dev/version': '1.0.0' }, /service.*"foo-Bar"/],
    [{ 'workd.dev/domain': 'example.com', 'workd.dev/service': 'foo.Bar', 'workd.dev/version': '1.0' }, /version.*"1\.0".*semantic version/],
  ];
  for (const [labels, re] of cases) {
    const err = await criError(cri.runtime.RunPodSandbox!({ config: { metadata: { name: 'bad', namespace: 'default', uid: 'u' }, labels } }));
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT, JSON.stringify(labels));
    assert.match(err.details, re);
  }
  const noMeta = await criError(cri.runtime.RunPodSandbox!({ config: { labels: podConfig(FOO).labels } }));
  assert.equal(noMeta.code, grpc.status.INVALID_ARGUMENT);
  assert.match(noMeta.details, /config\.metadata is missing/);
  const noConfig = await criError(cri.runtime.RunPodSandbox!({}));
  assert.equal(noConfig.code, grpc.status.INVALID_ARGUMENT);
  const handler = await criError(cri.runtime.RunPodSandbox!({ config: podConfig(FOO), runtime_handler: 'runc' }));
  assert.equal(handler.code, grpc.status.INVALID_ARGUMENT);
  assert.match(handler.details, /runtime handler "runc"/);
});

test('idempotency: stop and remove of unknown, stopped or removed pods and containers succeed', async () => {
  for (const id of ['example.com:nope.Nope@1.0.0#0', 'no-such-id']) {
    await cri.runtime.StopPodSandbox!({ pod_sandbox_id: id });
    await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
    await cri.runtime.StopContainer!({ container_id: id, timeout: 0 });
    await cri.runtime.RemoveContainer!({ container_id: id });
  }
  const { pod_sandbox_id: id } = await cri.runtime.RunPodSandbox!({ config: podConfig(FOO) });
  // A pod without a container: container verbs on its ID do nothing.
  await cri.runtime.StopContainer!({ container_id: id, timeout: 0 });
  await cri.runtime.RemoveContainer!({ container_id: id });
  await cri.runtime.StopPodSandbox!({ pod_sandbox_id: id });
  await cri.runtime.StopPodSandbox!({ pod_sandbox_id: id });
  assert.equal((await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: id })).status.state, 'SANDBOX_NOTREADY');
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
  await cri.runtime.StopPodSandbox!({ pod_sandbox_id: id });
  assert.equal((await criError(cri.runtime.PodSandboxStatus!({ pod_sandbox_id: id }))).code, grpc.status.NOT_FOUND);
});

test('status, start and log reopen of unknown IDs are NOT_FOUND; empty IDs are INVALID_ARGUMENT', async () => {
  const unknown = 'example.com:nope.Nope@1.0.0#7';
  for (const p of [
    cri.runtime.PodSandboxStatus!({ pod_sandbox_id: unknown }),
    cri.runtime.ContainerStatus!({ container_id: unknown }),
    cri.runtime.StartContainer!({ container_id: unknown }),
    cri.runtime.ReopenContainerLog!({ container_id: unknown }),
    cri.runtime.CreateContainer!({ pod_sandbox_id: unknown, config: containerConfig('whatever') }),
  ]) {
    const err = await criError(p);
    assert.equal(err.code, grpc.status.NOT_FOUND);
    assert.match(err.details, /example\.com:nope\.Nope@1\.0\.0#7.*not found/);
  }
  for (const p of [
    cri.runtime.PodSandboxStatus!({}),
    cri.runtime.StopPodSandbox!({}),
    cri.runtime.RemovePodSandbox!({}),
    cri.runtime.ContainerStatus!({}),
    cri.runtime.StartContainer!({}),
    cri.runtime.StopContainer!({}),
    cri.runtime.RemoveContainer!({}),
  ]) {
    const err = await criError(p);
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /_id is missing/);
  }
});

test('a pod without a container: container status NOT_FOUND, start NOT_FOUND', async () => {
  const { pod_sandbox_id: id } = await cri.runtime.RunPodSandbox!({ config: podConfig(FOO) });
  assert.equal((await criError(cri.runtime.ContainerStatus!({ container_id: id }))).code, grpc.status.NOT_FOUND);
  const start = await criError(cri.runtime.StartContainer!({ container_id: id }));
  assert.equal(start.code, grpc.status.NOT_FOUND, 'a sandbox ID is not a container ID');
  assert.match(start.details, /container .* not found/);
  assert.deepEqual((await cri.runtime.ListContainers!({ filter: { pod_sandbox_id: id } })).containers, []);
});

test('CreateContainer: unknown image is NOT_FOUND naming it; a stopped pod is FAILED_PRECONDITION; bad config INVALID_ARGUMENT', async () => {
  const config = podConfig(FOO);
  const { pod_sandbox_id: id } = await cri.runtime.RunPodSandbox!({ config });
  const missing = await criError(cri.runtime.CreateContainer!({ pod_sandbox_id: id, config: containerConfig('registry.invalid/none:1.0'), sandbox_config: config }));
  assert.equal(missing.code, grpc.status.NOT_FOUND);
  assert.match(missing.details, /image "registry\.invalid\/none:1\.0" is not in the image store/);
  const noImage = await criError(cri.runtime.CreateContainer!({ pod_sandbox_id: id, config: { metadata: { name: 'c' } } }));
  assert.equal(noImage.code, grpc.status.INVALID_ARGUMENT);
  assert.match(noImage.details, /config\.image\.image is missing/);
  const noName = await criError(cri.runtime.CreateContainer!({ pod_sandbox_id: id, config: { image: { image: 'x' } } }));
  assert.match(noName.details, /config\.metadata\.name is missing/);

  await cri.runtime.StopPodSandbox!({ pod_sandbox_id: id });
  const stopped = await criError(cri.runtime.CreateContainer!({ pod_sandbox_id: id, config: containerConfig('anything'), sandbox_config: config }));
  assert.equal(stopped.code, grpc.status.FAILED_PRECONDITION);
  assert.match(stopped.details, /is not ready/);
});

test('ID prefixes: unique prefix resolves, ambiguous prefix is INVALID_ARGUMENT naming the matches', async () => {
  const comp = 'prefix.test:p.Q@1.0.0';
  const ids: string[] = [];
  for (let i = 0; i < 2; i++) ids.push((await cri.runtime.RunPodSandbox!({ config: podConfig(comp) })).pod_sandbox_id);
  const other = (await cri.runtime.RunPodSandbox!({ config: podConfig('prefixonly.test:p.Q@1.0.0') })).pod_sandbox_id;
  assert.equal((await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: 'prefixonly' })).status.id, other);
  const amb = await criError(cri.runtime.PodSandboxStatus!({ pod_sandbox_id: 'prefix.test:' }));
  assert.equal(amb.code, grpc.status.INVALID_ARGUMENT);
  assert.match(amb.details, /ambiguous/);
  assert.ok(ids.every((id) => amb.details.includes(id)));
  await cri.runtime.StopPodSandbox!({ pod_sandbox_id: 'prefixonly' });
  assert.equal((await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: other })).status.state, 'SANDBOX_NOTREADY');
});

test('concurrent verbs on one pod are serialised and all succeed', async () => {
  const { pod_sandbox_id: id } = await cri.runtime.RunPodSandbox!({ config: podConfig(FOO) });
  const results = await Promise.allSettled([
    cri.runtime.StopPodSandbox!({ pod_sandbox_id: id }),
    cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id }),
    cri.runtime.StopPodSandbox!({ pod_sandbox_id: id }),
    cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id }),
  ]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
  assert.equal((await criError(cri.runtime.PodSandboxStatus!({ pod_sandbox_id: id }))).code, grpc.status.NOT_FOUND);
});

test('unserved rpcs answer UNIMPLEMENTED saying why', async () => {
  const cp = await criError(cri.runtime.CheckpointContainer!({ container_id: 'x' }));
  assert.equal(cp.code, grpc.status.UNIMPLEMENTED);
  assert.equal(cp.details, 'workd does not implement runtime.v1.RuntimeService/CheckpointContainer (checkpointing is not supported)');
  for (const rpc of ['CheckpointContainer']) {
    const err = await criError(cri.runtime[rpc]!({}));
    assert.equal(err.code, grpc.status.UNIMPLEMENTED, rpc);
    assert.match(err.details, new RegExp(`^workd does not implement runtime\\.v1\\.RuntimeService/${rpc} \\(.+\\)$`));
  }
  const stream = await criError(cri.stream('runtime', 'StreamContainerStats', {}));
  assert.equal(stream.code, grpc.status.UNIMPLEMENTED);
  assert.match(stream.details, /RuntimeService\/StreamContainerStats/);
  // The daemon is still fine.
  assert.equal((await cri.runtime.Version!({})).runtime_name, 'workd');
});

test('PodSandboxStatus echoes the namespace options RunPodSandbox asked for, with a pod IP (what PodSandboxChanged compares)', async () => {
  const cases = [
    { network: 'POD', pid: 'CONTAINER', ipc: 'POD' }, // an ordinary pod, as the kubelet sends it
    { network: 'NODE', pid: 'NODE', ipc: 'NODE' }, // hostNetwork, hostPID, hostIPC
    { network: 'POD', pid: 'POD', ipc: 'POD' }, // shareProcessNamespace
  ];
  for (const options of cases) {
    const config = { ...podConfig(FOO), linux: { security_context: { namespace_options: options } } };
    const { pod_sandbox_id: id } = await cri.runtime.RunPodSandbox!({ config });
    const { status } = await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: id });
    assert.deepEqual(
      { network: status.linux.namespaces.options.network, pid: status.linux.namespaces.options.pid, ipc: status.linux.namespaces.options.ipc },
      options,
    );
    assert.equal(status.state, 'SANDBOX_READY');
    assert.ok(status.network.ip.length > 0, 'a pod IP is always set');
    await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
  }
});

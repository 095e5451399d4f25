// GetContainerEvents, RuntimeConfig and the resource updates over the real socket.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { criClient, criError, containerConfig, importImage, podConfig, type CriClient, type Msg } from '../helpers/cri-client.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { guest } from '../helpers/guests.js';
import { buildTestImage, type TestImage } from '../helpers/images.js';

const COMPONENT = 'events.example:e.Svc@1.0.0';
let d: TestDaemon;
let cri: CriClient;
let img: TestImage;
let image: string;

before(async () => {
  d = await startDaemon({ configToml: '[downstream]\ncgroup_driver = "systemd"\n[executor]\ncpu_ms_per_call = 1000\n' });
  cri = criClient(d.criSocket);
  img = await buildTestImage({ component: COMPONENT, wasm: await guest('kitchen') });
  image = await importImage(cri, img.dir);
});
after(async () => {
  cri?.close();
  await d?.stop();
  await img?.cleanup();
});

/** Collects a stream's messages; `until(n)` waits for the n-th. */
function collect(stream: grpc.ClientReadableStream<Msg>) {
  const got: Msg[] = [];
  const waiters: Array<() => void> = [];
  stream.on('data', (m: Msg) => {
    got.push(m);
    for (const w of waiters.splice(0)) w();
  });
  stream.on('error', () => {});
  const until = async (n: number) => {
    const deadline = Date.now() + 10_000;
    while (got.length < n) {
      if (Date.now() > deadline) throw new Error(`only ${got.length} of ${n} events arrived: ${JSON.stringify(got.map((e) => e.container_event_type))}`);
      await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 200); });
    }
    return got;
  };
  return { got, until };
}

test('GetContainerEvents streams created, started, stopped and deleted with the pod status, as the evented PLEG reads them', async () => {
  const stream = cri.open('runtime', 'GetContainerEvents', {});
  const events = collect(stream);
  await new Promise((r) => setTimeout(r, 100)); // the subscription is in place once the call reached the daemon
  const config = podConfig(COMPONENT);
  const { pod_sandbox_id: pod } = await cri.runtime.RunPodSandbox!({ config });
  const { container_id: id } = await cri.runtime.CreateContainer!({ pod_sandbox_id: pod, config: containerConfig(image), sandbox_config: config });
  await cri.runtime.StartContainer!({ container_id: id });
  await cri.runtime.StopContainer!({ container_id: id, timeout: 0 });
  await cri.runtime.RemoveContainer!({ container_id: id });
  const got = await events.until(4);
  stream.cancel();
  assert.deepEqual(got.map((e) => e.container_event_type), ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT']);
  for (const e of got) {
    assert.equal(e.container_id, id);
    assert.equal(e.pod_sandbox_status.id, pod);
    // The evented PLEG finds the pod by the sandbox status' metadata uid.
    assert.equal(e.pod_sandbox_status.metadata.uid, config.metadata.uid);
    assert.equal(e.pod_sandbox_status.state, 'SANDBOX_READY');
    assert.ok(BigInt(e.created_at) > 1_600_000_000_000_000_000n, 'created_at is the event time in nanoseconds');
  }
  const states = got.map((e) => e.containers_statuses.find((c: Msg) => c.id === id)?.state ?? 'gone');
  assert.deepEqual(states, ['CONTAINER_CREATED', 'CONTAINER_RUNNING', 'CONTAINER_EXITED', 'gone'], 'each event carries the statuses as they were then');
  assert.ok(BigInt(got[1]!.created_at) >= BigInt(got[0]!.created_at));
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: pod });
});

test('a failed start is a stopped event with the exit code and reason; two clients each get every event', async () => {
  const a = cri.open('runtime', 'GetContainerEvents', {});
  const b = cri.open('runtime', 'GetContainerEvents', {});
  const ea = collect(a);
  const eb = collect(b);
  await new Promise((r) => setTimeout(r, 100));
  const config = podConfig(COMPONENT);
  const { pod_sandbox_id: pod } = await cri.runtime.RunPodSandbox!({ config });
  const { container_id: id } = await cri.runtime.CreateContainer!({ pod_sandbox_id: pod, config: containerConfig(image), sandbox_config: config });
  await cri.runtime.StartContainer!({ container_id: id });
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: pod }); // stops and removes the running container
  const ga = await ea.until(4);
  const gb = await eb.until(4);
  a.cancel();
  b.cancel();
  const kinds = ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT'];
  assert.deepEqual(ga.map((e) => e.container_event_type), kinds);
  assert.deepEqual(gb.map((e) => e.container_event_type), kinds);
});

test('RuntimeConfig reports the configured cgroup driver', async () => {
  const rc = await cri.runtime.RuntimeConfig!({});
  assert.equal(rc.linux.cgroup_driver, 'SYSTEMD');
});

test('UpdateContainerResources: a new memory limit and CPU limit apply from the next call; an exited container is refused', async () => {
  const config = podConfig(COMPONENT);
  const { pod_sandbox_id: pod } = await cri.runtime.RunPodSandbox!({ config });
  const cc = { ...containerConfig(image), linux: { resources: { memory_limit_in_bytes: String(32 << 20) } } };
  const { container_id: id } = await cri.runtime.CreateContainer!({ pod_sandbox_id: pod, config: cc, sandbox_config: config });
  await cri.runtime.StartContainer!({ container_id: id });
  const info = async () => JSON.parse((await cri.runtime.ContainerStatus!({ container_id: id, verbose: true })).info.info);
  assert.equal((await info()).memoryLimitBytes, 32 << 20);
  assert.equal((await info()).cpuMsPerCall, 1000);
  // limits.memory 48Mi, limits.cpu 500m (quota 50000 of period 100000): half the node's per-call CPU budget.
  await cri.runtime.UpdateContainerResources!({ container_id: id, linux: { memory_limit_in_bytes: String(48 << 20), cpu_quota: '50000', cpu_period: '100000' } });
  const after = await info();
  assert.equal(after.memoryLimitBytes, 48 << 20);
  assert.equal(after.cpuMsPerCall, 500);
  assert.equal(after.executorLimits.memoryLimitBytes, 48 << 20, 'the running guest has the new limit');
  assert.equal(after.executorLimits.cpuMsPerCall, 500);
  const st = (await cri.runtime.ContainerStatus!({ container_id: id })).status;
  assert.equal(st.resources.linux.memory_limit_in_bytes, String(48 << 20), 'ContainerStatus echoes the resources');
  // Too small for the module: refused, nothing changed.
  const tiny = await criError(cri.runtime.UpdateContainerResources!({ container_id: id, linux: { memory_limit_in_bytes: '4096' } }));
  assert.equal(tiny.code, grpc.status.FAILED_PRECONDITION);
  assert.equal((await info()).memoryLimitBytes, 48 << 20);
  await cri.runtime.StopContainer!({ container_id: id, timeout: 0 });
  const exited = await criError(cri.runtime.UpdateContainerResources!({ container_id: id, linux: { memory_limit_in_bytes: String(16 << 20) } }));
  assert.equal(exited.code, grpc.status.FAILED_PRECONDITION);
  assert.match(exited.details, /has exited/);
  const missing = await criError(cri.runtime.UpdateContainerResources!({ container_id: 'f'.repeat(64), linux: {} }));
  assert.equal(missing.code, grpc.status.NOT_FOUND);
  // UpdatePodSandboxResources is accepted and recorded.
  await cri.runtime.UpdatePodSandboxResources!({ pod_sandbox_id: pod, resources: { memory_limit_in_bytes: String(64 << 20) } });
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: pod });
  assert.equal((await criError(cri.runtime.UpdatePodSandboxResources!({ pod_sandbox_id: pod, resources: {} }))).code, grpc.status.NOT_FOUND);
});

// A hybrid node through one socket: workd in front of a real containerd 1.6
// (runc, the CNI bridge plugin), a busybox pod beside a component pod, both
// images pulled through workd from a loopback mirror of registry.k8s.io, the
// downstream going away and coming back, and workd restarting with both kinds
// of pod running.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { pushLayout } from '../../src/images/push.js';
import { BUSYBOX_IMAGE, containerdUnavailable, startContainerd, startImageRegistry, type ImageRegistry, type TestContainerd } from '../helpers/containerd.js';
import { containerConfig, criClient, criError, podConfig, type CriClient, type Msg } from '../helpers/cri-client.js';
import { WORKD_BIN, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { guest } from '../helpers/guests.js';
import { freePort, registryAvailable, startRegistry } from '../helpers/registry.js';
import { buildTestImage, type TestImage } from '../helpers/images.js';

const skip = containerdUnavailable();
const COMPONENT = 'example.com:kitchen.Sink@1.0.0';
/** A component image under a registry.k8s.io name: reachable only through the mirror. */
const COMPONENT_IMAGE = 'registry.k8s.io/workd-test/kitchen-sink:1.0.0';

let seq = 0;
/** An ordinary pod as the kubelet sends it for a DaemonSet: no workd labels, the default handler. */
function linuxPod(logDir: string, labels: Record<string, string> = {}): Msg {
  const name = `bb-${process.pid}-${seq++}`;
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'kube-system', attempt: 0 },
    labels: { app: 'busybox', ...labels },
    annotations: {},
    log_directory: logDir,
    linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  };
}

function busybox(script: string, logPath: string): Msg {
  return { metadata: { name: 'sh', attempt: 0 }, image: { image: BUSYBOX_IMAGE }, command: ['sh', '-c', script], log_path: logPath, labels: { tier: 'linux' }, linux: {} };
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('workd with containerd downstream', { skip }, () => {
  let reg: ImageRegistry;
  let ctrd: TestContainerd;
  let d: TestDaemon;
  let cri: CriClient;
  let image: TestImage;
  let work: string;
  let stateDir: string;
  const config = () => `[downstream]\nendpoint = "${ctrd.endpoint}"\n[images.mirrors."registry.k8s.io"]\nendpoints = ["${reg.endpoint}"]\n`;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'workd-hybrid-'));
    stateDir = join(work, 'state');
    reg = await startImageRegistry();
    image = await buildTestImage({ component: COMPONENT, wasm: await guest('kitchen') });
    await pushLayout({ dir: image.dir, reference: `${reg.registry.host}/workd-test/kitchen-sink:1.0.0` });
    ctrd = await startContainerd({ registry: reg });
    d = await startDaemon({ configToml: config(), stateDir });
    cri = criClient(d.criSocket);
  });

  after(async () => {
    cri?.close();
    await d?.stop();
    const c = ctrd && criClient(ctrd.socket);
    await ctrd?.stop(async () => {
      for (const p of (await c.runtime.ListPodSandbox!({})).items) {
        await c.runtime.StopPodSandbox!({ pod_sandbox_id: p.id });
        await c.runtime.RemovePodSandbox!({ pod_sandbox_id: p.id });
      }
    });
    c?.close();
    await reg?.stop();
    await image?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('a busybox pod and a component pod side by side through one socket', async () => {
    const logDir = join(work, 'logs-side');
    // Images: the Linux one goes to containerd, the component to workd, both through the mirror.
    const bbRef = (await cri.image.PullImage!({ image: { image: BUSYBOX_IMAGE } })).image_ref;
    const compRef = (await cri.image.PullImage!({ image: { image: COMPONENT_IMAGE } })).image_ref;
    assert.match(bbRef, /^sha256:[0-9a-f]{64}$/);
    assert.equal(compRef, image.configDigest);
    const images = (await cri.image.ListImages!({})).images as Msg[];
    assert.ok(images.some((i) => i.repo_tags.includes(BUSYBOX_IMAGE)), 'busybox is listed (from containerd)');
    assert.ok(images.some((i) => i.repo_tags.includes(COMPONENT_IMAGE)), 'the component is listed (from workd)');
    assert.equal((await cri.image.ImageStatus!({ image: { image: BUSYBOX_IMAGE } })).image.id, bbRef);
    assert.equal((await cri.image.ImageStatus!({ image: { image: COMPONENT_IMAGE } })).image.id, compRef);
    const fs = await cri.image.ImageFsInfo!({});
    assert.ok(fs.image_filesystems.length >= 2, 'both image stores report their filesystem');
    assert.match(fs.image_filesystems[0].fs_id.mountpoint, /io\.containerd\.snapshotter/);

    // Run both.
    const bbConfig = linuxPod(logDir);
    const bbPod = (await cri.runtime.RunPodSandbox!({ config: bbConfig })).pod_sandbox_id as string;
    assert.match(bbPod, /^[0-9a-f]{64}$/, 'containerd chose the ID');
    const compConfig = podConfig(COMPONENT, { logDirectory: logDir });
    const compPod = (await cri.runtime.RunPodSandbox!({ config: compConfig })).pod_sandbox_id as string;
    assert.ok(compPod.startsWith('example.com:kitchen.Sink@1.0.0'), compPod);

    const bbCtr = (await cri.runtime.CreateContainer!({ pod_sandbox_id: bbPod, config: busybox('echo hello-from-busybox; exec sleep 3600', 'sh.log'), sandbox_config: bbConfig })).container_id as string;
    const compCtr = (await cri.runtime.CreateContainer!({ pod_sandbox_id: compPod, config: containerConfig(COMPONENT_IMAGE, { logPath: 'comp.log' }), sandbox_config: compConfig })).container_id as string;
    await cri.runtime.StartContainer!({ container_id: bbCtr });
    await cri.runtime.StartContainer!({ container_id: compCtr });

    // Statuses come from each side.
    const bbStatus = (await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: bbPod })).status;
    assert.equal(bbStatus.state, 'SANDBOX_READY');
    assert.match(bbStatus.network.ip, /^10\.\d+\.\d+\.\d+$/, 'the CNI bridge gave the busybox pod an address');
    assert.equal((await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: compPod })).status.state, 'SANDBOX_READY');
    assert.equal((await cri.runtime.ContainerStatus!({ container_id: bbCtr })).status.state, 'CONTAINER_RUNNING');
    assert.equal((await cri.runtime.ContainerStatus!({ container_id: compCtr })).status.state, 'CONTAINER_RUNNING');
    // By unique prefix too, as crictl sends them.
    assert.equal((await cri.runtime.ContainerStatus!({ container_id: bbCtr.slice(0, 12) })).status.id, bbCtr);

    // Logs: containerd writes the busybox container's CRI log where the kubelet asked.
    const log = await waitFor('the busybox log line', async () => {
      const text = readFileSync(join(logDir, 'sh.log'), 'utf8');
      return text.includes('hello-from-busybox') ? text : undefined;
    });
    assert.match(log, /^\S+ stdout F hello-from-busybox$/m);

    // Merged lists, with filters working across both sides.
    const pods = (await cri.runtime.ListPodSandbox!({})).items as Msg[];
    assert.deepEqual(new Set(pods.map((p) => p.id)), new Set([bbPod, compPod]));
    const ctrs = (await cri.runtime.ListContainers!({})).containers as Msg[];
    assert.deepEqual(new Set(ctrs.map((c) => c.id)), new Set([bbCtr, compCtr]));
    const byLabel = (await cri.runtime.ListPodSandbox!({ filter: { label_selector: { app: 'busybox' } } })).items as Msg[];
    assert.deepEqual(byLabel.map((p) => p.id), [bbPod]);
    const byPrefix = (await cri.runtime.ListContainers!({ filter: { id: bbCtr.slice(0, 10) } })).containers as Msg[];
    assert.deepEqual(byPrefix.map((c) => c.id), [bbCtr]);
    const compOnly = (await cri.runtime.ListContainers!({ filter: { pod_sandbox_id: compPod } })).containers as Msg[];
    assert.deepEqual(compOnly.map((c) => c.id), [compCtr]);
    const running = (await cri.runtime.ListContainers!({ filter: { state: { state: 'CONTAINER_RUNNING' } } })).containers as Msg[];
    assert.equal(running.length, 2);
    const stats = (await cri.runtime.ListContainerStats!({ filter: { pod_sandbox_id: bbPod } }).catch(() => ({ stats: [] }))).stats as Msg[];
    assert.deepEqual(stats.map((s) => s.attributes.id), [bbCtr], 'stats of a downstream pod come from containerd');

    // Exec: containerd's streaming URL is returned unchanged.
    const exec = await cri.runtime.Exec!({ container_id: bbCtr, cmd: ['true'], stdout: true });
    assert.match(exec.url, /^http:\/\/127\.0\.0\.1:\d+\/exec\//);
    const sync = await cri.runtime.ExecSync!({ container_id: bbCtr, cmd: ['sh', '-c', 'echo via-exec'], timeout: '10' });
    assert.equal(Buffer.from(sync.stdout).toString(), 'via-exec\n');

    // Stop and remove both.
    await cri.runtime.StopContainer!({ container_id: bbCtr, timeout: '1' });
    await cri.runtime.StopContainer!({ container_id: compCtr, timeout: '1' });
    assert.equal((await cri.runtime.ContainerStatus!({ container_id: bbCtr })).status.state, 'CONTAINER_EXITED');
    await cri.runtime.RemoveContainer!({ container_id: bbCtr });
    await cri.runtime.RemoveContainer!({ container_id: compCtr });
    for (const id of [bbPod, compPod]) {
      await cri.runtime.StopPodSandbox!({ pod_sandbox_id: id });
      await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
    }
    assert.equal((await cri.runtime.ListPodSandbox!({})).items.length, 0);
    // Repeating them is OK on both sides (the kubelet retries).
    for (const id of [bbPod, compPod]) {
      await cri.runtime.StopPodSandbox!({ pod_sandbox_id: id });
      await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
    }
    await cri.runtime.RemoveContainer!({ container_id: bbCtr });

    // Images are removed from the store that holds them.
    await cri.image.RemoveImage!({ image: { image: COMPONENT_IMAGE } });
    assert.equal((await cri.image.ImageStatus!({ image: { image: COMPONENT_IMAGE } })).image, null);
    assert.ok((await cri.image.ImageStatus!({ image: { image: BUSYBOX_IMAGE } })).image, 'busybox is still in containerd');
  });

  test('Stop and Remove of unknown IDs answer OK on both sides', async () => {
    const unknownHex = 'f'.repeat(64);
    const unknownComponent = 'example.com:kitchen.Sink@1.0.0#999';
    for (const id of [unknownHex, unknownComponent]) {
      await cri.runtime.StopPodSandbox!({ pod_sandbox_id: id });
      await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
      await cri.runtime.StopContainer!({ container_id: id, timeout: '0' });
      await cri.runtime.RemoveContainer!({ container_id: id });
    }
    await cri.image.RemoveImage!({ image: { image: 'registry.k8s.io/nothing-here:1' } });
    // A downstream ID containerd has forgotten (its pod removed behind workd's back) is OK too.
    const c = criClient(ctrd.socket);
    try {
      const config = linuxPod(join(work, 'logs-forgotten'));
      const pod = (await cri.runtime.RunPodSandbox!({ config })).pod_sandbox_id as string;
      await c.runtime.StopPodSandbox!({ pod_sandbox_id: pod });
      await c.runtime.RemovePodSandbox!({ pod_sandbox_id: pod });
      await cri.runtime.StopPodSandbox!({ pod_sandbox_id: pod });
      await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: pod });
      const st = await criError(cri.runtime.PodSandboxStatus!({ pod_sandbox_id: pod }));
      assert.equal(st.code, grpc.status.NOT_FOUND);
    } finally {
      c.close();
    }
  });

  test('the downstream going away: its pods get UNAVAILABLE naming it, component pods keep working, and it comes back', async () => {
    const bbConfig = linuxPod(join(work, 'logs-away'));
    const bbPod = (await cri.runtime.RunPodSandbox!({ config: bbConfig })).pod_sandbox_id as string;
    const compConfig = podConfig(COMPONENT);
    const compPod = (await cri.runtime.RunPodSandbox!({ config: compConfig })).pod_sandbox_id as string;
    await ctrd.kill();
    try {
      const err = await criError(cri.runtime.PodSandboxStatus!({ pod_sandbox_id: bbPod }));
      assert.equal(err.code, grpc.status.UNAVAILABLE);
      assert.ok(err.details.includes(ctrd.endpoint), err.details);
      // Stop of a downstream pod is not pretended: it is UNAVAILABLE, not OK.
      assert.equal((await criError(cri.runtime.StopPodSandbox!({ pod_sandbox_id: bbPod }))).code, grpc.status.UNAVAILABLE);
      assert.equal((await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: compPod })).status.state, 'SANDBOX_READY');
      const st = await cri.runtime.Status!({ verbose: false });
      const ready = st.status.conditions.find((c: Msg) => c.type === 'RuntimeReady');
      assert.equal(ready.status, false);
      assert.equal(ready.reason, 'DownstreamUnavailable');
      assert.ok(ready.message.includes(ctrd.endpoint));
      assert.equal(JSON.parse(st.info.downstream).healthy, false);
      // A new ordinary pod cannot be run meanwhile; a component pod can.
      assert.equal((await criError(cri.runtime.RunPodSandbox!({ config: linuxPod(join(work, 'logs-away')) }))).code, grpc.status.UNAVAILABLE);
      const another = (await cri.runtime.RunPodSandbox!({ config: podConfig(COMPONENT) })).pod_sandbox_id as string;
      await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: another });
    } finally {
      await ctrd.restart();
    }
    // containerd keeps its pods across its own restart; workd reaches it again within its reconnect backoff.
    const back = await waitFor('the downstream to answer again', async () => {
      const s = await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: bbPod });
      return s.status.state === 'SANDBOX_READY' ? s : undefined;
    });
    assert.equal(back.status.id, bbPod);
    const st = await cri.runtime.Status!({ verbose: true });
    assert.ok(st.status.conditions.every((c: Msg) => c.status), JSON.stringify(st.status.conditions));
    const info = JSON.parse(st.info.downstream);
    assert.equal(info.healthy, true);
    assert.equal(info.endpoint, ctrd.endpoint);
    for (const id of [bbPod, compPod]) {
      await cri.runtime.StopPodSandbox!({ pod_sandbox_id: id });
      await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
    }
  });

  test('a restart of workd with both kinds running: the downstream pods are still its own', async () => {
    const logDir = join(work, 'logs-restart');
    const bbConfig = linuxPod(logDir, { restart: 'yes' });
    const bbPod = (await cri.runtime.RunPodSandbox!({ config: bbConfig })).pod_sandbox_id as string;
    const bbCtr = (await cri.runtime.CreateContainer!({ pod_sandbox_id: bbPod, config: busybox('exec sleep 3600', 'r.log'), sandbox_config: bbConfig })).container_id as string;
    await cri.runtime.StartContainer!({ container_id: bbCtr });
    const compConfig = podConfig(COMPONENT);
    await cri.runtime.RunPodSandbox!({ config: compConfig });

    // A crash, not a planned stop: the record of downstream IDs must already be on disk.
    cri.close();
    await d.stop('SIGKILL');
    d = await startDaemon({ configToml: config(), stateDir });
    cri = criClient(d.criSocket);
    assert.equal((await cri.runtime.ContainerStatus!({ container_id: bbCtr })).status.state, 'CONTAINER_RUNNING');
    assert.equal((await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: bbPod.slice(0, 16) })).status.id, bbPod);
    const listed = (await cri.runtime.ListPodSandbox!({ filter: { label_selector: { restart: 'yes' } } })).items as Msg[];
    assert.deepEqual(listed.map((p) => p.id), [bbPod]);
    await cri.runtime.StopPodSandbox!({ pod_sandbox_id: bbPod });
    await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: bbPod });
    assert.equal((await criError(cri.runtime.ContainerStatus!({ container_id: bbCtr }))).code, grpc.status.NOT_FOUND);
  });

  test('GetContainerEvents: a downstream that does not serve it (containerd 1.6) makes the stream UNIMPLEMENTED, so the kubelet relists both sides', async () => {
    const err = await criError(cri.stream('runtime', 'GetContainerEvents', {}));
    assert.equal(err.code, grpc.status.UNIMPLEMENTED);
    assert.ok(err.details.includes(ctrd.endpoint), err.details);
  });

  test('RuntimeConfig reports the downstream cgroup driver; a config naming another is refused at start', async () => {
    const rc = await cri.runtime.RuntimeConfig!({});
    assert.equal(rc.linux.cgroup_driver, 'CGROUPFS', 'containerd here runs runc without SystemdCgroup');
    const dir = mkdtempSync(join(tmpdir(), 'workd-cgroup-'));
    try {
      writeFileSync(join(dir, 'config.toml'), config().replace('[images.mirrors', 'cgroup_driver = "systemd"\n[images.mirrors'));
      const r = spawnSync(process.execPath, [WORKD_BIN, 'serve', '--config', join(dir, 'config.toml'), '--cri-socket', join(dir, 'w.sock'), '--state-dir', join(dir, 'state'), '--listen', '127.0.0.1:0'], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /downstream\.cgroup_driver is "systemd" but the downstream runtime unix:\/\/\S+ uses "cgroupfs"/);
      const ok = await startDaemon({ configToml: config().replace('[images.mirrors', 'cgroup_driver = "cgroupfs"\n[images.mirrors') });
      const c = criClient(ok.criSocket);
      assert.equal((await c.runtime.RuntimeConfig!({})).linux.cgroup_driver, 'CGROUPFS');
      c.close();
      await ok.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

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

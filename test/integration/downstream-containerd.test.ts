// A hybrid node through one socket: workd in front of a real containerd 1.6
// (runc, the CNI bridge plugin), a busybox pod beside a component pod, both
// images pulled through workd from a loopback mirror of registry.k8s.io, the
// idempotent verbs on both sides, events and the cgroup driver.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { containerdUnavailable } from '../helpers/containerd.js';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUSYBOX_IMAGE } from '../helpers/containerd.js';
import { containerConfig, criClient, criError, podConfig, type Msg } from '../helpers/cri-client.js';
import { WORKD_BIN, startDaemon } from '../helpers/daemon.js';
import { COMPONENT, COMPONENT_IMAGE, busybox, linuxPod, useHybridNode, waitFor } from '../helpers/hybrid.js';

describe('workd with containerd downstream', { skip: containerdUnavailable() }, () => {
  const h = useHybridNode();

  test('a busybox pod and a component pod side by side through one socket', async () => {
    const logDir = join(h.work, 'logs-side');
    // Images: the Linux one goes to containerd, the component to workd, both through the mirror.
    const bbRef = (await h.cri.image.PullImage!({ image: { image: BUSYBOX_IMAGE } })).image_ref;
    const compRef = (await h.cri.image.PullImage!({ image: { image: COMPONENT_IMAGE } })).image_ref;
    assert.match(bbRef, /^sha256:[0-9a-f]{64}$/);
    assert.equal(compRef, h.image.configDigest);
    const images = (await h.cri.image.ListImages!({})).images as Msg[];
    assert.ok(images.some((i) => i.repo_tags.includes(BUSYBOX_IMAGE)), 'busybox is listed (from containerd)');
    assert.ok(images.some((i) => i.repo_tags.includes(COMPONENT_IMAGE)), 'the component is listed (from workd)');
    assert.equal((await h.cri.image.ImageStatus!({ image: { image: BUSYBOX_IMAGE } })).image.id, bbRef);
    assert.equal((await h.cri.image.ImageStatus!({ image: { image: COMPONENT_IMAGE } })).image.id, compRef);
    const fs = await h.cri.image.ImageFsInfo!({});
    assert.ok(fs.image_filesystems.length >= 2, 'both image stores report their filesystem');
    assert.match(fs.image_filesystems[0].fs_id.mountpoint, /io\.containerd\.snapshotter/);

    // Run both.
    const bbConfig = linuxPod(logDir);
    const bbPod = (await h.cri.runtime.RunPodSandbox!({ config: bbConfig })).pod_sandbox_id as string;
    assert.match(bbPod, /^[0-9a-f]{64}$/, 'containerd chose the ID');
    const compConfig = podConfig(COMPONENT, { logDirectory: logDir });
    const compPod = (await h.cri.runtime.RunPodSandbox!({ config: compConfig })).pod_sandbox_id as string;
    assert.ok(compPod.startsWith('example.com:kitchen.Sink@1.0.0'), compPod);

    const bbCtr = (await h.cri.runtime.CreateContainer!({ pod_sandbox_id: bbPod, config: busybox('echo hello-from-busybox; exec sleep 3600', 'sh.log'), sandbox_config: bbConfig })).container_id as string;
    const compCtr = (await h.cri.runtime.CreateContainer!({ pod_sandbox_id: compPod, config: containerConfig(COMPONENT_IMAGE, { logPath: 'comp.log' }), sandbox_config: compConfig })).container_id as string;
    await h.cri.runtime.StartContainer!({ container_id: bbCtr });
    await h.cri.runtime.StartContainer!({ container_id: compCtr });

    // Statuses come from each side.
    const bbStatus = (await h.cri.runtime.PodSandboxStatus!({ pod_sandbox_id: bbPod })).status;
    assert.equal(bbStatus.state, 'SANDBOX_READY');
    assert.match(bbStatus.network.ip, /^10\.\d+\.\d+\.\d+$/, 'the CNI bridge gave the busybox pod an address');
    assert.equal((await h.cri.runtime.PodSandboxStatus!({ pod_sandbox_id: compPod })).status.state, 'SANDBOX_READY');
    assert.equal((await h.cri.runtime.ContainerStatus!({ container_id: bbCtr })).status.state, 'CONTAINER_RUNNING');
    assert.equal((await h.cri.runtime.ContainerStatus!({ container_id: compCtr })).status.state, 'CONTAINER_RUNNING');
    // By unique prefix too, as crictl sends them.
    assert.equal((await h.cri.runtime.ContainerStatus!({ container_id: bbCtr.slice(0, 12) })).status.id, bbCtr);

    // Logs: containerd writes the busybox container's CRI log where the kubelet asked.
    const log = await waitFor('the busybox log line', async () => {
      const text = readFileSync(join(logDir, 'sh.log'), 'utf8');
      return text.includes('hello-from-busybox') ? text : undefined;
    });
    assert.match(log, /^\S+ stdout F hello-from-busybox$/m);

    // Merged lists, with filters working across both sides.
    const pods = (await h.cri.runtime.ListPodSandbox!({})).items as Msg[];
    assert.deepEqual(new Set(pods.map((p) => p.id)), new Set([bbPod, compPod]));
    const ctrs = (await h.cri.runtime.ListContainers!({})).containers as Msg[];
    assert.deepEqual(new Set(ctrs.map((c) => c.id)), new Set([bbCtr, compCtr]));
    const byLabel = (await h.cri.runtime.ListPodSandbox!({ filter: { label_selector: { app: 'busybox' } } })).items as Msg[];
    assert.deepEqual(byLabel.map((p) => p.id), [bbPod]);
    const byPrefix = (await h.cri.runtime.ListContainers!({ filter: { id: bbCtr.slice(0, 10) } })).containers as Msg[];
    assert.deepEqual(byPrefix.map((c) => c.id), [bbCtr]);
    const compOnly = (await h.cri.runtime.ListContainers!({ filter: { pod_sandbox_id: compPod } })).containers as Msg[];
    assert.deepEqual(compOnly.map((c) => c.id), [compCtr]);
    const running = (await h.cri.runtime.ListContainers!({ filter: { state: { state: 'CONTAINER_RUNNING' } } })).containers as Msg[];
    assert.equal(running.length, 2);
    const stats = (await h.cri.runtime.ListContainerStats!({ filter: { pod_sandbox_id: bbPod } }).catch(() => ({ stats: [] }))).stats as Msg[];
    assert.deepEqual(stats.map((s) => s.attributes.id), [bbCtr], 'stats of a downstream pod come from containerd');

    // Exec: containerd's streaming URL is returned unchanged.
    const exec = await h.cri.runtime.Exec!({ container_id: bbCtr, cmd: ['true'], stdout: true });
    assert.match(exec.url, /^http:\/\/127\.0\.0\.1:\d+\/exec\//);
    const sync = await h.cri.runtime.ExecSync!({ container_id: bbCtr, cmd: ['sh', '-c', 'echo via-exec'], timeout: '10' });
    assert.equal(Buffer.from(sync.stdout).toString(), 'via-exec\n');

    // Stop and remove both.
    await h.cri.runtime.StopContainer!({ container_id: bbCtr, timeout: '1' });
    await h.cri.runtime.StopContainer!({ container_id: compCtr, timeout: '1' });
    assert.equal((await h.cri.runtime.ContainerStatus!({ container_id: bbCtr })).status.state, 'CONTAINER_EXITED');
    await h.cri.runtime.RemoveContainer!({ container_id: bbCtr });
    await h.cri.runtime.RemoveContainer!({ container_id: compCtr });
    for (const id of [bbPod, compPod]) {
      await h.cri.runtime.StopPodSandbox!({ pod_sandbox_id: id });
      await h.cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
    }
    assert.equal((await h.cri.runtime.ListPodSandbox!({})).items.length, 0);
    // Repeating them is OK on both sides (the kubelet retries).
    for (const id of [bbPod, compPod]) {
      await h.cri.runtime.StopPodSandbox!({ pod_sandbox_id: id });
      await h.cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
    }
    await h.cri.runtime.RemoveContainer!({ container_id: bbCtr });

    // Images are removed from the store that holds them.
    await h.cri.image.RemoveImage!({ image: { image: COMPONENT_IMAGE } });
    assert.equal((await h.cri.image.ImageStatus!({ image: { image: COMPONENT_IMAGE } })).image, null);
    assert.ok((await h.cri.image.ImageStatus!({ image: { image: BUSYBOX_IMAGE } })).image, 'busybox is still in containerd');
  });

  test('Stop and Remove of unknown IDs answer OK on both sides', async () => {
    const unknownHex = 'f'.repeat(64);
    const unknownComponent = 'example.com:kitchen.Sink@1.0.0#999';
    for (const id of [unknownHex, unknownComponent]) {
      await h.cri.runtime.StopPodSandbox!({ pod_sandbox_id: id });
      await h.cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
      await h.cri.runtime.StopContainer!({ container_id: id, timeout: '0' });
      await h.cri.runtime.RemoveContainer!({ container_id: id });
    }
    await h.cri.image.RemoveImage!({ image: { image: 'registry.k8s.io/nothing-here:1' } });
    // A downstream ID containerd has forgotten (its pod removed behind workd's back) is OK too.
    const c = criClient(h.ctrd.socket);
    try {
      const config = linuxPod(join(h.work, 'logs-forgotten'));
      const pod = (await h.cri.runtime.RunPodSandbox!({ config })).pod_sandbox_id as string;
      await c.runtime.StopPodSandbox!({ pod_sandbox_id: pod });
      await c.runtime.RemovePodSandbox!({ pod_sandbox_id: pod });
      await h.cri.runtime.StopPodSandbox!({ pod_sandbox_id: pod });
      await h.cri.runtime.RemovePodSandbox!({ pod_sandbox_id: pod });
      const st = await criError(h.cri.runtime.PodSandboxStatus!({ pod_sandbox_id: pod }));
      assert.equal(st.code, grpc.status.NOT_FOUND);
    } finally {
      c.close();
    }
  });

  test('GetContainerEvents: a downstream that does not serve it (containerd 1.6) makes the stream UNIMPLEMENTED, so the kubelet relists both sides', async () => {
    const err = await criError(h.cri.stream('runtime', 'GetContainerEvents', {}));
    assert.equal(err.code, grpc.status.UNIMPLEMENTED);
    assert.ok(err.details.includes(h.ctrd.endpoint), err.details);
  });

  test('RuntimeConfig reports the downstream cgroup driver; a config naming another is refused at start', async () => {
    const rc = await h.cri.runtime.RuntimeConfig!({});
    assert.equal(rc.linux.cgroup_driver, 'CGROUPFS', 'containerd here runs runc without SystemdCgroup');
    const dir = mkdtempSync(join(tmpdir(), 'workd-cgroup-'));
    try {
      writeFileSync(join(dir, 'config.toml'), h.config().replace('[images.mirrors', 'cgroup_driver = "systemd"\n[images.mirrors'));
      const r = spawnSync(process.execPath, [WORKD_BIN, 'serve', '--config', join(dir, 'config.toml'), '--cri-socket', join(dir, 'w.sock'), '--state-dir', join(dir, 'state'), '--listen', '127.0.0.1:0'], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /downstream\.cgroup_driver is "systemd" but the downstream runtime unix:\/\/\S+ uses "cgroupfs"/);
      const ok = await startDaemon({ configToml: h.config().replace('[images.mirrors', 'cgroup_driver = "cgroupfs"\n[images.mirrors') });
      const c = criClient(ok.criSocket);
      assert.equal((await c.runtime.RuntimeConfig!({})).linux.cgroup_driver, 'CGROUPFS');
      c.close();
      await ok.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// A hybrid node when either daemon goes away: containerd stopped and started
// again under workd, and workd killed with both kinds of pod running.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { BUSYBOX_IMAGE, containerdUnavailable } from '../helpers/containerd.js';
import { join } from 'node:path';
import { criError, podConfig, type Msg } from '../helpers/cri-client.js';
import { COMPONENT, busybox, linuxPod, useHybridNode, waitFor } from '../helpers/hybrid.js';

describe('workd with containerd downstream, across restarts', { skip: containerdUnavailable() }, () => {
  const h = useHybridNode();

  test('the downstream going away: its pods get UNAVAILABLE naming it, component pods keep working, and it comes back', async () => {
    const bbConfig = linuxPod(join(h.work, 'logs-away'));
    const bbPod = (await h.cri.runtime.RunPodSandbox!({ config: bbConfig })).pod_sandbox_id as string;
    const compConfig = podConfig(COMPONENT);
    const compPod = (await h.cri.runtime.RunPodSandbox!({ config: compConfig })).pod_sandbox_id as string;
    await h.ctrd.kill();
    try {
      const err = await criError(h.cri.runtime.PodSandboxStatus!({ pod_sandbox_id: bbPod }));
      assert.equal(err.code, grpc.status.UNAVAILABLE);
      assert.ok(err.details.includes(h.ctrd.endpoint), err.details);
      // Stop of a downstream pod is not pretended: it is UNAVAILABLE, not OK.
      assert.equal((await criError(h.cri.runtime.StopPodSandbox!({ pod_sandbox_id: bbPod }))).code, grpc.status.UNAVAILABLE);
      assert.equal((await h.cri.runtime.PodSandboxStatus!({ pod_sandbox_id: compPod })).status.state, 'SANDBOX_READY');
      const st = await h.cri.runtime.Status!({ verbose: false });
      const ready = st.status.conditions.find((c: Msg) => c.type === 'RuntimeReady');
      assert.equal(ready.status, false);
      assert.equal(ready.reason, 'DownstreamUnavailable');
      assert.ok(ready.message.includes(h.ctrd.endpoint));
      assert.equal(JSON.parse(st.info.downstream).healthy, false);
      // A new ordinary pod cannot be run meanwhile; a component pod can.
      assert.equal((await criError(h.cri.runtime.RunPodSandbox!({ config: linuxPod(join(h.work, 'logs-away')) }))).code, grpc.status.UNAVAILABLE);
      const another = (await h.cri.runtime.RunPodSandbox!({ config: podConfig(COMPONENT) })).pod_sandbox_id as string;
      await h.cri.runtime.RemovePodSandbox!({ pod_sandbox_id: another });
    } finally {
      await h.ctrd.restart();
    }
    // containerd keeps its pods across its own restart; workd reaches it again within its reconnect backoff.
    const back = await waitFor('the downstream to answer again', async () => {
      const s = await h.cri.runtime.PodSandboxStatus!({ pod_sandbox_id: bbPod });
      return s.status.state === 'SANDBOX_READY' ? s : undefined;
    });
    assert.equal(back.status.id, bbPod);
    const st = await h.cri.runtime.Status!({ verbose: true });
    assert.ok(st.status.conditions.every((c: Msg) => c.status), JSON.stringify(st.status.conditions));
    const info = JSON.parse(st.info.downstream);
    assert.equal(info.healthy, true);
    assert.equal(info.endpoint, h.ctrd.endpoint);
    for (const id of [bbPod, compPod]) {
      await h.cri.runtime.StopPodSandbox!({ pod_sandbox_id: id });
      await h.cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
    }
  });

  test('a restart of workd with both kinds running: the downstream pods are still its own', async () => {
    const logDir = join(h.work, 'logs-restart');
    await h.cri.image.PullImage!({ image: { image: BUSYBOX_IMAGE } });
    const bbConfig = linuxPod(logDir, { restart: 'yes' });
    const bbPod = (await h.cri.runtime.RunPodSandbox!({ config: bbConfig })).pod_sandbox_id as string;
    const bbCtr = (await h.cri.runtime.CreateContainer!({ pod_sandbox_id: bbPod, config: busybox('exec sleep 3600', 'r.log'), sandbox_config: bbConfig })).container_id as string;
    await h.cri.runtime.StartContainer!({ container_id: bbCtr });
    const compConfig = podConfig(COMPONENT);
    await h.cri.runtime.RunPodSandbox!({ config: compConfig });

    // A crash, not a planned stop: the record of downstream IDs must already be on disk.
    await h.restartWorkd('SIGKILL');
    assert.equal((await h.cri.runtime.ContainerStatus!({ container_id: bbCtr })).status.state, 'CONTAINER_RUNNING');
    assert.equal((await h.cri.runtime.PodSandboxStatus!({ pod_sandbox_id: bbPod.slice(0, 16) })).status.id, bbPod);
    const listed = (await h.cri.runtime.ListPodSandbox!({ filter: { label_selector: { restart: 'yes' } } })).items as Msg[];
    assert.deepEqual(listed.map((p) => p.id), [bbPod]);
    await h.cri.runtime.StopPodSandbox!({ pod_sandbox_id: bbPod });
    await h.cri.runtime.RemovePodSandbox!({ pod_sandbox_id: bbPod });
    assert.equal((await criError(h.cri.runtime.ContainerStatus!({ container_id: bbCtr }))).code, grpc.status.NOT_FOUND);
  });

});

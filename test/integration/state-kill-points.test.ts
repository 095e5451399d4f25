// kill -9 in the middle of each CRI verb, just before its changes are committed and just
// after (durable, not answered), through WORKD_KILL_AT (docs/state.md, "Crash points in the
// verbs"). Each daemon is started armed with the next step's point: it first checks what
// the previous crash left, then runs the step's verb and dies in it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { containerConfig, podConfig, type CriClient, type Msg } from '../helpers/cri-client.js';
import type { TestImage } from '../helpers/images.js';
import { COMPONENT, Node, kitchenImage } from '../helpers/node.js';

let built: TestImage;
before(async () => {
  built = await kitchenImage();
});
after(async () => {
  await built?.cleanup();
});

interface Step {
  /** WORKD_KILL_AT for this step's daemon. */
  readonly point: string;
  /** What the previous step's crash must have left (run first, by this step's daemon). */
  readonly check?: (cri: CriClient) => Promise<void>;
  /** The verb that dies at `point`. */
  readonly crash: (cri: CriClient) => Promise<unknown>;
}

test('kill -9 in the middle of each verb: after restart, the state the CRI last confirmed; half-done work gone; retries work', async () => {
  const node = new Node(built);
  const pods = async (cri: CriClient) => (await cri.runtime.ListPodSandbox!({})).items as Msg[];
  const containers = async (cri: CriClient, sandbox: string) => (await cri.runtime.ListContainers!({ filter: { pod_sandbox_id: sandbox } })).containers as Msg[];
  const state = async (cri: CriClient, id: string) => (await cri.runtime.ContainerStatus!({ container_id: id })).status as Msg;
  try {
    await node.start();
    const base = await node.runPod('base');
    await node.kill();

    const cfgA = podConfig(COMPONENT, { name: 'run-a' });
    const cfgB = podConfig(COMPONENT, { name: 'run-b' });
    let a = '';
    let ca = '';
    const steps: Step[] = [
      // RunPodSandbox, before its commit: no sandbox after the restart, and the name is free for the retry.
      { point: 'pods:before-commit:sandbox:READY', crash: (c) => c.runtime.RunPodSandbox!({ config: cfgA }) },
      {
        point: 'pods:after-commit:sandbox:READY@2', // the first READY commit is the retry below
        check: async (c) => {
          assert.deepEqual((await pods(c)).map((p) => p.id), [base.pod]);
          a = (await c.runtime.RunPodSandbox!({ config: cfgA })).pod_sandbox_id as string;
        },
        crash: (c) => c.runtime.RunPodSandbox!({ config: cfgB }),
      },
      // RunPodSandbox, after its commit: the sandbox is there (the kubelet's GC removes what it does not know).
      {
        point: 'pods:before-commit:container:CREATED',
        check: async (c) => {
          const b = (await pods(c)).find((p) => p.metadata.name === 'run-b');
          assert.equal(b?.state, 'SANDBOX_READY');
          assert.notEqual(b.id, a);
        },
        crash: (c) => c.runtime.CreateContainer!({ pod_sandbox_id: a, config: containerConfig(node.image), sandbox_config: cfgA }),
      },
      {
        point: 'pods:after-commit:container:CREATED',
        check: async (c) => assert.deepEqual(await containers(c, a), [], 'an unconfirmed CreateContainer left no container'),
        crash: (c) => c.runtime.CreateContainer!({ pod_sandbox_id: a, config: containerConfig(node.image), sandbox_config: cfgA }),
      },
      {
        point: 'pods:before-commit:container:RUNNING',
        check: async (c) => {
          const list = await containers(c, a);
          assert.deepEqual(list.map((x) => x.state), ['CONTAINER_CREATED']);
          ca = list[0].id;
        },
        crash: (c) => c.runtime.StartContainer!({ container_id: ca }),
      },
      // StartContainer, before its commit: still CREATED (its guest died with the daemon); after: RUNNING and served.
      {
        point: 'pods:after-commit:container:RUNNING',
        check: async (c) => assert.equal((await state(c, ca)).state, 'CONTAINER_CREATED'),
        crash: (c) => c.runtime.StartContainer!({ container_id: ca }),
      },
      {
        point: 'pods:before-commit:container:EXITED',
        check: async (c) => {
          assert.equal((await state(c, ca)).state, 'CONTAINER_RUNNING');
          assert.equal(await node.echo('started'), 'started');
        },
        crash: (c) => c.runtime.StopContainer!({ container_id: base.container, timeout: 1 }),
      },
      // StopContainer, before its commit: RUNNING and served again; after: EXITED with its finish time.
      {
        point: 'pods:after-commit:container:EXITED',
        check: async (c) => assert.equal((await state(c, base.container)).state, 'CONTAINER_RUNNING'),
        crash: (c) => c.runtime.StopContainer!({ container_id: base.container, timeout: 1 }),
      },
      {
        point: 'pods:before-commit:sandbox-removed',
        check: async (c) => {
          const st = await state(c, base.container);
          assert.equal(st.state, 'CONTAINER_EXITED');
          assert.notEqual(st.finished_at, '0');
        },
        crash: (c) => c.runtime.RemovePodSandbox!({ pod_sandbox_id: base.pod }),
      },
      // RemovePodSandbox, before its commit: still listed; after: gone with its containers.
      {
        point: 'pods:after-commit:sandbox-removed',
        check: async (c) => assert.ok((await pods(c)).some((p) => p.id === base.pod)),
        crash: (c) => c.runtime.RemovePodSandbox!({ pod_sandbox_id: base.pod }),
      },
    ];

    for (const step of steps) {
      const cri = await node.start({ WORKD_KILL_AT: step.point });
      await step.check?.(cri);
      await assert.rejects(step.crash(cri), (err: grpc.ServiceError) => [grpc.status.UNAVAILABLE, grpc.status.INTERNAL, grpc.status.CANCELLED].includes(err.code), step.point);
      await node.died();
    }
    const cri = await node.start();
    assert.ok(!(await pods(cri)).some((p) => p.id === base.pod));
    assert.deepEqual(await containers(cri, base.pod), []);
    assert.equal((await state(cri, ca)).state, 'CONTAINER_RUNNING');
    assert.equal(await node.echo('still'), 'still', 'the container started in the middle of all this is served');
  } finally {
    await node.close();
  }
});

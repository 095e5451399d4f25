// The idempotency table over the real socket: every verb applied to a pod in
// every reachable state, checking the answer and what the CRI reports after.
// Expectations are written out by hand (containerd's behaviour), not derived
// from the daemon's own table.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { criClient, containerConfig, importImage, podConfig, type CriClient } from '../helpers/cri-client.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { guest } from '../helpers/guests.js';
import { buildTestImage, type TestImage } from '../helpers/images.js';

const COMPONENT = 'idem.example:i.Svc@1.0.0';
let d: TestDaemon;
let cri: CriClient;
let img: TestImage;
let image: string;

before(async () => {
  d = await startDaemon();
  cri = criClient(d.criSocket);
  img = await buildTestImage({ component: COMPONENT, wasm: await guest('kitchen') });
  image = await importImage(cri, img.dir);
});
after(async () => {
  cri?.close();
  await d?.stop();
  await img?.cleanup();
});

type State = 'READY' | 'CREATED' | 'RUNNING' | 'EXITED' | 'NOTREADY' | 'NOTREADY_CREATED' | 'NOTREADY_EXITED' | 'REMOVED';
/** What the CRI shows: sandbox state (or gone) / container state (or none). */
type Seen = `${'READY' | 'NOTREADY' | 'gone'}/${'none' | 'CREATED' | 'RUNNING' | 'EXITED'}`;

async function podIn(state: State): Promise<string> {
  const config = podConfig(COMPONENT);
  const { pod_sandbox_id: id } = await cri.runtime.RunPodSandbox!({ config });
  const steps: Record<State, string[]> = {
    READY: [],
    CREATED: ['create'],
    RUNNING: ['create', 'start'],
    EXITED: ['create', 'start', 'stop'],
    NOTREADY: ['stopp'],
    NOTREADY_CREATED: ['create', 'stopp'],
    NOTREADY_EXITED: ['create', 'start', 'stopp'],
    REMOVED: ['rmp'],
  };
  for (const s of steps[state]) {
    if (s === 'create') await cri.runtime.CreateContainer!({ pod_sandbox_id: id, config: containerConfig(image), sandbox_config: config });
    if (s === 'start') await cri.runtime.StartContainer!({ container_id: id });
    if (s === 'stop') await cri.runtime.StopContainer!({ container_id: id, timeout: 0 });
    if (s === 'stopp') await cri.runtime.StopPodSandbox!({ pod_sandbox_id: id });
    if (s === 'rmp') await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
  }
  return id;
}

async function seen(id: string): Promise<Seen> {
  const pods = (await cri.runtime.ListPodSandbox!({ filter: { id } })).items;
  const ctrs = (await cri.runtime.ListContainers!({ filter: { id } })).containers;
  const sandbox = pods.length === 0 ? 'gone' : pods[0].state === 'SANDBOX_READY' ? 'READY' : 'NOTREADY';
  const container = ctrs.length === 0 ? 'none' : (ctrs[0].state as string).replace('CONTAINER_', '');
  return `${sandbox}/${container}` as Seen;
}

const VERBS: Record<string, (id: string) => Promise<unknown>> = {
  StopPodSandbox: (id) => cri.runtime.StopPodSandbox!({ pod_sandbox_id: id }),
  RemovePodSandbox: (id) => cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id }),
  CreateContainer: (id) => cri.runtime.CreateContainer!({ pod_sandbox_id: id, config: containerConfig(image) }),
  StartContainer: (id) => cri.runtime.StartContainer!({ container_id: id }),
  StopContainer: (id) => cri.runtime.StopContainer!({ container_id: id, timeout: 0 }),
  RemoveContainer: (id) => cri.runtime.RemoveContainer!({ container_id: id }),
  ReopenContainerLog: (id) => cri.runtime.ReopenContainerLog!({ container_id: id }),
  PodSandboxStatus: (id) => cri.runtime.PodSandboxStatus!({ pod_sandbox_id: id }),
  ContainerStatus: (id) => cri.runtime.ContainerStatus!({ container_id: id }),
};

const OK = 'OK';
const NF = 'NOT_FOUND';
const AE = 'ALREADY_EXISTS';
const FP = 'FAILED_PRECONDITION';
// [answer, what the CRI shows afterwards]
const TABLE: Record<string, Record<State, [string, Seen]>> = {
  StopPodSandbox: {
    READY: [OK, 'NOTREADY/none'], CREATED: [OK, 'NOTREADY/CREATED'], RUNNING: [OK, 'NOTREADY/EXITED'], EXITED: [OK, 'NOTREADY/EXITED'],
    NOTREADY: [OK, 'NOTREADY/none'], NOTREADY_CREATED: [OK, 'NOTREADY/CREATED'], NOTREADY_EXITED: [OK, 'NOTREADY/EXITED'], REMOVED: [OK, 'gone/none'],
  },
  RemovePodSandbox: {
    READY: [OK, 'gone/none'], CREATED: [OK, 'gone/none'], RUNNING: [OK, 'gone/none'], EXITED: [OK, 'gone/none'],
    NOTREADY: [OK, 'gone/none'], NOTREADY_CREATED: [OK, 'gone/none'], NOTREADY_EXITED: [OK, 'gone/none'], REMOVED: [OK, 'gone/none'],
  },
  CreateContainer: {
    READY: [OK, 'READY/CREATED'], CREATED: [AE, 'READY/CREATED'], RUNNING: [AE, 'READY/RUNNING'], EXITED: [AE, 'READY/EXITED'],
    NOTREADY: [FP, 'NOTREADY/none'], NOTREADY_CREATED: [FP, 'NOTREADY/CREATED'], NOTREADY_EXITED: [FP, 'NOTREADY/EXITED'], REMOVED: [NF, 'gone/none'],
  },
  StartContainer: {
    READY: [NF, 'READY/none'], CREATED: [OK, 'READY/RUNNING'], RUNNING: [FP, 'READY/RUNNING'], EXITED: [FP, 'READY/EXITED'],
    NOTREADY: [NF, 'NOTREADY/none'], NOTREADY_CREATED: [FP, 'NOTREADY/CREATED'], NOTREADY_EXITED: [FP, 'NOTREADY/EXITED'], REMOVED: [NF, 'gone/none'],
  },
  StopContainer: {
    READY: [OK, 'READY/none'], CREATED: [OK, 'READY/CREATED'], RUNNING: [OK, 'READY/EXITED'], EXITED: [OK, 'READY/EXITED'],
    NOTREADY: [OK, 'NOTREADY/none'], NOTREADY_CREATED: [OK, 'NOTREADY/CREATED'], NOTREADY_EXITED: [OK, 'NOTREADY/EXITED'], REMOVED: [OK, 'gone/none'],
  },
  RemoveContainer: {
    READY: [OK, 'READY/none'], CREATED: [OK, 'READY/none'], RUNNING: [OK, 'READY/none'], EXITED: [OK, 'READY/none'],
    NOTREADY: [OK, 'NOTREADY/none'], NOTREADY_CREATED: [OK, 'NOTREADY/none'], NOTREADY_EXITED: [OK, 'NOTREADY/none'], REMOVED: [OK, 'gone/none'],
  },
  ReopenContainerLog: {
    READY: [NF, 'READY/none'], CREATED: [FP, 'READY/CREATED'], RUNNING: [OK, 'READY/RUNNING'], EXITED: [FP, 'READY/EXITED'],
    NOTREADY: [NF, 'NOTREADY/none'], NOTREADY_CREATED: [FP, 'NOTREADY/CREATED'], NOTREADY_EXITED: [FP, 'NOTREADY/EXITED'], REMOVED: [NF, 'gone/none'],
  },
  PodSandboxStatus: {
    READY: [OK, 'READY/none'], CREATED: [OK, 'READY/CREATED'], RUNNING: [OK, 'READY/RUNNING'], EXITED: [OK, 'READY/EXITED'],
    NOTREADY: [OK, 'NOTREADY/none'], NOTREADY_CREATED: [OK, 'NOTREADY/CREATED'], NOTREADY_EXITED: [OK, 'NOTREADY/EXITED'], REMOVED: [NF, 'gone/none'],
  },
  ContainerStatus: {
    READY: [NF, 'READY/none'], CREATED: [OK, 'READY/CREATED'], RUNNING: [OK, 'READY/RUNNING'], EXITED: [OK, 'READY/EXITED'],
    NOTREADY: [NF, 'NOTREADY/none'], NOTREADY_CREATED: [OK, 'NOTREADY/CREATED'], NOTREADY_EXITED: [OK, 'NOTREADY/EXITED'], REMOVED: [NF, 'gone/none'],
  },
};

for (const [verb, row] of Object.entries(TABLE)) {
  test(`${verb} in every state`, async () => {
    for (const [state, [answer, after]] of Object.entries(row) as Array<[State, [string, Seen]]>) {
      const id = await podIn(state);
      let got = OK;
      try {
        await VERBS[verb]!(id);
      } catch (err) {
        got = grpc.status[(err as grpc.ServiceError).code] ?? String(err);
      }
      assert.equal(got, answer, `${verb} in ${state}`);
      assert.equal(await seen(id), after, `after ${verb} in ${state}`);
      // Once more: a repeated stop/remove is still OK and changes nothing.
      if (answer === OK && /^(Stop|Remove)/.test(verb)) {
        await VERBS[verb]!(id);
        assert.equal(await seen(id), after, `after ${verb} twice in ${state}`);
      }
      await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
    }
  });
}

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
/** What the CRI shows: sandbox state (or gone) / its containers' states in creation order (or none). */
type Seen = `${'READY' | 'NOTREADY' | 'gone'}/${string}`;
interface Target {
  readonly sandbox: string;
  /** The sandbox's container; for a state without one, an ID no container has ever had. */
  readonly container: string;
}

const NEVER_USED = 'f'.repeat(64);

async function podIn(state: State): Promise<Target> {
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
    REMOVED: ['create', 'rmp'],
  };
  let container = NEVER_USED;
  for (const s of steps[state]) {
    if (s === 'create') container = (await cri.runtime.CreateContainer!({ pod_sandbox_id: id, config: containerConfig(image), sandbox_config: config })).container_id;
    if (s === 'start') await cri.runtime.StartContainer!({ container_id: container });
    if (s === 'stop') await cri.runtime.StopContainer!({ container_id: container, timeout: 0 });
    if (s === 'stopp') await cri.runtime.StopPodSandbox!({ pod_sandbox_id: id });
    if (s === 'rmp') await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
  }
  return { sandbox: id, container };
}

async function seen(t: Target): Promise<Seen> {
  const pods = (await cri.runtime.ListPodSandbox!({ filter: { id: t.sandbox } })).items;
  const ctrs = (await cri.runtime.ListContainers!({ filter: { pod_sandbox_id: t.sandbox } })).containers as Array<{ state: string; created_at: string }>;
  const sandbox = pods.length === 0 ? 'gone' : pods[0].state === 'SANDBOX_READY' ? 'READY' : 'NOTREADY';
  ctrs.sort((a, b) => (BigInt(a.created_at) < BigInt(b.created_at) ? -1 : 1));
  const containers = ctrs.length === 0 ? 'none' : ctrs.map((c) => c.state.replace('CONTAINER_', '')).join(',');
  return `${sandbox}/${containers}` as Seen;
}

const VERBS: Record<string, (t: Target) => Promise<unknown>> = {
  StopPodSandbox: (t) => cri.runtime.StopPodSandbox!({ pod_sandbox_id: t.sandbox }),
  RemovePodSandbox: (t) => cri.runtime.RemovePodSandbox!({ pod_sandbox_id: t.sandbox }),
  // The kubelet's restart: the same name with the next attempt.
  CreateContainer: (t) => cri.runtime.CreateContainer!({ pod_sandbox_id: t.sandbox, config: { ...containerConfig(image), metadata: { name: 'main', attempt: 1 } } }),
  StartContainer: (t) => cri.runtime.StartContainer!({ container_id: t.container }),
  StopContainer: (t) => cri.runtime.StopContainer!({ container_id: t.container, timeout: 0 }),
  RemoveContainer: (t) => cri.runtime.RemoveContainer!({ container_id: t.container }),
  ReopenContainerLog: (t) => cri.runtime.ReopenContainerLog!({ container_id: t.container }),
  PodSandboxStatus: (t) => cri.runtime.PodSandboxStatus!({ pod_sandbox_id: t.sandbox }),
  ContainerStatus: (t) => cri.runtime.ContainerStatus!({ container_id: t.container }),
};

const OK = 'OK';
const NF = 'NOT_FOUND';
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
    READY: [OK, 'READY/CREATED'], CREATED: [FP, 'READY/CREATED'], RUNNING: [FP, 'READY/RUNNING'], EXITED: [OK, 'READY/EXITED,CREATED'],
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
      await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id.sandbox });
    }
  });
}

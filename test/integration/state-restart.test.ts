// Durable state across daemon restarts, over the real CRI socket and the real data plane
// (docs/state.md): kill -9 of a daemon holding pods in every state, a planned restart
// (SIGTERM) that no container notices, one daemon per state dir.
// The kill points inside each verb: state-kill-points.test.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { criClient, containerConfig, podConfig, type Msg } from '../helpers/cri-client.js';
import { WORKD_BIN, startDaemon } from '../helpers/daemon.js';
import type { TestImage } from '../helpers/images.js';
import { COMPONENT, Node, kitchenImage, relist } from '../helpers/node.js';

let built: TestImage;
before(async () => {
  built = await kitchenImage();
});
after(async () => {
  await built?.cleanup();
});

test('kill -9: the restarted daemon lists every pod and container as last confirmed, serves the running ones, reuses no ID', async () => {
  const node = new Node(built);
  try {
    const cri = await node.start();
    const running = await node.runPod('running');
    const stopped = await node.runPod('stopped');
    await cri.runtime.StopContainer!({ container_id: stopped.container, timeout: 1 });
    const notReady = await node.runPod('notready');
    await cri.runtime.StopPodSandbox!({ pod_sandbox_id: notReady.pod });
    const removed = await node.runPod('removed');
    await cri.runtime.StopPodSandbox!({ pod_sandbox_id: removed.pod });
    await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: removed.pod });
    const created = podConfig(COMPONENT, { name: 'created' });
    const createdPod = (await cri.runtime.RunPodSandbox!({ config: created })).pod_sandbox_id as string;
    const createdCtr = (await cri.runtime.CreateContainer!({ pod_sandbox_id: createdPod, config: containerConfig(node.image), sandbox_config: created })).container_id as string;
    assert.equal(await node.echo('before'), 'before');
    const before = await relist(cri);

    await node.kill();
    const after = await relist(await node.start());
    assert.deepEqual(after, before, 'the same pods and containers, states, labels, annotations, timestamps, exit codes and log paths');
    const states = Object.fromEntries(after.containers.map((c: Msg) => [c.list.id, c.list.state]));
    assert.equal(states[running.container], 'CONTAINER_RUNNING');
    assert.equal(states[stopped.container], 'CONTAINER_EXITED');
    assert.equal(states[createdCtr], 'CONTAINER_CREATED');
    // Served again with no call from the kubelet.
    assert.equal(await node.echo('after'), 'after');

    // New IDs: the sandbox counter goes on past every N used before (the removed one's too), containers get new IDs.
    const next = await node.runPod('next');
    const n = (id: string) => Number(id.slice(id.lastIndexOf('#') + 1));
    assert.ok(n(next.pod) > Math.max(...[running, stopped, notReady, removed].map((p) => n(p.pod)), n(createdPod)), `${next.pod} reuses no N`);
    assert.ok(![running, stopped, notReady, removed].some((p) => p.container === next.container));
    assert.match(next.container, /^[0-9a-f]{64}$/);
  } finally {
    await node.close();
  }
});

test('a RUNNING container that cannot be served again after a restart is reported EXITED with reason RestoreFailed', async () => {
  const node = new Node(built);
  try {
    await node.start();
    const { container } = await node.runPod('lost');
    await node.kill();
    // The image's blobs removed by hand while the daemon was down: the image store forgets the image.
    const blobs = join(node.stateDir, 'images', 'blobs', 'sha256');
    for (const f of readdirSync(blobs)) rmSync(join(blobs, f));
    const cri = await node.start();
    const st = (await cri.runtime.ContainerStatus!({ container_id: container })).status;
    assert.equal(st.state, 'CONTAINER_EXITED');
    assert.equal(st.reason, 'RestoreFailed');
    assert.equal(st.exit_code, 1);
    assert.match(st.message, /could not serve the container again: .*image/);
    // Recorded: the next daemon reports the same exit.
    await node.kill();
    const again = (await (await node.start()).runtime.ContainerStatus!({ container_id: container })).status;
    assert.equal(again.finished_at, st.finished_at);
  } finally {
    await node.close();
  }
});

test('SIGTERM is a planned restart: no container exits, calls keep being answered across it', async () => {
  const node = new Node(built);
  try {
    await node.start();
    const pods = [];
    for (const name of ['p1', 'p2', 'p3']) pods.push(await node.runPod(name));
    const before = await relist(node.cri!);

    // A client calling all along, retrying across the gap; and a "kubelet" relisting, retrying likewise.
    let stop = false;
    let answered = 0;
    let refused = 0;
    const wrong: string[] = [];
    const caller = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          const text = `n${i}`;
          if ((await node.echo(text, 2000)) !== text) wrong.push(text);
          answered++;
        } catch (err) {
          refused++;
          if ((err as grpc.ServiceError).code !== grpc.status.UNAVAILABLE) wrong.push(String(err));
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    })();
    const seen = new Set<string>();
    const relister = (async () => {
      while (!stop) {
        const c = criClient(node.socket);
        try {
          for (const ctr of (await c.runtime.ListContainers!({}, { deadlineMs: 2000 })).containers as Msg[]) seen.add(`${ctr.id}:${ctr.state}`);
        } catch {
          // The restart gap: the kubelet's relist fails and is retried.
        } finally {
          c.close();
        }
        await new Promise((r) => setTimeout(r, 30));
      }
    })();

    await new Promise((r) => setTimeout(r, 300));
    const answeredBefore = answered;
    node.cri!.close();
    const exit = await node.d!.stop('SIGTERM');
    assert.equal(exit.code, 0, node.d!.logs());
    await node.start();
    const answeredAtRestart = answered;
    while (answered < answeredAtRestart + 5) await new Promise((r) => setTimeout(r, 50));
    stop = true;
    await Promise.all([caller, relister]);

    assert.deepEqual(wrong, []);
    assert.ok(answeredBefore > 0, 'calls were answered before the restart');
    assert.deepEqual([...seen].sort(), pods.map((p) => `${p.container}:CONTAINER_RUNNING`).sort(), 'the kubelet saw only RUNNING, never an exit');
    assert.deepEqual(await relist(node.cri!), before, 'nothing changed: same states, started_at, no finished_at');
    console.log(`planned restart: ${answered} calls answered, ${refused} refused during the gap (and retried)`);
  } finally {
    await node.close();
  }
});

test('a second daemon on the same state dir is refused with a clear error, the first undisturbed', async () => {
  const first = await startDaemon();
  try {
    const r = spawnSync(process.execPath, [WORKD_BIN, 'serve', '--cri-socket', join(first.dir, 'other.sock'), '--state-dir', first.stateDir, '--listen', '127.0.0.1:0'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`state dir ${first.stateDir}/state is in use by workd pid ${first.ready.pid}`));
    const cri = criClient(first.criSocket);
    assert.equal((await cri.runtime.Version!({})).runtime_name, 'workd');
    cri.close();
  } finally {
    await first.stop();
  }
});

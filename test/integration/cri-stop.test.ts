// StopContainer over the real socket while a data-plane call is in flight:
// the container leaves the component map first, then drains for its timeout.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { containerConfig, podConfig, type CriClient } from '../helpers/cri-client.js';
import { startComponentNode, type ComponentNode } from '../helpers/component-node.js';

const COMPONENT = 'stop.example:s.Svc@1.0.0';
const PROTO = 'syntax = "proto3";\npackage s;\nservice Svc {\n  rpc Echo(M) returns (M);\n  rpc Loop(M) returns (M);\n}\nmessage M { string text = 1; }\n';
const CPU_MS = 1500;
let n: ComponentNode;
let cri: CriClient;
let image: string;

before(async () => {
  n = await startComponentNode({ component: COMPONENT, proto: PROTO, daemon: { configToml: `[executor]\ncpu_ms_per_call = ${CPU_MS}\n` } });
  ({ cri, image } = n);
});
after(() => n?.close());

/** A raw data-plane call; resolves with its status (never rejects). */
const call = (method: string) => n.call(`/s.Svc/${method}`, Buffer.alloc(0));

async function running(): Promise<{ pod: string; id: string }> {
  const config = podConfig(COMPONENT);
  const { pod_sandbox_id: pod } = await cri.runtime.RunPodSandbox!({ config });
  const { container_id: id } = await cri.runtime.CreateContainer!({ pod_sandbox_id: pod, config: containerConfig(image), sandbox_config: config });
  await cri.runtime.StartContainer!({ container_id: id });
  assert.equal((await call('Echo')).code, 0, 'the container serves calls');
  return { pod, id };
}

async function untilInFlight(id: string): Promise<void> {
  for (;;) {
    const info = JSON.parse((await cri.runtime.ContainerStatus!({ container_id: id, verbose: true })).info.info);
    if (info.inFlight > 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('timeout 0: the in-flight call is cut off by the stop', async () => {
  const { pod, id } = await running();
  const inFlight = call('Loop');
  await untilInFlight(id);
  await cri.runtime.StopContainer!({ container_id: id, timeout: 0 });
  const r = await inFlight;
  assert.equal(r.code, grpc.status.UNAVAILABLE);
  assert.match(r.details, /was stopped/);
  assert.equal((await cri.runtime.ContainerStatus!({ container_id: id })).status.state, 'CONTAINER_EXITED');
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: pod });
});

test('a long timeout: the stop waits for the in-flight call, and new calls no longer reach the container', async () => {
  const { pod, id } = await running();
  const inFlight = call('Loop');
  await untilInFlight(id);
  const stopping = cri.runtime.StopContainer!({ container_id: id, timeout: 60 });
  // While it drains, the container is out of the component map.
  for (;;) {
    const s = (await cri.runtime.ContainerStatus!({ container_id: id, verbose: true }));
    if (JSON.parse(s.info.info).state === 'STOPPING') break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const late = await call('Echo');
  assert.equal(late.code, grpc.status.UNAVAILABLE, 'no new call reaches a stopping container');
  await stopping;
  const r = await inFlight;
  assert.equal(r.code, grpc.status.RESOURCE_EXHAUSTED, 'the call ran to its own end (the CPU limit), not cut off by the stop');
  const s = (await cri.runtime.ContainerStatus!({ container_id: id })).status;
  assert.equal(s.state, 'CONTAINER_EXITED');
  assert.equal(s.reason, 'Completed');
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: pod });
});

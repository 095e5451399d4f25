// Stats, metrics and events as a client that is not ours reads them: Debian's
// python3-grpcio (gRPC C core) with python3-protobuf message classes built from
// proto/cri.proto's descriptors. It asks what crictl stats / statsp ask
// (ListContainerStats, ListPodSandboxStats with filters), what the kubelet's
// CRI stats provider and evented PLEG ask, and checks the answers.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { compileProtoFilesToBinary } from '../../src/images/proto-compile.js';
import { CRI_PROTO_PATH } from '../../src/cri/server.js';
import { containerConfig, podConfig, type CriClient } from '../helpers/cri-client.js';
import { startComponentNode, type ComponentNode } from '../helpers/component-node.js';
import type { TestDaemon } from '../helpers/daemon.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const haveGrpcio = spawnSync(PYTHON, ['-c', 'import grpc, google.protobuf'], { stdio: 'ignore' }).status === 0;
const COMPONENT = 'pystats.example:s.Svc@1.0.0';
const PROTO = 'syntax = "proto3";\npackage s;\nservice Svc {\n  rpc Echo(M) returns (M);\n}\nmessage M { string text = 1; }\n';

const CLIENT = String.raw`
import grpc, json, sys, threading, time
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
sock, fds, pod, ctr = sys.argv[1:5]
pool = descriptor_pool.DescriptorPool()
for f in descriptor_pb2.FileDescriptorSet.FromString(open(fds, 'rb').read()).file:
    pool.Add(f)
def cls(name):
    d = pool.FindMessageTypeByName('runtime.v1.' + name)
    get = getattr(message_factory, 'GetMessageClass', None)
    return get(d) if get else message_factory.MessageFactory(pool).GetPrototype(d)
ch = grpc.insecure_channel('unix://' + sock)
def rpc(method, req, resp, body, stream=False):
    Req, Resp = cls(req), cls(resp)
    make = ch.unary_stream if stream else ch.unary_unary
    f = make('/runtime.v1.RuntimeService/' + method, request_serializer=lambda m: m.SerializeToString(), response_deserializer=Resp.FromString)
    r = f(json_format.ParseDict(body, Req()))
    return r if stream else json_format.MessageToDict(r, preserving_proto_field_name=True)
out = {}
out['list'] = rpc('ListContainerStats', 'ListContainerStatsRequest', 'ListContainerStatsResponse', {})
out['byPod'] = rpc('ListContainerStats', 'ListContainerStatsRequest', 'ListContainerStatsResponse', {'filter': {'pod_sandbox_id': pod}})
out['byLabel'] = rpc('ListContainerStats', 'ListContainerStatsRequest', 'ListContainerStatsResponse', {'filter': {'label_selector': {'tier': 'none'}}})
out['one'] = rpc('ContainerStats', 'ContainerStatsRequest', 'ContainerStatsResponse', {'container_id': ctr[:13]})
out['pods'] = rpc('ListPodSandboxStats', 'ListPodSandboxStatsRequest', 'ListPodSandboxStatsResponse', {'filter': {'id': pod}})
out['pod'] = rpc('PodSandboxStats', 'PodSandboxStatsRequest', 'PodSandboxStatsResponse', {'pod_sandbox_id': pod})
out['descriptors'] = rpc('ListMetricDescriptors', 'ListMetricDescriptorsRequest', 'ListMetricDescriptorsResponse', {})
out['metrics'] = rpc('ListPodSandboxMetrics', 'ListPodSandboxMetricsRequest', 'ListPodSandboxMetricsResponse', {})
events = []
stream = rpc('GetContainerEvents', 'GetEventsRequest', 'ContainerEventResponse', {}, stream=True)
def read():
    try:
        for e in stream:
            events.append(json_format.MessageToDict(e, preserving_proto_field_name=True))
            if len(events) == 2: return
    except grpc.RpcError:
        pass
t = threading.Thread(target=read); t.start()
time.sleep(0.3)
rpc('StopContainer', 'StopContainerRequest', 'StopContainerResponse', {'container_id': ctr, 'timeout': 0})
rpc('RemoveContainer', 'RemoveContainerRequest', 'RemoveContainerResponse', {'container_id': ctr})
t.join(10); stream.cancel()
out['events'] = events
print(json.dumps(out))
`;

let n: ComponentNode;
let d: TestDaemon;
let cri: CriClient;
let image: string;

before(async () => {
  n = await startComponentNode({ component: COMPONENT, proto: PROTO });
  ({ d, cri, image } = n);
});
after(() => n?.close());

const call = async (method: string, body: Buffer) => (await n.call(`/s.Svc/${method}`, body)).code;

test('python3-grpcio reads container and sandbox stats, metrics and events', { skip: !haveGrpcio && 'python3-grpcio (Debian) is not installed' }, async () => {
  const config = podConfig(COMPONENT, { logDirectory: join(d.dir, 'logs', 'pystats') });
  const { pod_sandbox_id: pod } = await cri.runtime.RunPodSandbox!({ config });
  const { container_id: ctr } = await cri.runtime.CreateContainer!({ pod_sandbox_id: pod, config: containerConfig(image, { logPath: 'main/0.log' }), sandbox_config: config });
  await cri.runtime.StartContainer!({ container_id: ctr });
  const message = Buffer.from([0x0a, 3, 0x68, 0x69, 0x21]); // M { text: "hi!" }
  for (let i = 0; i < 20; i++) assert.equal(await call('Echo', message), 0);
  assert.equal(await call('Nope', message), grpc.status.UNIMPLEMENTED);

  const fds = join(d.dir, 'cri.fds');
  await writeFile(fds, compileProtoFilesToBinary([CRI_PROTO_PATH]));
  const { stdout } = await run(PYTHON, ['-c', CLIENT, d.criSocket, fds, pod, ctr], { timeout: 60_000 });
  const out = JSON.parse(stdout);

  // crictl stats: one row per container, CPU (cumulative and rate), memory, writable layer.
  const mine = out.list.stats.filter((s: { attributes: { id: string } }) => s.attributes.id === ctr);
  assert.equal(mine.length, 1);
  const s = mine[0];
  assert.equal(s.attributes.metadata.name, 'main');
  assert.ok(Number(s.cpu.usage_core_nano_seconds.value) > 0, 'real CPU time of 20 calls');
  assert.ok(Number(s.cpu.usage_core_nano_seconds.value) < 20 * 1e9, 'CPU time, not something absurd');
  assert.ok('usage_nano_cores' in s.cpu, 'a rate');
  assert.ok(BigInt(s.cpu.timestamp) > 1_600_000_000_000_000_000n);
  assert.ok(Number(s.memory.working_set_bytes.value) > 0, 'the memory one call holds');
  assert.equal(s.writable_layer.used_bytes?.value ?? '0', '0');
  assert.equal(s.writable_layer.fs_id.mountpoint, d.stateDir);
  assert.deepEqual(out.byPod.stats.map((x: { attributes: { id: string } }) => x.attributes.id), [ctr], 'pod_sandbox_id filter');
  assert.equal(out.byLabel.stats ?? undefined, undefined, 'a label selector nothing matches lists nothing');
  assert.equal(out.one.stats.attributes.id, ctr, 'ContainerStats by a 13-character prefix');

  // crictl statsp: the sandbox is the sum of its containers.
  assert.equal(out.pods.stats.length, 1);
  const p = out.pod.stats;
  assert.equal(p.attributes.id, pod);
  assert.equal(p.attributes.metadata.uid, config.metadata.uid);
  assert.equal(p.linux.containers.length, 1);
  assert.ok(Number(p.linux.cpu.usage_core_nano_seconds.value) >= Number(s.cpu.usage_core_nano_seconds.value));

  // Metrics: calls by status code from the data plane's counters.
  const names = out.descriptors.descriptors.map((x: { name: string }) => x.name);
  assert.ok(names.includes('workd_container_calls_total'));
  const pm = out.metrics.pod_metrics.find((x: { pod_sandbox_id: string }) => x.pod_sandbox_id === pod);
  const cm = pm.container_metrics.find((x: { container_id: string }) => x.container_id === ctr).metrics;
  const calls = cm.filter((m: { name: string }) => m.name === 'workd_container_calls_total');
  assert.deepEqual(calls.map((m: { label_values: string[]; value: { value: string } }) => [m.label_values[0], m.value.value]), [['OK', '20']], 'the UNIMPLEMENTED call reached no container');
  assert.ok(Number(cm.find((m: { name: string }) => m.name === 'workd_container_request_bytes_total').value.value) >= 20 * 5);

  // Events, as the evented PLEG gets them.
  assert.deepEqual(out.events.map((e: { container_event_type: string }) => e.container_event_type), ['CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT']);
  assert.equal(out.events[0].pod_sandbox_status.metadata.uid, config.metadata.uid);
  assert.equal(out.events[0].containers_statuses[0].state, 'CONTAINER_EXITED');
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: pod });
});

// The kubelet's own call sequence for one pod, over the real socket, with the
// requests it builds and the checks it makes (read from kubernetes/kubernetes
// pkg/kubelet/kuberuntime: kuberuntime_manager.go computePodActions/SyncPod,
// util/util.go PodSandboxChanged, kuberuntime_container.go, kuberuntime_gc.go,
// pleg/generic.go): start-up checks; SyncPod with the labels and annotations
// the kubelet sets; PLEG relists; two restarts in one sandbox; a sandbox change
// with a new attempt; garbage collection; deletion. The data plane must answer
// from the running container throughout.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { join } from 'node:path';
import { componentLabels, type CriClient, type Msg } from '../helpers/cri-client.js';
import { startComponentNode, type ComponentNode } from '../helpers/component-node.js';
import type { TestDaemon } from '../helpers/daemon.js';

const COMPONENT = 'kubelet.example:k.Svc@1.0.0';
const PROTO = 'syntax = "proto3";\npackage k;\nservice Svc {\n  rpc Echo(M) returns (M);\n}\nmessage M { string text = 1; }\n';
const POD = { name: 'web-7d4b9c', namespace: 'shop', uid: '5f0c2a9e-1b7d-4c38-9e51-0d2f6a7b8c91' };
const LOG_DIR_ROOT = 'logs';

let n: ComponentNode;
let d: TestDaemon;
let cri: CriClient;
let image: string;

before(async () => {
  n = await startComponentNode({ component: COMPONENT, proto: PROTO, tags: ['kubelet.example/k.svc:1.0.0'] });
  ({ d, cri, image } = n);
});
after(() => n?.close());

const echo = async () => (await n.call('/k.Svc/Echo', Buffer.from([0x0a, 2, 0x6f, 0x6b]))).code;

const logDir = () => join(d.dir, LOG_DIR_ROOT, `${POD.namespace}_${POD.name}_${POD.uid}`);

/** The PodSandboxConfig generatePodSandboxConfig builds for a pod without hostNetwork. */
function sandboxConfig(attempt: number): Msg {
  return {
    metadata: { ...POD, attempt },
    hostname: POD.name,
    log_directory: logDir(),
    dns_config: { servers: ['10.96.0.10'], searches: [`${POD.namespace}.svc.cluster.local`, 'svc.cluster.local', 'cluster.local'], options: ['ndots:5'] },
    port_mappings: [{ protocol: 'TCP', container_port: 8443 }],
    labels: { ...componentLabels(COMPONENT), app: 'web', 'io.kubernetes.pod.name': POD.name, 'io.kubernetes.pod.namespace': POD.namespace, 'io.kubernetes.pod.uid': POD.uid },
    annotations: { 'kubernetes.io/config.seen': '2026-12-03T12:00:00.000000000Z', 'kubernetes.io/config.source': 'api' },
    linux: {
      cgroup_parent: `/kubepods/burstable/pod${POD.uid}`,
      security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' }, run_as_user: null, seccomp: { profile_type: 'RuntimeDefault' } },
      overhead: {},
      resources: { cpu_period: '100000', cpu_quota: '50000', cpu_shares: '512', memory_limit_in_bytes: String(64 << 20) },
    },
  };
}

/** The ContainerConfig generateContainerConfig builds (restartCount = attempt). */
function containerConfig(attempt: number, uid: number | null): Msg {
  return {
    metadata: { name: 'web', attempt },
    image: { image, user_specified_image: 'kubelet.example/k.svc:1.0.0' },
    working_dir: '',
    envs: [
      { key: 'KUBERNETES_SERVICE_HOST', value: Buffer.from('10.96.0.1') },
      { key: 'KUBERNETES_SERVICE_PORT', value: Buffer.from('443') },
      { key: 'GREETING', value: Buffer.from('hello') },
    ],
    mounts: [
      { container_path: '/etc/hosts', host_path: `/var/lib/kubelet/pods/${POD.uid}/etc-hosts` },
      { container_path: '/dev/termination-log', host_path: `/var/lib/kubelet/pods/${POD.uid}/containers/web/${attempt}` },
      { container_path: '/var/run/secrets/kubernetes.io/serviceaccount', host_path: `/var/lib/kubelet/pods/${POD.uid}/volumes/kubernetes.io~projected/kube-api-access-x7k2p`, readonly: true },
    ],
    labels: { 'io.kubernetes.container.name': 'web', 'io.kubernetes.pod.name': POD.name, 'io.kubernetes.pod.namespace': POD.namespace, 'io.kubernetes.pod.uid': POD.uid },
    annotations: {
      'io.kubernetes.container.hash': '3d1f6c2a',
      'io.kubernetes.container.restartCount': String(attempt),
      'io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
      'io.kubernetes.container.terminationMessagePolicy': 'File',
      'io.kubernetes.pod.terminationGracePeriod': '30',
      'io.kubernetes.container.ports': '[{"containerPort":8443,"protocol":"TCP"}]',
    },
    log_path: `web/${attempt}.log`,
    linux: {
      resources: { cpu_period: '100000', cpu_quota: '50000', cpu_shares: '512', memory_limit_in_bytes: String(64 << 20), oom_score_adj: '999' },
      security_context: {
        // runAsNonRoot without runAsUser: the kubelet passes the image's user (ImageStatus uid) as run_as_user.
        run_as_user: uid === null ? null : { value: String(uid) },
        namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
        seccomp: { profile_type: 'RuntimeDefault' },
        no_new_privs: true,
        capabilities: { drop_capabilities: ['ALL'] },
        masked_paths: ['/proc/kcore', '/proc/keys'],
        readonly_paths: ['/proc/bus', '/proc/sys'],
      },
    },
  };
}

/** What the generic PLEG's relist and getPodContainerStatuses read for the pod. */
async function relist() {
  const sandboxes = (await cri.runtime.ListPodSandbox!({ filter: { label_selector: { 'io.kubernetes.pod.uid': POD.uid } } })).items as Msg[];
  const statuses = await Promise.all(sandboxes.map(async (s) => (await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: s.id })).status));
  statuses.sort((a, b) => (BigInt(b.created_at) > BigInt(a.created_at) ? 1 : -1)); // newest first, as the kubelet sorts them
  const containers = (await cri.runtime.ListContainers!({ filter: { label_selector: { 'io.kubernetes.pod.uid': POD.uid } } })).containers as Msg[];
  const cstatuses = await Promise.all(containers.map(async (c) => (await cri.runtime.ContainerStatus!({ container_id: c.id })).status));
  cstatuses.sort((a, b) => (BigInt(b.created_at) > BigInt(a.created_at) ? 1 : -1));
  return { sandboxes: statuses, containers: cstatuses };
}

/** PodSandboxChanged (util.go) for a pod without hostNetwork: [changed, attempt]. */
function podSandboxChanged(sandboxes: Msg[]): [boolean, number] {
  if (sandboxes.length === 0) return [true, 0];
  const ready = sandboxes.filter((s) => s.state === 'SANDBOX_READY').length;
  const maxAttempt = Math.max(...sandboxes.map((s) => s.metadata.attempt));
  const s = sandboxes[0]!;
  if (ready > 1) return [true, maxAttempt + 1];
  if (s.state !== 'SANDBOX_READY') return [true, maxAttempt + 1];
  if ((s.linux?.namespaces?.options?.network ?? 'POD') !== 'POD') return [true, maxAttempt + 1];
  if (s.network && s.network.ip === '') return [true, maxAttempt + 1];
  return [false, maxAttempt];
}

/** The kubelet's restart of a dead or failing container: kill it, then create and start attempt+1 in the same sandbox. */
async function restart(sandboxId: string, running: string, attempt: number, uid: number): Promise<string> {
  await cri.runtime.StopContainer!({ container_id: running, timeout: 30 });
  const { container_id } = await cri.runtime.CreateContainer!({ pod_sandbox_id: sandboxId, config: containerConfig(attempt, uid), sandbox_config: sandboxConfig(0) });
  await cri.runtime.StartContainer!({ container_id });
  return container_id;
}

test('one pod through the kubelet: start-up, SyncPod, relists, two restarts, a sandbox change, GC and deletion', async () => {
  // Start-up checks (kubelet.go, kuberuntime_manager.go NewKubeGenericRuntimeManager).
  const v = await cri.runtime.Version!({ version: '0.1.0' });
  assert.equal(v.runtime_api_version, 'v1');
  assert.equal(v.runtime_name, 'workd');
  const st = await cri.runtime.Status!({ verbose: false });
  for (const cond of ['RuntimeReady', 'NetworkReady']) assert.equal(st.status.conditions.find((c: Msg) => c.type === cond)?.status, true, cond);
  assert.ok(['SYSTEMD', 'CGROUPFS'].includes((await cri.runtime.RuntimeConfig!({})).linux.cgroup_driver));
  assert.ok((await cri.image.ImageFsInfo!({})).image_filesystems.length >= 1);
  await cri.runtime.UpdateRuntimeConfig!({ runtime_config: { network_config: { pod_cidr: '10.244.1.0/24' } } });

  // SyncPod: no sandbox yet → RunPodSandbox attempt 0.
  assert.deepEqual(podSandboxChanged((await relist()).sandboxes), [true, 0]);
  const { pod_sandbox_id: sb0 } = await cri.runtime.RunPodSandbox!({ config: sandboxConfig(0) });
  const sbStatus = (await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: sb0 })).status;
  assert.ok(sbStatus.network.ip !== '', 'the pod IP the kubelet reports in the pod status');
  // The image: ImageStatus, and the user runAsNonRoot is checked against (verifyRunAsNonRoot).
  const imgStatus = (await cri.image.ImageStatus!({ image: { image } })).image;
  const uid = Number(imgStatus.uid.value);
  assert.ok(uid > 0 && imgStatus.username === '', 'a numeric non-root user: runAsNonRoot pods may start');
  const { container_id: c0 } = await cri.runtime.CreateContainer!({ pod_sandbox_id: sb0, config: containerConfig(0, uid), sandbox_config: sandboxConfig(0) });
  assert.match(c0, /^[0-9a-f]{64}$/, 'the kubelet builds /var/log/containers/<pod>_<ns>_<ctr>-<ID>.log from it');
  await cri.runtime.StartContainer!({ container_id: c0 });
  assert.equal(await echo(), 0);

  // PLEG relists: no churn — the sandbox is what the kubelet asked for, so it is kept, sync after sync.
  for (let i = 0; i < 3; i++) {
    const r = await relist();
    assert.deepEqual(podSandboxChanged(r.sandboxes), [false, 0], `relist ${i}: PodSandboxChanged stays false`);
    assert.equal(r.sandboxes.length, 1);
    const c = r.containers[0];
    assert.equal(c.state, 'CONTAINER_RUNNING');
    assert.equal(c.labels['io.kubernetes.container.name'], 'web');
    assert.equal(c.annotations['io.kubernetes.container.hash'], '3d1f6c2a', 'the hash the kubelet compares to decide on a restart');
    assert.equal(c.annotations['io.kubernetes.container.restartCount'], '0');
    assert.equal(c.log_path, join(logDir(), 'web/0.log'));
    assert.match(c.image_ref, /@sha256:[0-9a-f]{64}$/, "ContainerStatus.image_ref is a repo digest (the pod status' imageID), as containerd reports it");
    const listed = (await cri.runtime.ListContainers!({ filter: { id: c.id } })).containers[0];
    assert.equal(listed.image_ref, imgStatus.id, "ListContainers' image_ref is the image ID (the image GC's in-use check)");
  }
  const stats = (await cri.runtime.ListContainerStats!({ filter: { pod_sandbox_id: sb0 } })).stats as Msg[];
  assert.deepEqual(stats.map((s) => s.attributes.id), [c0], 'the summary API lists the container');
  assert.equal((await cri.runtime.ListPodSandboxStats!({ filter: { label_selector: { 'io.kubernetes.pod.uid': POD.uid } } })).stats.length, 1);

  // Two restarts in one sandbox (a failed liveness probe, twice).
  const c1 = await restart(sb0, c0, 1, uid);
  assert.equal(await echo(), 0, 'the data plane answers from the new container');
  const c2 = await restart(sb0, c1, 2, uid);
  assert.equal(await echo(), 0);
  let r = await relist();
  assert.deepEqual(podSandboxChanged(r.sandboxes), [false, 0], 'a restart does not change the sandbox');
  assert.deepEqual(r.containers.map((c: Msg) => [c.metadata.attempt, c.state]), [[2, 'CONTAINER_RUNNING'], [1, 'CONTAINER_EXITED'], [0, 'CONTAINER_EXITED']]);
  for (const dead of r.containers.slice(1)) {
    assert.equal(dead.exit_code, 0);
    assert.equal(dead.reason, 'Completed');
    assert.ok(BigInt(dead.finished_at) >= BigInt(dead.started_at) && BigInt(dead.started_at) > 0n);
    assert.equal(dead.log_path, join(logDir(), `web/${dead.metadata.attempt}.log`));
  }
  assert.equal(new Set([c0, c1, c2]).size, 3);

  // Container GC (kuberuntime_gc.go evictContainers): keep at most one dead container per name, oldest removed first.
  await cri.runtime.RemoveContainer!({ container_id: c0 });
  r = await relist();
  assert.deepEqual(r.containers.map((c: Msg) => c.id), [c2, c1]);

  // A sandbox change: the kubelet kills the pod (containers, then the sandbox) and runs attempt 1.
  await cri.runtime.StopContainer!({ container_id: c2, timeout: 30 });
  await cri.runtime.StopPodSandbox!({ pod_sandbox_id: sb0 });
  r = await relist();
  const [changed, attempt] = podSandboxChanged(r.sandboxes);
  assert.deepEqual([changed, attempt], [true, 1], 'a stopped sandbox: a new one with the next attempt');
  const { pod_sandbox_id: sb1 } = await cri.runtime.RunPodSandbox!({ config: sandboxConfig(attempt) });
  assert.notEqual(sb1, sb0, 'a new sandbox ID (the counter is never reused)');
  const { container_id: c3 } = await cri.runtime.CreateContainer!({ pod_sandbox_id: sb1, config: containerConfig(3, uid), sandbox_config: sandboxConfig(attempt) });
  await cri.runtime.StartContainer!({ container_id: c3 });
  assert.equal(await echo(), 0);
  r = await relist();
  assert.deepEqual(podSandboxChanged(r.sandboxes), [false, 1], 'the newest sandbox is ready: no further change');
  assert.equal(r.sandboxes[0].id, sb1);

  // GC of the old sandbox: its dead containers, then the sandbox (not ready, no containers).
  for (const c of (await cri.runtime.ListContainers!({ filter: { pod_sandbox_id: sb0 } })).containers as Msg[]) await cri.runtime.RemoveContainer!({ container_id: c.id });
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: sb0 });
  r = await relist();
  assert.deepEqual(r.sandboxes.map((s: Msg) => s.id), [sb1]);
  assert.deepEqual(r.containers.map((c: Msg) => c.id), [c3]);

  // Deletion: KillPod (StopContainer with the grace period, StopPodSandbox), then GC removes everything.
  await cri.runtime.StopContainer!({ container_id: c3, timeout: 30 });
  await cri.runtime.StopPodSandbox!({ pod_sandbox_id: sb1 });
  assert.equal(await echo(), grpc.status.UNAVAILABLE, 'nothing runs: the data plane says so');
  await cri.runtime.RemoveContainer!({ container_id: c3 });
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: sb1 });
  // The kubelet repeats these; they stay OK.
  await cri.runtime.StopPodSandbox!({ pod_sandbox_id: sb1 });
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: sb1 });
  r = await relist();
  assert.deepEqual([r.sandboxes.length, r.containers.length], [0, 0]);
});

test('what a component cannot honour is refused naming it, not ignored', async () => {
  const { pod_sandbox_id: sb } = await cri.runtime.RunPodSandbox!({ config: { ...sandboxConfig(0), metadata: { ...POD, name: 'refusals', uid: 'refusals-uid', attempt: 0 } } });
  const base = containerConfig(0, 65532);
  const cases: Array<[string, Msg, RegExp]> = [
    ['a ConfigMap volume', { ...base, mounts: [...base.mounts, { container_path: '/etc/config', host_path: '/var/lib/kubelet/pods/x/volumes/kubernetes.io~configmap/cfg', readonly: true }] }, /"\/etc\/config".*no filesystem.*environment variables/],
    ['privileged', { ...base, linux: { ...base.linux, security_context: { ...base.linux.security_context, privileged: true } } }, /privileged/],
    ['added capabilities', { ...base, linux: { ...base.linux, security_context: { ...base.linux.security_context, capabilities: { add_capabilities: ['NET_ADMIN'] } } } }, /NET_ADMIN/],
    ['a Localhost seccomp profile', { ...base, linux: { ...base.linux, security_context: { ...base.linux.security_context, seccomp: { profile_type: 'Localhost', localhost_ref: 'profiles/audit.json' } } } }, /seccomp profile Localhost "profiles\/audit\.json"/],
    ['SELinux options', { ...base, linux: { ...base.linux, security_context: { ...base.linux.security_context, selinux_options: { level: 's0:c123,c456' } } } }, /SELinux/],
  ];
  for (const [what, config, re] of cases) {
    const err = await cri.runtime.CreateContainer!({ pod_sandbox_id: sb, config, sandbox_config: sandboxConfig(0) }).then(() => undefined, (e: grpc.ServiceError) => e);
    assert.ok(err, `${what} was accepted`);
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT, what);
    assert.match(err.details, re, what);
  }
  assert.deepEqual((await cri.runtime.ListContainers!({ filter: { pod_sandbox_id: sb } })).containers, [], 'nothing was half-created');
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: sb });
});

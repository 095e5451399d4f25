// Pod networks across the faults the kubelet and a node meet, over the real CRI
// socket with Debian's CNI plugins: a RunPodSandbox retried after its answer was
// lost (as the kubelet retries after its deadline), a daemon killed between ADD
// and the sandbox record, and a reboot's emptied /run/netns.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { containerConfig, criClient, criError, importImage, podConfig, type CriClient, type Msg } from '../helpers/cri-client.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { until } from '../helpers/wait.js';
import { CNI_BIN, cniUnavailable, makeBridgeNetwork, run, type TestNetwork } from '../helpers/netns.js';
import { COMPONENT as KITCHEN, kitchenImage } from '../helpers/node.js';

const skip = cniUnavailable();
const COMPONENT = 'example.com:net.Recover@1.0.0';


describe('pod networks across retries, crashes and reboots', { skip }, () => {
  let dir: string;
  let net: TestNetwork;
  let fakeBin: string;
  let stateDir: string;
  let daemon: TestDaemon;
  let cri: CriClient;
  const gate = () => join(dir, 'gate-open');
  const armed = () => join(dir, 'crash-armed');
  const toml = () => `[cni]\nenabled = true\nconf_dir = "${net.confDir}"\nbin_dir = "${CNI_BIN}"\nextra_bin_dirs = ["${fakeBin}"]\nplugin_timeout_ms = 30000\n`;
  const start = async () => {
    daemon = await startDaemon({ stateDir, configToml: toml(), logLevel: 'info' });
    cri = criClient(daemon.criSocket);
  };
  const kill9 = async () => {
    cri.close();
    daemon.process.kill('SIGKILL');
    await daemon.stop();
  };
  const writeConflist = (last: string) => writeFileSync(join(net.confDir, '10-test.conflist'), JSON.stringify({ ...net.conflist, plugins: [(net.conflist.plugins as unknown[])[0], { type: last }] }));
  const loaded = (types: string[]) => until(`CNI list ${types.join(', ')} loaded`, async () => JSON.stringify(JSON.parse((await cri.runtime.Status!({ verbose: true })).info.cniconfig).network?.plugins) === JSON.stringify(types));
  const leased = () => net.leased();
  const pending = () => (existsSync(join(stateDir, 'cni-pending')) ? readdirSync(join(stateDir, 'cni-pending')) : []);
  const bridgePorts = async () => (await run('ip', ['-o', 'link', 'show', 'master', net.bridge])).stdout.trim();
  const listed = async () => (await cri.runtime.ListPodSandbox!({})).items as Msg[];
  const status = async (pod: string) => cri.runtime.PodSandboxStatus!({ pod_sandbox_id: pod, verbose: true });
  const restoreLog = () => daemon.waitForLog((r) => r.msg === 'checked the networks of restored pods', 15_000);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'workd-cnirecover-'));
    stateDir = join(dir, 'state');
    fakeBin = join(dir, 'bin');
    mkdirSync(fakeBin);
    // Debian's loopback plugin, run late: it waits until the test opens the gate (an ADD still
    // running when the caller's deadline passes, as a slow IPAM or a loaded node makes it).
    writeFileSync(join(fakeBin, 'gated-loopback'), `#!/bin/sh\nif [ "$CNI_COMMAND" = ADD ]; then while [ ! -e '${gate()}' ]; do sleep 0.05; done; fi\nexec '${CNI_BIN}/loopback'\n`);
    // The fault no real plugin makes: the daemon (its pid in the armed file) dies after the bridge's
    // ADD allocated the pod's address and veth, before RunPodSandbox could record the sandbox.
    writeFileSync(join(fakeBin, 'crash-loopback'), `#!/bin/sh\nif [ "$CNI_COMMAND" = ADD ] && [ -e '${armed()}' ]; then pid=$(cat '${armed()}'); rm -f '${armed()}'; kill -9 $pid; sleep 30; fi\nexec '${CNI_BIN}/loopback'\n`);
    for (const f of ['gated-loopback', 'crash-loopback']) chmodSync(join(fakeBin, f), 0o755);
    net = await makeBridgeNetwork(dir);
    await start();
  });
  after(async () => {
    cri?.close();
    await daemon?.stop();
    await net.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a RunPodSandbox retried while the first still sets up is refused at once without running CNI; the first finishes and ListPodSandbox shows it', async () => {
    writeConflist('gated-loopback');
    await loaded(['bridge', 'gated-loopback']);
    const config = podConfig(COMPONENT, { name: 'retried' });
    // The caller gives up (the kubelet's deadline); the daemon goes on.
    const lost = await criError(cri.runtime.RunPodSandbox!({ config }, { deadlineMs: 500 }));
    assert.equal(lost.code, grpc.status.DEADLINE_EXCEEDED);
    await until('the first ADD\'s lease', async () => leased().length === 1);
    const retry = await criError(cri.runtime.RunPodSandbox!({ config }));
    assert.equal(retry.code, grpc.status.FAILED_PRECONDITION);
    assert.match(retry.details, /failed to reserve sandbox name default\/retried \(uid ".*", attempt 0\): it is reserved for a RunPodSandbox still in progress \(sandbox key [0-9a-f]{64}\)/);
    assert.equal(leased().length, 1, 'the retry ran no ADD');
    assert.deepEqual(await listed(), [], 'nothing is listed while the first call sets up');

    writeFileSync(gate(), '');
    // As the kubelet finds it on its next sync: by ListPodSandbox (its pod UID label), READY with an address.
    await until('the first sandbox listed', async () => (await listed()).length === 1);
    const [pod] = await listed();
    assert.equal(pod!.state, 'SANDBOX_READY');
    const ip = (await status(pod!.id)).status.network.ip as string;
    assert.deepEqual(leased(), [ip]);
    assert.deepEqual(pending(), [], 'the pending note went with the record');

    // A retry once it is done: the same answer, naming the sandbox; still nothing run.
    const again = await criError(cri.runtime.RunPodSandbox!({ config }));
    assert.equal(again.code, grpc.status.FAILED_PRECONDITION);
    assert.match(again.details, new RegExp(`it is reserved for pod sandbox ${pod!.id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    assert.deepEqual(leased(), [ip]);
    await cri.runtime.StopPodSandbox!({ pod_sandbox_id: pod!.id });
    await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: pod!.id });
    assert.deepEqual(leased(), []);
  });

  test('a daemon killed between ADD and the sandbox record: the next start runs DEL and removes the namespace', async () => {
    writeConflist('crash-loopback');
    await loaded(['bridge', 'crash-loopback']);
    writeFileSync(armed(), String(daemon.process.pid));
    const config = podConfig(COMPONENT, { name: 'crashed' });
    const died = await criError(cri.runtime.RunPodSandbox!({ config }));
    assert.ok([grpc.status.UNAVAILABLE, grpc.status.INTERNAL, grpc.status.UNKNOWN].includes(died.code), `the daemon died mid-call: ${died.code} ${died.details}`);
    await kill9();
    // What the crash left: the bridge's lease and veth, the namespace, and the pending note naming its key.
    const [key] = pending();
    assert.match(key ?? '', /^[0-9a-f]{64}$/);
    assert.ok(existsSync(`/run/netns/workd-${key}`), 'the namespace outlived the daemon');
    assert.equal(leased().length, 1);
    assert.notEqual(await bridgePorts(), '', 'the pod\'s veth is on the bridge');

    await start();
    const log = await restoreLog();
    assert.deepEqual(log.unrecorded, { leaked: 1, collected: 1, failed: 0 });
    assert.ok(!existsSync(`/run/netns/workd-${key}`), 'the namespace is removed');
    assert.deepEqual(leased(), [], 'DEL released the address');
    assert.equal(await bridgePorts(), '', 'and the veth');
    assert.deepEqual(pending(), []);
    assert.deepEqual(await listed(), []);
    // The name was never recorded: the kubelet's retry now runs.
    const pod = (await cri.runtime.RunPodSandbox!({ config })).pod_sandbox_id as string;
    assert.equal(leased().length, 1);
    await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: pod });
    assert.deepEqual(leased(), []);
  });

  test('after a reboot (an emptied /run/netns) a restored pod is NOTREADY with its container exited, not ready without a network, and its address is released', async () => {
    writeConflist('loopback');
    await loaded(['bridge', 'loopback']);
    const built = await kitchenImage();
    const image = await importImage(cri, built.dir);
    await built.cleanup();
    const config = podConfig(KITCHEN, { name: 'rebooted' });
    const pod = (await cri.runtime.RunPodSandbox!({ config })).pod_sandbox_id as string;
    const { container_id: ctr } = await cri.runtime.CreateContainer!({ pod_sandbox_id: pod, config: containerConfig(image), sandbox_config: config });
    await cri.runtime.StartContainer!({ container_id: ctr });
    const key = JSON.parse((await status(pod)).info.info).key as string;
    assert.equal(leased().length, 1);
    await kill9();
    // A reboot empties the tmpfs under /run (and the veth goes with the namespace); host-local's leases on disk stay.
    await run('ip', ['netns', 'del', `workd-${key}`]);
    assert.equal(leased().length, 1);

    await start();
    const log = await restoreLog();
    assert.equal(log.lost, 1);
    const s = (await status(pod)).status;
    assert.equal(s.state, 'SANDBOX_NOTREADY');
    // As containerd's after a reboot: the kubelet sees the pod's containers exited and runs the pod again.
    assert.equal((await cri.runtime.ContainerStatus!({ container_id: ctr })).status.state, 'CONTAINER_EXITED');
    // DEL ran with no namespace (CNI_NETNS empty), as containerd's does: host-local released the lease.
    assert.deepEqual(leased(), []);
    await cri.runtime.StopPodSandbox!({ pod_sandbox_id: pod });
    await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: pod });
    assert.deepEqual(await listed(), []);
    assert.deepEqual((await cri.runtime.ListContainers!({})).containers, []);
  });
});

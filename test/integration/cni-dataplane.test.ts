// Clients in another network namespace reaching component pods by their own IPs
// through Debian's real CNI plugins (bridge, host-local, loopback): each pod
// answers from its own container even though both run the same component; a
// Service-style virtual IP DNAT'ed by iptables to the pods, each call answered by
// the pod its packets went to; and a daemon restart that keeps the pods' addresses
// serving.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { CniClient } from '../../src/network/cni/client.js';
import { loadConfigDir } from '../../src/network/cni/conflist.js';
import { randomHexId } from '../../src/pods/ids.js';
import { containerConfig, criClient, importImage, podConfig, type CriClient, type Msg } from '../helpers/cri-client.js';
import { WORKD_BIN, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { guest } from '../helpers/guests.js';
import { buildTestImage, type TestImage } from '../helpers/images.js';
import { CNI_BIN, cniUnavailable, makeBridgeNetwork, makeNetns, run, type TestNetns, type TestNetwork } from '../helpers/netns.js';

const skip = cniUnavailable() ?? (process.platform === 'linux' && !(await hasIptables()) ? 'missing iptables (Debian iptables, listed in .ci/run)' : undefined);
const COMPONENT = 'example.com:kitchen.Sink@1.0.0';
const PROTO = 'syntax = "proto3";\npackage kitchen;\nservice Sink {\n  rpc Echo(Raw) returns (Raw);\n  rpc Env(Raw) returns (Raw);\n}\nmessage Raw { bytes data = 1; }\n';
const CLIENT = fileURLToPath(new URL('../helpers/netns-grpc-client.js', import.meta.url));
const runLong = promisify(execFile);

async function hasIptables(): Promise<boolean> {
  return run('iptables', ['--version']).then(() => true, () => false);
}

describe('pod IPs served through real CNI plugins', { skip }, () => {
  let dir: string;
  let net: TestNetwork;
  let client: TestNetns;
  let clientCni: CniClient;
  const clientAttach = { containerId: randomHexId(), netns: '', ifname: 'eth0' };
  let image: TestImage;
  let daemon: TestDaemon;
  let cri: CriClient;
  let imageId = '';
  const stateDir = () => join(dir, 'state');
  const pods: { pod: string; ip: string; who: string }[] = [];

  const start = async () => {
    daemon = await startDaemon({ stateDir: stateDir(), configToml: `[cni]\nenabled = true\nconf_dir = "${net.confDir}"\nbin_dir = "${CNI_BIN}"\n`, args: ['--listen', `127.0.0.1:${daemon?.ready.tcpPort ?? 0}`], logLevel: 'info' });
    cri = criClient(daemon.criSocket);
  };
  /** Calls from the client namespace, each on a new connection; answers in order. */
  const callFrom = async (targets: string[], method = 'Env'): Promise<Msg[]> => {
    const calls = targets.map((target) => ({ target, authority: 'example.com', path: `/kitchen.Sink/${method}`, data: 'x' }));
    const { stdout } = await runLong('ip', ['netns', 'exec', client.name, process.execPath, CLIENT, JSON.stringify({ calls })], { timeout: 60_000 });
    return stdout.trim().split('\n').map((l) => JSON.parse(l) as Msg);
  };
  const whoOf = (answer: Msg): string => /WHO=([a-z]+)/.exec(String(answer.ok ?? ''))?.[1] ?? `error ${answer.code}: ${answer.details}`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'workd-cnidp-'));
    net = await makeBridgeNetwork(dir);
    // The client: a namespace of its own on the same bridge, attached by the same plugins.
    client = await makeNetns();
    clientCni = new CniClient(loadConfigDir(net.confDir).list!, { binDirs: [CNI_BIN], timeoutMs: 20_000 });
    Object.assign(clientAttach, { netns: client.path });
    await clientCni.add(clientAttach);
    image = await buildTestImage({ component: COMPONENT, wasm: await guest('kitchen'), proto: PROTO });
    await start();
    imageId = await importImage(cri, image.dir);
    for (const who of ['a', 'b']) {
      const config = podConfig(COMPONENT, { name: `pod-${who}` });
      const pod = (await cri.runtime.RunPodSandbox!({ config })).pod_sandbox_id as string;
      const { container_id } = await cri.runtime.CreateContainer!({ pod_sandbox_id: pod, config: containerConfig(imageId, { env: { WHO: who } }), sandbox_config: config });
      await cri.runtime.StartContainer!({ container_id });
      const ip = (await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: pod })).status.network.ip as string;
      pods.push({ pod, ip, who });
    }
  });
  after(async () => {
    for (const p of pods) {
      await cri?.runtime.StopPodSandbox!({ pod_sandbox_id: p.pod }).catch(() => undefined);
      await cri?.runtime.RemovePodSandbox!({ pod_sandbox_id: p.pod }).catch(() => undefined);
    }
    cri?.close();
    await daemon?.stop();
    await clientCni?.del(clientAttach).catch(() => undefined);
    await client?.remove();
    await net?.remove();
    await image?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a client in another namespace calls two pods of one component by their IPs; each answers from its own container', async () => {
    const port = daemon.ready.tcpPort;
    assert.notEqual(pods[0]!.ip, pods[1]!.ip);
    const order = [0, 1, 1, 0, 0, 1];
    const answers = await callFrom(order.map((i) => `${pods[i]!.ip}:${port}`));
    assert.deepEqual(answers.map(whoOf), order.map((i) => pods[i]!.who));
    // The node's own address is not the pods': the pod IP is what picked the container.
    const { stdout } = await run('ip', ['-n', client.name, '-4', 'route']);
    assert.match(stdout, new RegExp(net.subnet.replace(/\./g, '\\.')));
  });

  test('a Service: a virtual IP DNAT\'ed to the pod IPs by iptables in the client\'s namespace; each call is answered by the pod its packets went to', async () => {
    const port = daemon.ready.tcpPort;
    const vip = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    // The service range is routed as a node routes it (locally generated packets are routed before nat OUTPUT rewrites them).
    await run('ip', ['-n', client.name, 'route', 'add', `${vip}/32`, 'via', net.gateway]);
    const ipt = (args: string[]) => run('ip', ['netns', 'exec', client.name, 'iptables', '-w', '-t', 'nat', ...args]);
    // As kube-proxy's KUBE-SVC chain, with `nth` instead of `random` so the test knows which pod each connection was sent to.
    await ipt(['-A', 'OUTPUT', '-d', `${vip}/32`, '-p', 'tcp', '--dport', '80', '-m', 'statistic', '--mode', 'nth', '--every', '2', '--packet', '0', '-j', 'DNAT', '--to-destination', `${pods[0]!.ip}:${port}`]);
    await ipt(['-A', 'OUTPUT', '-d', `${vip}/32`, '-p', 'tcp', '--dport', '80', '-j', 'DNAT', '--to-destination', `${pods[1]!.ip}:${port}`]);
    const answers = await callFrom(Array.from({ length: 6 }, () => `${vip}:80`));
    assert.deepEqual(answers.map(whoOf), ['a', 'b', 'a', 'b', 'a', 'b']);
    const { stdout } = await ipt(['-L', 'OUTPUT', '-n', '-v', '-x']);
    const counts = [...stdout.matchAll(/^\s*(\d+)\s+\d+\s+DNAT/gm)].map((m) => Number(m[1]));
    assert.deepEqual(counts, [3, 3], 'each rule sent three connections');
  });

  test('a daemon restart (kill -9) keeps each pod\'s address, served by its own container again', async () => {
    const ipsBefore = pods.map((p) => p.ip);
    cri.close();
    daemon.process.kill('SIGKILL');
    await daemon.stop();
    await start();
    for (const p of pods) assert.equal((await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: p.pod })).status.network.ip, ipsBefore[pods.indexOf(p)]);
    const port = daemon.ready.tcpPort;
    const answers = await callFrom(pods.map((p) => `${p.ip}:${port}`));
    assert.deepEqual(answers.map(whoOf), ['a', 'b']);
  });
  test('HTTP/3 from the other namespace: QUIC to a pod\'s IP is that pod\'s (its UDP socket is from inside its namespace)', async () => {
    const port = daemon.ready.tcpPort;
    // The kitchen guest's Env answers raw bytes, which `workd call` cannot decode: Echo, with pod b's container stopped,
    // shows which pod answers — a node-wide router would hand b's call to a's running container.
    const ctr = (await cri.runtime.ListContainers!({ filter: { pod_sandbox_id: pods[1]!.pod } })).containers[0].id as string;
    await cri.runtime.StopContainer!({ container_id: ctr, timeout: 1 });
    const h3 = (ip: string) =>
      runLong('ip', ['netns', 'exec', client.name, process.execPath, WORKD_BIN, 'call', '--http3', '--insecure', '--authority', 'example.com', '--timeout', '20', `${ip}:${port}`, 'kitchen.Sink/Echo', '-d', '{"data":"aDM="}'], { timeout: 60_000 }).then(
        (r) => ({ ok: r.stdout }),
        (e: { stdout?: string; stderr?: string }) => ({ err: `${e.stdout ?? ''}${e.stderr ?? ''}` }),
      );
    const a = await h3(pods[0]!.ip);
    assert.deepEqual(JSON.parse((a as { ok: string }).ok ?? 'null'), { data: 'aDM=' }, JSON.stringify(a));
    const b = await h3(pods[1]!.ip);
    // Its reflection knows no service (workd call asks it first): b's address serves b's pod alone, which runs nothing.
    assert.ok('err' in b && /symbol "kitchen\.Sink" not found \(NOT_FOUND\)|UNAVAILABLE/.test(b.err), `pod b has no running container: ${JSON.stringify(b)}`);
  });
});

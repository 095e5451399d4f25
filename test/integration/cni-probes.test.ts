// The kubelet's probes against component pods with addresses of their own
// through Debian's real CNI plugins (bridge + host-local + loopback), from a
// client in ANOTHER network namespace (a veth on the pods' bridge), as the
// kubelet probes POD_IP:port: Python's grpcio (gRPC C core) calling
// grpc.health.v1.Health/Check in plaintext (the grpc probe), a TCP connect
// (tcpSocket), HTTP/1.1 GETs in cleartext and over TLS (httpGet), and a gRPC call over TLS — before and
// after StopContainer, on two pods of one component each answering from its
// own container. The daemon serves TLS: cleartext is taken on pod addresses only.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { containerConfig, criClient, importImage, podConfig, type CriClient } from '../helpers/cri-client.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { CNI_BIN, cniUnavailable, makeBridgeNetwork, makeNetns, run, uniqueName, type TestNetns, type TestNetwork } from '../helpers/netns.js';
import { COMPONENT, kitchenImage } from '../helpers/node.js';

const exec = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const haveGrpcio = spawnSync(PYTHON, ['-c', 'import grpc'], { stdio: 'ignore' }).status === 0;
const skip = cniUnavailable() ?? (haveGrpcio ? undefined : 'python3-grpcio (Debian) is not installed');

// Every probe of one address in one interpreter (grpcio takes a while to import): a JSON answer.
const PROBE = `
import json, socket, ssl, sys, urllib.request, grpc
host, port, cert = sys.argv[1], int(sys.argv[2]), sys.argv[3]
address = "%s:%d" % (host, port)
out = {}
def enc(s):
    b = s.encode()
    return b"\\x0a" + bytes([len(b)]) + b if b else b""
try:
    socket.create_connection((host, port), timeout=3).close()
    out["tcp"] = "connected"
except OSError as e:
    out["tcp"] = type(e).__name__
try:
    with urllib.request.urlopen("http://%s/healthz" % address, timeout=3) as r:
        out["http"] = [r.status, r.read().decode()]
except urllib.error.HTTPError as e:
    out["http"] = [e.code, e.read().decode()]
except OSError as e:
    out["http"] = type(getattr(e, "reason", e)).__name__
try:
    with urllib.request.urlopen("https://%s/healthz" % address, timeout=3, context=ssl._create_unverified_context()) as r:
        out["https"] = [r.status, r.read().decode()]
except urllib.error.HTTPError as e:
    out["https"] = [e.code, e.read().decode()]
except OSError as e:
    out["https"] = type(getattr(e, "reason", e)).__name__
out["health"] = {}
with grpc.insecure_channel(address) as ch:
    check = ch.unary_unary("/grpc.health.v1.Health/Check", request_serializer=enc, response_deserializer=lambda b: b)
    for service in ["", "kitchen.Sink", "nope.Nope"]:
        try:
            r = check(service, timeout=3)
            out["health"][service] = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"][r[1] if r else 0]
        except grpc.RpcError as e:
            out["health"][service] = "error " + e.code().name
creds = grpc.ssl_channel_credentials(root_certificates=open(cert, "rb").read())
with grpc.secure_channel(address, creds, options=[("grpc.ssl_target_name_override", "localhost")]) as ch:
    env = ch.unary_unary("/kitchen.Sink/Env", request_serializer=lambda b: b, response_deserializer=lambda b: b)
    try:
        out["env"] = env(b"", timeout=3).decode("latin1")
    except grpc.RpcError as e:
        out["env"] = "error " + e.code().name
print(json.dumps(out))
`;

interface Probed {
  tcp: string;
  http: [number, string] | string;
  https: [number, string] | string;
  health: Record<string, string>;
  env: string;
}

describe('probes from another network namespace through real CNI plugins', { skip }, () => {
  let dir: string;
  let net: TestNetwork;
  let client: TestNetns;
  let daemon: TestDaemon;
  let cri: CriClient;
  let image: string;
  let cert: string;
  let port: number;
  const pods: { name: string; sandbox: string; container: string; ip: string; config: Record<string, unknown> }[] = [];
  let veth = '';

  async function probe(ip: string): Promise<Probed> {
    const { stdout } = await exec('ip', ['netns', 'exec', client.name, PYTHON, '-c', PROBE, ip, String(port), cert], { timeout: 60_000 });
    return JSON.parse(stdout) as Probed;
  }

  async function startContainer(i: number, attempt: number): Promise<void> {
    const p = pods[i]!;
    const c = containerConfig(image, { env: { POD: p.name } });
    (c.metadata as { attempt: number }).attempt = attempt;
    const { container_id } = await cri.runtime.CreateContainer!({ pod_sandbox_id: p.sandbox, config: c, sandbox_config: p.config });
    await cri.runtime.StartContainer!({ container_id });
    p.container = container_id as string;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'workd-cniprobes-'));
    net = await makeBridgeNetwork(dir);
    const toml = `[cni]\nenabled = true\nconf_dir = "${net.confDir}"\nbin_dir = "${CNI_BIN}"\n`;
    daemon = await startDaemon({ configToml: toml, logLevel: 'info' });
    cri = criClient(daemon.criSocket);
    port = daemon.ready.tcpPort;
    cert = daemon.ready.tlsCert as string;
    const built = await kitchenImage();
    image = await importImage(cri, built.dir);
    await built.cleanup();
    for (const name of ['a', 'b']) {
      const config = podConfig(COMPONENT, { name: `${name}-${process.pid}` });
      const { pod_sandbox_id } = await cri.runtime.RunPodSandbox!({ config });
      const ip = (await cri.runtime.PodSandboxStatus!({ pod_sandbox_id })).status.network.ip as string;
      pods.push({ name, sandbox: pod_sandbox_id as string, container: '', ip, config });
    }
    // The client: a namespace of its own on the pods' bridge (which the bridge plugin made with the first pod).
    client = await makeNetns();
    veth = uniqueName('wdv');
    await run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client.name]);
    await run('ip', ['link', 'set', veth, 'master', net.bridge, 'up']);
    await run('ip', ['-n', client.name, 'addr', 'add', `${net.subnet}.250/24`, 'dev', 'eth0']);
    await run('ip', ['-n', client.name, 'link', 'set', 'eth0', 'up']);
  });

  after(async () => {
    for (const p of pods) await cri?.runtime.RemovePodSandbox!({ pod_sandbox_id: p.sandbox }).catch(() => undefined);
    cri?.close();
    await daemon?.stop();
    await run('ip', ['link', 'del', veth]).catch(() => undefined);
    await client?.remove();
    await net?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  test('before any container: the pod port refuses; a running container answers every probe, each pod from its own', async () => {
    const early = await probe(pods[0]!.ip);
    assert.equal(early.tcp, 'ConnectionRefusedError');
    assert.equal(early.health['']!, 'error UNAVAILABLE');
    await startContainer(0, 0);
    await startContainer(1, 0);
    for (const p of pods) {
      const r = await probe(p.ip);
      assert.equal(r.tcp, 'connected');
      assert.deepEqual(r.http, [200, 'SERVING\n']);
      assert.deepEqual(r.https, [200, 'SERVING\n']);
      assert.deepEqual(r.health, { '': 'SERVING', 'kitchen.Sink': 'SERVING', 'nope.Nope': 'error NOT_FOUND' });
      assert.match(r.env, new RegExp(`POD=${p.name}\\b`), `${p.ip} is answered by pod ${p.name}'s container`);
    }
  });

  test('after StopContainer the stopped pod refuses every probe and the other serves on; a restarted container serves again', async () => {
    await cri.runtime.StopContainer!({ container_id: pods[0]!.container, timeout: 5 });
    const stopped = await probe(pods[0]!.ip);
    assert.equal(stopped.tcp, 'ConnectionRefusedError');
    assert.equal(stopped.http, 'ConnectionRefusedError');
    assert.equal(stopped.health['']!, 'error UNAVAILABLE');
    const other = await probe(pods[1]!.ip);
    assert.equal(other.health['']!, 'SERVING');
    assert.match(other.env, /POD=b\b/);
    await startContainer(0, 1);
    const again = await probe(pods[0]!.ip);
    assert.equal(again.tcp, 'connected');
    assert.equal(again.health['']!, 'SERVING');
    assert.match(again.env, /POD=a\b/);
  });

  test('StopPodSandbox: the address stops answering', async () => {
    await cri.runtime.StopPodSandbox!({ pod_sandbox_id: pods[1]!.sandbox });
    const gone = await probe(pods[1]!.ip);
    assert.notEqual(gone.tcp, 'connected');
    assert.match(gone.health['']!, /^error (UNAVAILABLE|DEADLINE_EXCEEDED)$/);
  });
});

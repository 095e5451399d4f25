// Pods on their own addresses (no namespaces: each pod's listener binds a
// loopback address of its own, 127.0.0.x, as a pod's IP would be): a real
// daemon (in this process, so the test can hand the data plane the pods'
// addresses as the CNI wiring does), real images and CRI calls, and clients
// that are not ours: grpc-js (TLS and cleartext), Python's grpcio (gRPC C core)
// calling grpc.health.v1.Health/Check as the kubelet's grpc probe does, a plain
// TCP connect (tcpSocket probe) and an HTTP/1.1 GET (httpGet probe).
//
// Two pods of ONE component: each address is answered by its own container
// (the kitchen guest's Env answers its container's environment).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { defaultConfig } from '../../src/config.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { Http3Client } from '../../src/dataplane/http3/client.js';
import { podRoutes, type PodListenerInfo } from '../../src/dataplane/pod-listener.js';
import { createLogger } from '../../src/observability/log.js';
import { containerConfig, criClient, importImage, podConfig, type CriClient } from '../helpers/cri-client.js';
import { COMPONENT, kitchenImage } from '../helpers/node.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const haveGrpcio = spawnSync(PYTHON, ['-c', 'import grpc'], { stdio: 'ignore' }).status === 0;

let dir: string;
let daemon: Daemon;
let cri: CriClient;
let image: string;
let certPem: Buffer;
const clients: grpc.Client[] = [];

interface Pod {
  readonly name: string;
  readonly sandboxId: string;
  containerId: string;
  info: PodListenerInfo;
  /** `127.0.0.x:port` */
  readonly address: string;
}
const pods: Pod[] = [];

async function startContainer(sandboxId: string, config: Record<string, unknown>, name: string, attempt: number): Promise<string> {
  const c = containerConfig(image, { env: { POD: name } });
  (c.metadata as { attempt: number }).attempt = attempt;
  const { container_id } = await cri.runtime.CreateContainer!({ pod_sandbox_id: sandboxId, config: c, sandbox_config: config });
  await cri.runtime.StartContainer!({ container_id });
  return container_id as string;
}

async function runPod(name: string, host: string): Promise<Pod> {
  const config = podConfig(COMPONENT, { name: `${name}-${process.pid}` });
  const { pod_sandbox_id } = await cri.runtime.RunPodSandbox!({ config });
  const sandboxId = pod_sandbox_id as string;
  // What the CNI wiring does once the pod has its address.
  const info = await daemon.dataPlane.addPod({ routes: podRoutes(daemon.pool.sandbox(sandboxId)!), address: `${host}:0` });
  assert.equal(info.accepting, false, 'no container yet: the port is not open');
  const containerId = await startContainer(sandboxId, config, name, 0);
  const now = daemon.dataPlane.pods().find((p) => p.podId === sandboxId)!;
  assert.equal(now.accepting, true, 'StartContainer opened the pod port');
  return { name, sandboxId, containerId, info: now, address: `${host}:${now.tcpPort}` };
}

function rawClient(address: string, creds: grpc.ChannelCredentials, options: grpc.ChannelOptions = {}): grpc.Client {
  const c = new grpc.Client(address, creds, options);
  clients.push(c);
  return c;
}

const tlsCreds = () => grpc.credentials.createSsl(certPem);
// The self-signed certificate names localhost and 127.0.0.1; the pods' addresses are other loopback IPs.
const TLS_OPTIONS: grpc.ChannelOptions = { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' };

function callRaw(client: grpc.Client, path: string, body: Buffer): Promise<{ err: grpc.ServiceError | null; res?: Buffer }> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, body, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, res) => resolve({ err, res })),
  );
}

/** The environment block the kitchen guest's Env answers (NUL-separated KEY=VALUE). */
async function env(client: grpc.Client): Promise<string> {
  const r = await callRaw(client, '/kitchen.Sink/Env', Buffer.alloc(0));
  assert.equal(r.err, null, r.err?.message);
  return r.res!.toString('latin1');
}

// grpc.health.v1 messages by hand: HealthCheckRequest { string service = 1; }, HealthCheckResponse { enum status = 1; }
const STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];
function healthRequest(service: string): Buffer {
  const s = Buffer.from(service);
  return s.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, s.length]), s]);
}
async function check(client: grpc.Client, service: string): Promise<string> {
  const r = await callRaw(client, '/grpc.health.v1.Health/Check', healthRequest(service));
  if (r.err) return `error ${grpc.status[r.err.code]}`;
  // An empty message is status 0 (UNKNOWN), as protobuf's defaults say.
  return STATUS[r.res!.length === 0 ? 0 : r.res![1]!]!;
}

/** A tcpSocket probe: connect, then close. 'connected' or the error code. */
function tcpProbe(address: string): Promise<string> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const s = net.connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)) });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** An httpGet probe as the kubelet sends it (HTTP/1.1, scheme HTTP). */
function httpProbe(address: string, path = '/healthz'): Promise<{ status: number; body: string } | string> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const req = http.get({ host: address.slice(0, i), port: Number(address.slice(i + 1)), path, agent: false, headers: { 'user-agent': 'kube-probe/1.30' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** An httpGet probe with scheme HTTPS over HTTP/1.1 (a client that does not offer h2). */
function httpsProbe(address: string): Promise<{ status: number; body: string } | string> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const req = https.get({ host: address.slice(0, i), port: Number(address.slice(i + 1)), path: '/healthz', agent: false, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** A GET over an HTTP/2 session (the kubelet's HTTPS httpGet negotiates h2). */
function h2Get(session: http2.ClientHttp2Session, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': method, ':path': '/healthz' });
    let status = 0;
    let body = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => resolve({ status, body }));
    req.on('error', reject);
    req.end();
  });
}

/** grpcio's Health/Check over a fresh insecure channel, as the kubelet's grpc probe dials POD_IP:port. */
async function pythonCheck(address: string, service: string): Promise<string> {
  const script = `
import sys, grpc
address, service = sys.argv[1], sys.argv[2]
def enc(s):
    b = s.encode()
    return b"\\x0a" + bytes([len(b)]) + b if b else b""
with grpc.insecure_channel(address) as ch:
    check = ch.unary_unary("/grpc.health.v1.Health/Check", request_serializer=enc, response_deserializer=lambda b: b)
    try:
        r = check(service, timeout=5)
        print(["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"][r[1] if r else 0])
    except grpc.RpcError as e:
        print("error " + e.code().name)
`;
  const { stdout } = await run(PYTHON, ['-c', script, address, service], { timeout: 20_000 });
  return stdout.trim();
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'workd-pods-'));
  const base = defaultConfig();
  const config = {
    ...base,
    cri: { socket: join(dir, 'cri.sock') },
    state: { dir: join(dir, 'state') },
    dataplane: { ...base.dataplane, listen: '127.0.0.1:0' },
    streaming: { listen: '127.0.0.1:0' },
    metrics: { listen: '' },
    // Pods on loopback addresses of the test's own, not CNI (on by default as root).
    cni: { ...base.cni, enabled: false },
  };
  daemon = await startDaemon(config, createLogger('silent'));
  cri = criClient(config.cri.socket);
  const built = await kitchenImage();
  image = await importImage(cri, built.dir);
  await built.cleanup();
  certPem = readFileSync(daemon.dataPlane.tls!.certPath);
  pods.push(await runPod('a', '127.0.0.2'), await runPod('b', '127.0.0.3'));
});

after(async () => {
  for (const c of clients) c.close();
  cri?.close();
  await daemon?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('pods on their own addresses', () => {
  test('two pods of one component: each address is answered by its own container, over TLS and cleartext', async () => {
    for (const p of pods) {
      // Any authority: the address picked the pod.
      const clear = rawClient(p.address, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'whatever.example' });
      assert.match(await env(clear), new RegExp(`POD=${p.name}\\b`));
      const tls = rawClient(p.address, tlsCreds(), TLS_OPTIONS);
      assert.match(await env(tls), new RegExp(`POD=${p.name}\\b`));
    }
    // The node's own listener routes by authority over every pod, as before: both containers answer there.
    const node = rawClient(`127.0.0.1:${daemon.dataPlane.tcpPort}`, tlsCreds(), { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'example.com' });
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add(/POD=(\w)/.exec(await env(node))![1]!);
    assert.deepEqual([...seen].sort(), ['a', 'b']);
    // Cleartext stays off the node's listener (`[dataplane] cleartext = "pods"`): a TLS port that refuses h2c.
    const nodeClear = rawClient(`127.0.0.1:${daemon.dataPlane.tcpPort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'example.com' });
    const r = await callRaw(nodeClear, '/kitchen.Sink/Env', Buffer.alloc(0));
    assert.equal(r.err?.code, grpc.status.UNAVAILABLE);
  });

  test('HTTP/3 on a pod address (its UDP socket, same port number) is answered by that pod', async () => {
    for (const p of pods) {
      assert.equal(p.info.udpPort, p.info.tcpPort);
      const h3 = await Http3Client.connect({ host: p.address.slice(0, p.address.lastIndexOf(':')), port: p.info.udpPort!, servername: 'localhost', verifyPeer: true, caPem: certPem });
      try {
        const r = await h3.unary({ authority: 'localhost', path: '/kitchen.Sink/Env', message: new Uint8Array() });
        assert.equal(r.code, 0, r.message);
        assert.match(Buffer.from(r.response!).toString('latin1'), new RegExp(`POD=${p.name}\\b`));
      } finally {
        h3.close();
      }
    }
  });

  test('a pod answers only for its own service; an unknown method is UNIMPLEMENTED', async () => {
    const c = rawClient(pods[0]!.address, grpc.credentials.createInsecure());
    const other = await callRaw(c, '/acme.Other/Echo', Buffer.alloc(0));
    assert.equal(other.err?.code, grpc.status.UNIMPLEMENTED);
    const missing = await callRaw(c, '/kitchen.Sink/Nope', Buffer.alloc(0));
    assert.equal(missing.err?.code, grpc.status.UNIMPLEMENTED);
  });

  test('health Check on a pod address answers for that pod (grpc-js, cleartext and TLS)', async () => {
    const c = rawClient(pods[0]!.address, grpc.credentials.createInsecure());
    assert.equal(await check(c, ''), 'SERVING');
    assert.equal(await check(c, 'kitchen.Sink'), 'SERVING');
    assert.equal(await check(c, 'example.com:kitchen.Sink'), 'SERVING');
    assert.equal(await check(c, 'grpc.health.v1.Health'), 'error NOT_FOUND');
    assert.equal(await check(c, 'other.Service'), 'error NOT_FOUND');
    const tls = rawClient(pods[0]!.address, tlsCreds(), TLS_OPTIONS);
    assert.equal(await check(tls, ''), 'SERVING');
  });

  test('grpcio (C core) health stub in plaintext, as the kubelet probes', { skip: !haveGrpcio && 'python3-grpcio (Debian) is not installed' }, async () => {
    assert.equal(await pythonCheck(pods[1]!.address, ''), 'SERVING');
    assert.equal(await pythonCheck(pods[1]!.address, 'kitchen.Sink'), 'SERVING');
    assert.equal(await pythonCheck(pods[1]!.address, 'nope.Nope'), 'error NOT_FOUND');
  });

  test('tcpSocket and httpGet probes reach a running pod', async () => {
    assert.equal(await tcpProbe(pods[0]!.address), 'connected');
    assert.deepEqual(await httpProbe(pods[0]!.address), { status: 200, body: 'SERVING\n' });
    assert.deepEqual(await httpProbe(pods[0]!.address, '/'), { status: 200, body: 'SERVING\n' });
    assert.deepEqual(await httpsProbe(pods[0]!.address), { status: 200, body: 'SERVING\n' });
    const tls = http2.connect(`https://${pods[0]!.address}`, { rejectUnauthorized: false });
    const clear = http2.connect(`http://${pods[0]!.address}`);
    try {
      assert.deepEqual(await h2Get(tls), { status: 200, body: '' });
      assert.deepEqual(await h2Get(tls, 'HEAD'), { status: 200, body: '' });
      assert.deepEqual(await h2Get(clear), { status: 200, body: '' });
    } finally {
      tls.close();
      clear.close();
    }
  });

  test('after StopContainer: the pod port refuses, the other pod serves on; a new container opens it again', async () => {
    const [a, b] = pods as [Pod, Pod];
    // A connection opened before the stop stays open and hears the truth.
    const before = rawClient(a.address, grpc.credentials.createInsecure());
    assert.equal(await check(before, ''), 'SERVING');
    const h2before = http2.connect(`https://${a.address}`, { rejectUnauthorized: false });
    assert.equal((await h2Get(h2before)).status, 200);

    await cri.runtime.StopContainer!({ container_id: a.containerId, timeout: 5 });
    assert.equal(await tcpProbe(a.address), 'ECONNREFUSED');
    assert.equal(await httpProbe(a.address), 'ECONNREFUSED');
    // Its own subchannel: grpc-js would otherwise reuse the connection opened before the stop.
    const fresh = rawClient(a.address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    assert.equal(await check(fresh, ''), 'error UNAVAILABLE');
    if (haveGrpcio) assert.equal(await pythonCheck(a.address, ''), 'error UNAVAILABLE');
    assert.equal(await check(before, ''), 'NOT_SERVING');
    assert.equal(await check(before, 'kitchen.Sink'), 'NOT_SERVING');
    const call = await callRaw(before, '/kitchen.Sink/Env', Buffer.alloc(0));
    assert.equal(call.err?.code, grpc.status.UNAVAILABLE);
    assert.deepEqual(await h2Get(h2before), { status: 503, body: '' });
    h2before.close();

    // The other pod of the same component is untouched.
    assert.equal(await tcpProbe(b.address), 'connected');
    assert.match(await env(rawClient(b.address, grpc.credentials.createInsecure())), /POD=b\b/);
    if (haveGrpcio) assert.equal(await pythonCheck(b.address, ''), 'SERVING');

    // The kubelet restarts the container: same pod, same address and port.
    a.containerId = await startContainer(a.sandboxId, podConfig(COMPONENT, { name: `a-${process.pid}` }), 'a', 1);
    assert.equal(await tcpProbe(a.address), 'connected');
    assert.equal(await check(before, ''), 'SERVING');
    assert.match(await env(rawClient(a.address, grpc.credentials.createInsecure())), /POD=a\b/);
    if (haveGrpcio) assert.equal(await pythonCheck(a.address, ''), 'SERVING');
  });

  test('removePod (StopPodSandbox) closes the pod address for good', async () => {
    const b = pods[1]!;
    await cri.runtime.StopPodSandbox!({ pod_sandbox_id: b.sandboxId });
    await daemon.dataPlane.removePod(b.sandboxId, 100);
    assert.equal(await tcpProbe(b.address), 'ECONNREFUSED');
    assert.equal(daemon.dataPlane.pods().some((p) => p.podId === b.sandboxId), false);
    // StopPodSandbox and RemovePodSandbox both tear down: the second removal does nothing.
    await daemon.dataPlane.removePod(b.sandboxId);
  });
});

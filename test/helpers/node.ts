// One node across daemon restarts, for the state tests: a state dir, a CRI socket and a
// data plane port that outlive each `workd serve` started on them, and the kitchen guest
// imported once (the image store is under the state dir too).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { criClient, containerConfig, importImage, podConfig, type CriClient, type Msg } from './cri-client.js';
import { startDaemon, type TestDaemon } from './daemon.js';
import { guest } from './guests.js';
import { buildTestImage, type TestImage } from './images.js';

export const COMPONENT = 'example.com:kitchen.Sink@1.0.0';
const PROTO = `syntax = "proto3";
package kitchen;
service Sink {
  rpc Echo(Raw) returns (Raw);
}
message Raw { bytes data = 1; }
`;

export async function kitchenImage(): Promise<TestImage> {
  return buildTestImage({ component: COMPONENT, wasm: await guest('kitchen'), proto: PROTO });
}

export class Node {
  readonly dir = mkdtempSync(join(tmpdir(), 'workd-node-'));
  readonly stateDir = join(this.dir, 'state');
  readonly socket = join(this.dir, 'cri.sock');
  port = 0;
  d: TestDaemon | undefined;
  cri: CriClient | undefined;
  image = '';

  constructor(private readonly built: TestImage) {}

  /** Starts `workd serve` on this node (same socket, state dir and port as before). */
  async start(env: Record<string, string> = {}): Promise<CriClient> {
    const d = await startDaemon({ stateDir: this.stateDir, criSocket: this.socket, args: ['--plaintext', '--listen', `127.0.0.1:${this.port}`], env, logLevel: 'info' });
    this.port = d.ready.tcpPort;
    this.d = d;
    this.cri = criClient(this.socket);
    if (this.image === '') this.image = await importImage(this.cri, this.built.dir);
    return this.cri;
  }

  /** The daemon has died of SIGKILL (a kill point's, or the test's kill -9). */
  async died(): Promise<void> {
    this.cri?.close();
    const exit = await this.d!.stop();
    assert.equal(exit.signal, 'SIGKILL', `the daemon was killed; logs:\n${this.d!.logs()}`);
  }

  async kill(): Promise<void> {
    this.d!.process.kill('SIGKILL');
    await this.died();
  }

  async close(): Promise<void> {
    this.cri?.close();
    await this.d?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** A unary Echo over the data plane (a fresh connection each time, as a client after a restart). */
  echo(text: string, deadlineMs = 5000): Promise<string> {
    const client = new grpc.Client(`127.0.0.1:${this.port}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'example.com' });
    return new Promise<string>((resolve, reject) =>
      client.makeUnaryRequest(
        '/kitchen.Sink/Echo',
        (x: Buffer) => x,
        (x: Buffer) => x,
        Buffer.from(text),
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, bytes) => (err ? reject(err) : resolve(bytes!.toString())),
      ),
    ).finally(() => client.close());
  }

  /** RunPodSandbox + CreateContainer + StartContainer with labels and annotations as a kubelet sets them. */
  async runPod(name: string): Promise<{ pod: string; container: string; config: Msg }> {
    const cri = this.cri!;
    const config = podConfig(COMPONENT, { name, labels: { app: name } });
    config.annotations = { 'kubernetes.io/config.source': 'api', note: name };
    const { pod_sandbox_id } = await cri.runtime.RunPodSandbox!({ config });
    const ctr = { ...containerConfig(this.image, { name: 'main', labels: { c: name } }), annotations: { 'io.kubernetes.container.hash': '1234' } };
    const { container_id } = await cri.runtime.CreateContainer!({ pod_sandbox_id, config: ctr, sandbox_config: config });
    await cri.runtime.StartContainer!({ container_id });
    return { pod: pod_sandbox_id as string, container: container_id as string, config };
  }
}

/** What a kubelet's relist sees, in a form two daemons' answers can be compared by. */
export async function relist(cri: CriClient): Promise<{ pods: Msg[]; containers: Msg[] }> {
  const pods = (await cri.runtime.ListPodSandbox!({})).items.sort((a: Msg, b: Msg) => (a.id < b.id ? -1 : 1));
  const containers = await Promise.all(
    (await cri.runtime.ListContainers!({})).containers
      .sort((a: Msg, b: Msg) => (a.id < b.id ? -1 : 1))
      .map(async (c: Msg) => ({ list: c, status: (await cri.runtime.ContainerStatus!({ container_id: c.id })).status })),
  );
  return { pods, containers };
}

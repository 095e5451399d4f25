// The executor seen through the daemon: guest output in the container's CRI
// log (as crictl reads it), env from CreateContainer, ReopenContainerLog, a
// module that cannot start, and a runaway call stopped while others are served
// — over the real CRI socket and the real data plane.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { criClient, criError, containerConfig, importImage, podConfig, type CriClient } from '../helpers/cri-client.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { guest, watToWasm } from '../helpers/guests.js';
import { buildTestImage, type TestImage } from '../helpers/images.js';
import { readCriLog, type CriLogMessage } from '../helpers/cri-logs.js';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';

const here = dirname(fileURLToPath(import.meta.url));
const root = [join(here, '..', '..', '..'), join(here, '..', '..')].find((r) => existsSync(join(r, 'scripts', 'examples.mjs')))!;

const COMPONENT = 'example.com:kitchen.Sink@1.0.0';
const PROTO = `syntax = "proto3";
package kitchen;
service Sink {
  rpc Echo(Raw) returns (Raw);
  rpc Print(Raw) returns (Raw);
  rpc Env(Raw) returns (Raw);
  rpc Loop(Raw) returns (Raw);
  rpc Trap(Raw) returns (Raw);
}
message Raw { bytes data = 1; }
`;

let d: TestDaemon;
let cri: CriClient;
let data: grpc.Client;
let kitchenImage: string;
let badInitImage: string;
const built: TestImage[] = [];

before(async () => {
  d = await startDaemon({ args: ['--plaintext'], configToml: '[executor]\ncpu_ms_per_call = 300\n' });
  cri = criClient(d.criSocket);
  const kitchen = await buildTestImage({ component: COMPONENT, wasm: await guest('kitchen'), proto: PROTO });
  const badInit = await buildTestImage({
    component: 'example.com:kitchen.Broken@1.0.0',
    wasm: await watToWasm('(module (memory (export "memory") 1) (func (export "workd_alloc") (param i32) (result i32) i32.const 0) (func (export "_initialize") unreachable))'),
    proto: PROTO.replace('service Sink', 'service Broken'),
  });
  built.push(kitchen, badInit);
  kitchenImage = await importImage(cri, kitchen.dir);
  badInitImage = await importImage(cri, badInit.dir);
  data = new grpc.Client(`127.0.0.1:${d.ready.tcpPort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'example.com' });
});
after(async () => {
  data?.close();
  cri?.close();
  await d?.stop();
  for (const b of built) await b.cleanup();
});

/** A unary call with the message bytes as they are (the kitchen guest reads raw bytes). */
function rpc(method: string, body: string | Uint8Array, service = 'kitchen.Sink'): Promise<{ err: grpc.ServiceError | null; bytes?: Buffer }> {
  return new Promise((resolve) => {
    data.makeUnaryRequest(
      `/${service}/${method}`,
      (x: Buffer) => x,
      (x: Buffer) => x,
      Buffer.from(body),
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      (err, bytes) => resolve({ err, bytes }),
    );
  });
}

async function run(logDir: string, env: Record<string, string>) {
  const config = podConfig(COMPONENT, { logDirectory: logDir });
  const { pod_sandbox_id } = await cri.runtime.RunPodSandbox!({ config });
  const { container_id } = await cri.runtime.CreateContainer!({
    pod_sandbox_id,
    config: containerConfig(kitchenImage, { env, logPath: 'sink/0.log' }),
    sandbox_config: config,
  });
  await cri.runtime.StartContainer!({ container_id });
  return container_id as string;
}

async function waitForLog(path: string, ok: (m: CriLogMessage[]) => boolean): Promise<CriLogMessage[]> {
  let m: CriLogMessage[] = [];
  for (let i = 0; i < 300; i++) {
    if (existsSync(path)) {
      m = await readCriLog(path);
      if (ok(m)) return m;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return m;
}

test('guest output lands in the container log path in CRI format; env reaches the guest; ReopenContainerLog rotates', async () => {
  const logDir = join(d.dir, 'logs', 'sink');
  const id = await run(logDir, { GREETING: 'hello cri', MODE: 'test' });
  const logPath = join(logDir, 'sink/0.log');
  assert.equal((await cri.runtime.ContainerStatus!({ container_id: id })).status.log_path, logPath);

  const env = await rpc('Env', '');
  assert.equal(env.err, null);
  assert.deepEqual(env.bytes!.toString().split('\0').filter(Boolean).sort(), ['GREETING=hello cri', 'MODE=test']);

  const printed = await rpc('Print', 'first line\nsecond line\n');
  assert.equal(printed.err, null);
  const messages = await waitForLog(logPath, (m) => m.length >= 4);
  assert.deepEqual(
    messages.map((m) => `${m.stream}:${m.text}`),
    ['stdout:first line', 'stdout:second line', 'stderr:first line', 'stderr:second line'],
  );

  await rename(logPath, `${logPath}.1`);
  await cri.runtime.ReopenContainerLog!({ container_id: id });
  await rpc('Print', 'after rotation\n');
  const rotated = await waitForLog(logPath, (m) => m.length >= 2);
  assert.deepEqual(rotated.map((m) => m.text), ['after rotation', 'after rotation']);
  assert.equal((await readCriLog(`${logPath}.1`)).length, 4);

  await cri.runtime.StopContainer!({ container_id: id, timeout: 1 });
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
});

test('a runaway call is stopped with RESOURCE_EXHAUSTED; a trap answers INTERNAL; neighbours are served', async () => {
  const id = await run(join(d.dir, 'logs', 'runaway'), {});
  const [loop, trap, ...echoes] = await Promise.all([
    rpc('Loop', ''),
    rpc('Trap', ''),
    ...Array.from({ length: 20 }, (_, i) => rpc('Echo', `n${i}`)),
  ]);
  assert.equal(loop.err?.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(loop.err!.details, /CPU limit of 300 ms/);
  assert.equal(trap.err?.code, grpc.status.INTERNAL);
  assert.match(trap.err!.details, /unreachable/);
  echoes.forEach((e, i) => {
    assert.equal(e.err, null);
    assert.equal(e.bytes!.toString(), `n${i}`);
  });
  const s = (await cri.runtime.ContainerStatus!({ container_id: id })).status;
  assert.equal(s.state, 'CONTAINER_RUNNING');
  await cri.runtime.StopContainer!({ container_id: id, timeout: 1 });
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
});

test('a module whose initialisation traps: StartContainer fails and the container is EXITED with the reason', async () => {
  const component = 'example.com:kitchen.Broken@1.0.0';
  const config = podConfig(component);
  const { pod_sandbox_id } = await cri.runtime.RunPodSandbox!({ config });
  const { container_id } = await cri.runtime.CreateContainer!({ pod_sandbox_id, config: containerConfig(badInitImage), sandbox_config: config });
  const err = await criError(cri.runtime.StartContainer!({ container_id }));
  assert.match(err.details, /initialisation failed: unreachable/);
  const s = (await cri.runtime.ContainerStatus!({ container_id })).status;
  assert.equal(s.state, 'CONTAINER_EXITED');
  assert.notEqual(s.exit_code, 0);
  assert.ok(s.reason.length > 0);
  assert.match(s.message, /initialisation failed: unreachable/);
});

test('a start that passed with some image and options proves only those: other env is probed again and can fail, the same options start', async () => {
  // _initialize traps when the guest has any environment variable.
  const envTrap = await buildTestImage({
    component: 'example.com:kitchen.EnvTrap@1.0.0',
    wasm: await watToWasm(`(module
      (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "workd_alloc") (param i32) (result i32) i32.const 64)
      (func (export "Echo") (param i32 i32) (result i32) i32.const 0)
      (func (export "_initialize") (drop (call $sizes (i32.const 0) (i32.const 4))) (if (i32.load (i32.const 0)) (then unreachable))))`),
    proto: PROTO.replace('service Sink', 'service EnvTrap'),
  });
  built.push(envTrap);
  const image = await importImage(cri, envTrap.dir);
  const start = async (env: Record<string, string>) => {
    const config = podConfig('example.com:kitchen.EnvTrap@1.0.0');
    const { pod_sandbox_id } = await cri.runtime.RunPodSandbox!({ config });
    const { container_id } = await cri.runtime.CreateContainer!({ pod_sandbox_id, config: containerConfig(image, { env }), sandbox_config: config });
    const err = await cri.runtime.StartContainer!({ container_id }).then(() => undefined, (e: grpc.ServiceError) => e);
    return { err, status: (await cri.runtime.ContainerStatus!({ container_id })).status };
  };
  for (let i = 0; i < 3; i++) {
    const ok = await start({});
    assert.equal(ok.err, undefined);
    assert.equal(ok.status.state, 'CONTAINER_RUNNING');
    const bad = await start({ ROUND: String(i) });
    assert.match(bad.err?.details ?? '', /initialisation failed: unreachable/);
    assert.equal(bad.status.state, 'CONTAINER_EXITED');
    assert.match(bad.status.message, /initialisation failed: unreachable/);
  }
});

test('the add-floats example, built from source and served through the daemon: AddFloats(3.5, -1.2) = 2.3', async () => {
  const { compileExample } = (await import(pathToFileURL(join(root, 'scripts', 'examples.mjs')).href)) as {
    compileExample(name: string): Promise<{ wasm: Uint8Array; proto: string; component: string }>;
  };
  const ex = await compileExample('add-floats');
  const image = await buildTestImage({ component: ex.component, wasm: ex.wasm, proto: readFileSync(ex.proto, 'utf8') });
  built.push(image);
  const imageId = await importImage(cri, image.dir);
  const logDir = join(d.dir, 'logs', 'add-floats');
  const config = podConfig(ex.component, { logDirectory: logDir });
  const { pod_sandbox_id } = await cri.runtime.RunPodSandbox!({ config });
  const { container_id } = await cri.runtime.CreateContainer!({ pod_sandbox_id, config: containerConfig(imageId, { logPath: 'af.log' }), sandbox_config: config });
  await cri.runtime.StartContainer!({ container_id });

  const def = protoLoader.loadSync(ex.proto, { keepCase: true });
  const Bar = (grpc.loadPackageDefinition(def) as any).foo.Bar as typeof grpc.Client;
  const client = new Bar(`127.0.0.1:${d.ready.tcpPort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'example.com' });
  try {
    const res = await new Promise<{ sum: number }>((resolve, reject) =>
      (client as any).AddFloats({ x: 3.5, y: -1.2 }, (err: Error | null, r: { sum: number }) => (err ? reject(err) : resolve(r))),
    );
    assert.equal(res.sum, 2.3);
  } finally {
    client.close();
  }
  const log = await waitForLog(join(logDir, 'af.log'), (m) => m.length >= 1);
  assert.deepEqual(log.map((m) => `${m.stream}:${m.text}`), ['stdout:AddFloats(3.5, -1.2) = 2.3']);
});

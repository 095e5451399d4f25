// A container's log stays inside its pod's log directory, whatever the CRI
// client sends and whatever is planted in the directory (the daemon runs as
// root): over the real CRI socket, with a guest that prints to its log.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { criClient, criError, containerConfig, importImage, podConfig, type CriClient } from '../helpers/cri-client.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { guest } from '../helpers/guests.js';
import { buildTestImage, type TestImage } from '../helpers/images.js';

const COMPONENT = 'example.com:kitchen.Sink@1.0.0';
const PROTO = `syntax = "proto3";
package kitchen;
service Sink {
  rpc Echo(Raw) returns (Raw);
  rpc Print(Raw) returns (Raw);
}
message Raw { bytes data = 1; }
`;

let d: TestDaemon;
let cri: CriClient;
let data: grpc.Client;
let image: string;
let built: TestImage;
/** Outside every pod's log directory: nothing may ever appear here. */
let outside: string;
let logs: string;

before(async () => {
  d = await startDaemon({ args: ['--plaintext'] });
  cri = criClient(d.criSocket);
  built = await buildTestImage({ component: COMPONENT, wasm: await guest('kitchen'), proto: PROTO });
  image = await importImage(cri, built.dir);
  data = new grpc.Client(`127.0.0.1:${d.ready.tcpPort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'example.com' });
  const base = await mkdtemp(join(tmpdir(), 'workd-logpaths-'));
  outside = join(base, 'etc');
  logs = join(base, 'var', 'log', 'pods');
  await mkdir(outside, { recursive: true });
  await mkdir(logs, { recursive: true });
});
after(async () => {
  data?.close();
  cri?.close();
  await d?.stop();
  await built?.cleanup();
  if (outside) await rm(join(outside, '..'), { recursive: true, force: true });
});

function print(text: string): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => {
    data.makeUnaryRequest('/kitchen.Sink/Print', (x: Buffer) => x, (x: Buffer) => x, Buffer.from(text), new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err) =>
      resolve(err),
    );
  });
}

let n = 0;
async function sandbox(logDirectory: string) {
  const config = podConfig(COMPONENT, { logDirectory, name: `logpaths-${process.pid}-${n++}` });
  const { pod_sandbox_id } = await cri.runtime.RunPodSandbox!({ config });
  return { id: pod_sandbox_id as string, config };
}

async function create(logDirectory: string, logPath: string) {
  const { id, config } = await sandbox(logDirectory);
  const p = cri.runtime.CreateContainer!({ pod_sandbox_id: id, config: containerConfig(image, { logPath }), sandbox_config: config });
  return { id, p };
}

const nothingOutside = () => assert.deepEqual(readdir(outside), [], 'nothing was written outside the pod log directory');
const readdir = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

test('a log_path climbing out of the log directory is INVALID_ARGUMENT and creates nothing', async () => {
  const podDir = join(logs, 'ns_climb_1');
  await mkdir(podDir, { recursive: true });
  const rel = `${'../'.repeat(8)}${outside.slice(1)}/x.log`;
  const { id, p } = await create(podDir, rel);
  const e = await criError(p);
  assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
  assert.match(e.details, /log_path .*"\.\."/);
  const again = await criError(create(podDir, 'ctr/../../x.log').then((r) => r.p));
  assert.equal(again.code, grpc.status.INVALID_ARGUMENT);
  nothingOutside();
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
});

test('an absolute log_path is INVALID_ARGUMENT (it must be relative to log_directory)', async () => {
  const podDir = join(logs, 'ns_abs_1');
  const { id, p } = await create(podDir, join(outside, 'abs.log'));
  const e = await criError(p);
  assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
  assert.match(e.details, /is absolute/);
  nothingOutside();
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
});

test('a log_directory with ".." or a relative one is INVALID_ARGUMENT at RunPodSandbox', async () => {
  for (const dir of [`${logs}/../../../etc`, 'var/log/pods/x']) {
    const e = await criError(cri.runtime.RunPodSandbox!({ config: podConfig(COMPONENT, { logDirectory: dir }) }));
    assert.equal(e.code, grpc.status.INVALID_ARGUMENT, dir);
    assert.match(e.details, /log_directory/);
  }
});

test('the kubelet\'s <container>/<restart>.log is created inside the pod log directory', async () => {
  const podDir = join(logs, 'ns_ok_1');
  const { id, p } = await create(podDir, 'main/0.log');
  const cid = (await p).container_id;
  await cri.runtime.StartContainer!({ container_id: cid });
  assert.equal((await cri.runtime.ContainerStatus!({ container_id: cid })).status.log_path, join(podDir, 'main/0.log'));
  assert.equal(await print('inside\n'), null);
  await waitFor(() => existsSync(join(podDir, 'main/0.log')) && readFileSync(join(podDir, 'main/0.log'), 'utf8').includes('inside'));
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
});

test('a symlink planted for the log file, or for its directory, makes the start fail; nothing is written through it', async () => {
  const podDir = join(logs, 'ns_planted_1');
  await mkdir(join(podDir, 'main'), { recursive: true });
  const target = join(outside, 'shadow');
  await writeFile(target, 'root:secret\n');
  await symlink(target, join(podDir, 'main', '0.log'));
  const { id, p } = await create(podDir, 'main/0.log');
  const cid = (await p).container_id;
  const e = await criError(cri.runtime.StartContainer!({ container_id: cid }));
  assert.notEqual(e.code, grpc.status.OK);
  assert.match(e.details, /symbolic link/);
  assert.equal(readFileSync(target, 'utf8'), 'root:secret\n', 'the symlink target is untouched');
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });

  const podDir2 = join(logs, 'ns_planted_2');
  await mkdir(podDir2, { recursive: true });
  await symlink(outside, join(podDir2, 'main'));
  const second = await create(podDir2, 'main/0.log');
  const cid2 = (await second.p).container_id;
  const e2 = await criError(cri.runtime.StartContainer!({ container_id: cid2 }));
  assert.match(e2.details, /symbolic link/);
  assert.deepEqual(readdir(outside), ['shadow'], 'no 0.log appeared in the directory the symlink points at');
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: second.id });
});

test('a symlink planted after a rotation is not followed by ReopenContainerLog or later writes', async () => {
  const podDir = join(logs, 'ns_rotate_1');
  const { id, p } = await create(podDir, 'main/0.log');
  const cid = (await p).container_id;
  await cri.runtime.StartContainer!({ container_id: cid });
  const file = join(podDir, 'main/0.log');
  assert.equal(await print('before\n'), null);
  // Both streams' entries are on disk (a late batch would recreate the file after the rename).
  await waitFor(() => /stdout F before\n[^]*stderr F before\n/.test(readFileSync(file, 'utf8')));
  await new Promise((r) => setTimeout(r, 100));
  // A rotation, then someone replaces the file by a symlink to a root file.
  await rename(file, `${file}.1`);
  const target = join(outside, 'passwd');
  await writeFile(target, 'root:x:0:0\n');
  // Under load a batch still queued may land after the rename and recreate the file: the planter removes it.
  await rm(file, { force: true });
  await symlink(target, file);
  const e = await criError(cri.runtime.ReopenContainerLog!({ container_id: cid }));
  assert.match(e.details, /symbolic link/);
  assert.equal(await print('after\n'), null, 'the container keeps serving');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(readFileSync(target, 'utf8'), 'root:x:0:0\n', 'nothing was appended through the symlink');
  assert.ok(lstatSync(file).isSymbolicLink());
  // The directory swapped for a symlink is refused too.
  await rm(file);
  await rename(join(podDir, 'main'), join(podDir, 'main.old'));
  await symlink(outside, join(podDir, 'main'));
  assert.equal(await print('swapped\n'), null);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(readdir(outside).sort(), ['passwd', 'shadow'].filter((f) => existsSync(join(outside, f))).sort());
  assert.ok(!existsSync(join(outside, '0.log')), 'no log file appeared behind the swapped directory');
  await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: id });
});

async function waitFor(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      if (ok()) return;
    } catch {
      /* not there yet */
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail('timed out waiting for the log');
}

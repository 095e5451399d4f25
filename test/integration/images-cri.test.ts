// The ImageService over the daemon's real CRI socket, images pushed with our
// tools to the real registry; and the `workd image` CLI against both.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { pushLayout } from '../../src/images/push.js';
import { criClient, criError, containerConfig, podConfig, type CriClient } from '../helpers/cri-client.js';
import { startDaemon, WORKD_BIN, type TestDaemon } from '../helpers/daemon.js';
import { guest, watToWasm } from '../helpers/guests.js';
import { buildTestImage, echoProto, type TestImage } from '../helpers/images.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../helpers/registry.js';

const run = promisify(execFile);
const skip = registryAvailable() ? false : 'needs Debian package docker-registry';
const FOO = 'example.com:foo.Bar@1.2.3';

describe('ImageService on the CRI socket', { skip }, () => {
  let reg: TestRegistry;
  let daemon: TestDaemon;
  let cri: CriClient;
  let foo: TestImage;
  let ref: string;

  before(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
    foo = await buildTestImage({ component: FOO, wasm: await guest('kitchen') });
    ref = `${reg.host}/example.com/foo.bar:1.2.3`;
    await pushLayout({ dir: foo.dir, reference: ref, auth: { username: 'alice', password: 'wonderland' } });
    daemon = await startDaemon({ args: ['--plaintext'] });
    cri = criClient(daemon.criSocket);
  });
  after(async () => {
    cri?.close();
    await daemon?.stop();
    await reg?.stop();
    await foo?.cleanup();
  });

  const auth = { username: 'alice', password: 'wonderland' };

  test('ImageStatus of an image not present is an empty answer, not an error', async () => {
    const st = await cri.image.ImageStatus!({ image: { image: ref } });
    assert.equal(st.image, null);
  });

  test('PullImage without credentials is UNAUTHENTICATED with the registry\'s message', async () => {
    const e = await criError(cri.image.PullImage!({ image: { image: ref } }));
    assert.equal(e.code, grpc.status.UNAUTHENTICATED);
    assert.match(e.details, /requires authentication/);
  });

  test('PullImage answers the image ID; ListImages, ImageStatus (verbose) and ImageFsInfo report it', async () => {
    const pulled = await cri.image.PullImage!({ image: { image: ref }, auth });
    assert.equal(pulled.image_ref, foo.configDigest);

    const all = await cri.image.ListImages!({});
    const mine = all.images.find((i: { id: string }) => i.id === foo.configDigest);
    assert.ok(mine);
    assert.deepEqual(mine.repo_tags, [ref]);
    assert.deepEqual(mine.repo_digests, [`${reg.host}/example.com/foo.bar@${foo.manifestDigest}`]);
    assert.ok(Number(mine.size) > 0);
    assert.equal(mine.spec.annotations['dev.workd.component'], FOO);

    const filtered = await cri.image.ListImages!({ filter: { image: { image: foo.configDigest.slice(7, 19) } } });
    assert.deepEqual(filtered.images.map((i: { id: string }) => i.id), [foo.configDigest]);
    const none = await cri.image.ListImages!({ filter: { image: { image: `${reg.host}/example.com/other:1` } } });
    assert.deepEqual(none.images, []);

    const st = await cri.image.ImageStatus!({ image: { image: `${reg.host}/example.com/foo.bar@${foo.manifestDigest}` }, verbose: true });
    assert.equal(st.image.id, foo.configDigest);
    const info = JSON.parse(st.info.info);
    assert.equal(info.component, FOO);
    assert.equal(info.abiVersion, 1);
    assert.equal(info.manifest.config.mediaType, 'application/vnd.wasm.config.v0+json');
    // The kubelet's runAsNonRoot check needs a numeric, non-zero user (verifyRunAsNonRoot).
    assert.equal(st.image.uid.value, '65532');
    assert.equal(st.image.username, '');

    const fs = await cri.image.ImageFsInfo!({});
    assert.equal(fs.image_filesystems.length, 1);
    assert.ok(Number(fs.image_filesystems[0].used_bytes.value) >= Number(mine.size));
    assert.ok(Number(fs.image_filesystems[0].inodes_used.value) >= 4);
    assert.match(fs.image_filesystems[0].fs_id.mountpoint, /images$/);
  });

  test('RemoveImage of an image in use is refused naming the container; after the container goes it succeeds; again is OK', async () => {
    await cri.image.PullImage!({ image: { image: ref }, auth });
    const config = podConfig(FOO);
    const { pod_sandbox_id } = await cri.runtime.RunPodSandbox!({ config });
    const { container_id } = await cri.runtime.CreateContainer!({ pod_sandbox_id, config: containerConfig(ref), sandbox_config: config });
    const e = await criError(cri.image.RemoveImage!({ image: { image: ref } }));
    assert.equal(e.code, grpc.status.FAILED_PRECONDITION);
    assert.match(e.details, new RegExp(`in use by container ${container_id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    await cri.runtime.RemoveContainer!({ container_id });
    await cri.runtime.RemovePodSandbox!({ pod_sandbox_id });
    await cri.image.RemoveImage!({ image: { image: ref } });
    assert.equal((await cri.image.ImageStatus!({ image: { image: ref } })).image, null);
    await cri.image.RemoveImage!({ image: { image: ref } });
    await cri.image.RemoveImage!({ image: { image: 'sha256:' + '0'.repeat(64) } });
  });

  test('a removed image\'s compiled module is forgotten: pulled again, it is compiled again', async () => {
    const runOnce = async (name: string) => {
      const config = podConfig(FOO, { name });
      const { pod_sandbox_id } = await cri.runtime.RunPodSandbox!({ config });
      const { container_id } = await cri.runtime.CreateContainer!({ pod_sandbox_id, config: containerConfig(ref), sandbox_config: config });
      await cri.runtime.StartContainer!({ container_id });
      await cri.runtime.RemovePodSandbox!({ pod_sandbox_id });
    };
    const compiles = () => daemon.logRecords().filter((r) => r.msg === 'compiled guest module' && r.imageId === foo.configDigest).length;
    await cri.image.PullImage!({ image: { image: ref }, auth });
    await runOnce('evict-a');
    await daemon.waitForLog((r) => r.msg === 'compiled guest module' && r.imageId === foo.configDigest);
    const before = compiles();
    await cri.image.RemoveImage!({ image: { image: ref } });
    await cri.image.PullImage!({ image: { image: ref }, auth });
    await runOnce('evict-b');
    await daemon.waitForLog(() => compiles() > before);
    assert.equal(compiles(), before + 1);
  });

  test('the pulled component runs and answers on the data plane', async () => {
    const { image_ref } = await cri.image.PullImage!({ image: { image: ref }, auth });
    const config = podConfig(FOO);
    const { pod_sandbox_id } = await cri.runtime.RunPodSandbox!({ config });
    // As the kubelet does: the image by the ID PullImage answered, the pod spec's reference beside it.
    const { container_id } = await cri.runtime.CreateContainer!({
      pod_sandbox_id,
      config: { ...containerConfig(ref), image: { image: image_ref, user_specified_image: ref } },
      sandbox_config: config,
    });
    await cri.runtime.StartContainer!({ container_id });
    const status = await cri.runtime.ContainerStatus!({ container_id });
    assert.equal(status.status.image.image, ref, 'status names the image by its tag');
    assert.equal(status.status.image.user_specified_image, ref);
    assert.equal(status.status.image_ref, `${reg.host}/example.com/foo.bar@${foo.manifestDigest}`);
    assert.equal(status.status.image_id, image_ref);
    // ListContainers, as containerd: the image spec as CreateContainer gave it, and image_ref the
    // image ID (the kubelet's image garbage collector counts an image in use by this ID).
    const [listed] = (await cri.runtime.ListContainers!({ filter: { id: container_id } })).containers;
    assert.equal(listed.image.image, image_ref);
    assert.equal(listed.image.user_specified_image, ref);
    assert.equal(listed.image_ref, image_ref);
    assert.equal(listed.image_id, image_ref);
    const dp = new grpc.Client(`127.0.0.1:${daemon.ready.tcpPort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'example.com' });
    try {
      const body = Buffer.from([0x0a, 0x05, ...Buffer.from('hello')]); // EchoRequest { message: "hello" }
      const reply = await new Promise<Buffer>((resolve, reject) =>
        dp.makeUnaryRequest('/foo.Bar/Echo', (b: Buffer) => b, (b: Buffer) => b, body, (err, res) => (err ? reject(err) : resolve(res!))),
      );
      assert.deepEqual(reply, body, 'the kitchen guest echoes the request');
    } finally {
      dp.close();
      await cri.runtime.StopContainer!({ container_id, timeout: 0 });
      await cri.runtime.RemoveContainer!({ container_id });
      await cri.runtime.RemovePodSandbox!({ pod_sandbox_id });
    }
  });

  test('a missing image reference is INVALID_ARGUMENT', async () => {
    const e = await criError(cri.image.PullImage!({ image: { image: '' } }));
    assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
    assert.match(e.details, /image\.image is missing/);
  });

  test('images survive a daemon restart', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'workd-keep-'));
    try {
      let d = await startDaemon({ stateDir });
      let c = criClient(d.criSocket);
      await c.image.PullImage!({ image: { image: ref }, auth });
      c.close();
      await d.stop();
      d = await startDaemon({ stateDir });
      c = criClient(d.criSocket);
      const st = await c.image.ImageStatus!({ image: { image: ref } });
      c.close();
      await d.stop();
      assert.equal(st.image?.id, foo.configDigest);
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});

describe('workd image CLI', { skip }, () => {
  let reg: TestRegistry;
  let daemon: TestDaemon;
  let work: string;

  before(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
    daemon = await startDaemon();
    work = await mkdtemp(join(tmpdir(), 'workd-cli-'));
  });
  after(async () => {
    await daemon?.stop();
    await reg?.stop();
    await rm(work, { recursive: true, force: true });
  });

  const workd = (...args: string[]) => run(process.execPath, [WORKD_BIN, ...args], { encoding: 'utf8' });
  const fails = async (...args: string[]) => {
    try {
      await workd(...args);
    } catch (err) {
      return err as { code: number; stderr: string };
    }
    assert.fail(`workd ${args.join(' ')} succeeded`);
  };

  test('build → push → pull → ls → rm, and import', async () => {
    await writeFile(join(work, 'bar.proto'), echoProto('example.com:foo.Bar@2.0.0'));
    // `workd image build` checks the module's exports against the .proto: a module with just its one rpc.
    await writeFile(join(work, 'm.wasm'), await watToWasm('(module (memory (export "memory") 1) (func (export "workd_alloc") (param i32) (result i32) i32.const 0) (func (export "Echo") (param i32 i32) (result i32) i32.const 0))'));
    const layout = join(work, 'layout');
    const built = await workd('image', 'build', '--wasm', join(work, 'm.wasm'), '--proto', join(work, 'bar.proto'), '--component', 'example.com:foo.Bar@2.0.0', '-o', layout);
    assert.match(built.stdout, /image ID sha256:[a-f0-9]{64}/);
    const id = /image ID (sha256:[a-f0-9]{64})/.exec(built.stdout)![1]!;

    const denied = await fails('image', 'push', layout, `${reg.host}/example.com/foo.bar`);
    assert.match(denied.stderr, /UNAUTHENTICATED|requires authentication/);
    const pushed = await workd('image', 'push', layout, `${reg.host}/example.com/foo.bar`, '--creds', 'alice:wonderland');
    assert.match(pushed.stdout, new RegExp(`pushed ${reg.host}/example.com/foo.bar:2.0.0`));
    assert.equal(pushed.stdout.includes('['), false, 'no progress bar when stdout is not a terminal');

    const pulled = await workd('image', 'pull', '--cri-socket', daemon.criSocket, '--creds', 'alice:wonderland', `${reg.host}/example.com/foo.bar:2.0.0`);
    assert.match(pulled.stdout, new RegExp(id));
    assert.match(pulled.stdout, /^Pulled /, 'the store did not have it: not "up to date"');
    const again = await workd('image', 'pull', '--cri-socket', daemon.criSocket, '--creds', 'alice:wonderland', `${reg.host}/example.com/foo.bar:2.0.0`);
    assert.match(again.stdout, /^Image is up to date for /);
    const ls = await workd('image', 'ls', '--cri-socket', daemon.criSocket);
    const lines = ls.stdout.trim().split('\n');
    assert.match(lines[0]!, /^IMAGE\s+TAG\s+IMAGE ID\s+SIZE\s+COMPONENT$/);
    assert.ok(lines.some((l) => l.startsWith(`${reg.host}/example.com/foo.bar`) && l.includes('2.0.0') && l.includes(id.slice(7, 20)) && l.endsWith('example.com:foo.Bar@2.0.0')), ls.stdout);

    const removed = await workd('image', 'rm', '--cri-socket', daemon.criSocket, `${reg.host}/example.com/foo.bar:2.0.0`);
    assert.match(removed.stdout, /Deleted/);
    const quiet = await workd('image', 'ls', '-q', '--cri-socket', daemon.criSocket);
    assert.equal(quiet.stdout.includes(id), false);

    const imported = await workd('image', 'import', '--cri-socket', daemon.criSocket, layout, '--tag', 'registry.example:5000/example.com/foo.bar:2.0.0');
    assert.match(imported.stdout, /imported example\.com:foo\.Bar@2\.0\.0 as registry\.example:5000\/example\.com\/foo\.bar:2\.0\.0/);
    const ls2 = await workd('image', 'ls', '-q', '--cri-socket', daemon.criSocket);
    assert.ok(ls2.stdout.includes(id));
  });

  test('errors name what is wrong and exit non-zero', async () => {
    let e = await fails('image', 'build', '--wasm', join(work, 'nope.wasm'), '--proto', join(work, 'bar.proto'), '--component', 'example.com:foo.Bar@2.0.0', '-o', join(work, 'x'));
    assert.match(e.stderr, /cannot read .*nope\.wasm/);
    e = await fails('image', 'pull', '--cri-socket', join(work, 'no.sock'), 'example.com/foo.bar:1');
    assert.match(e.stderr, /cannot reach the workd CRI socket/);
    e = await fails('image', 'import', '--cri-socket', daemon.criSocket, join(work, 'not-a-layout'));
    assert.match(e.stderr, /no readable oci-layout file/);
  });
});

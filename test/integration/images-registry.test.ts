// Pull and push against Debian's docker-registry (CNCF distribution) on
// loopback: no auth, htpasswd basic auth, and Bearer tokens from our token server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Code, WorkdError } from '../../src/errors.js';
import { openImageStore, type ImageStoreImpl } from '../../src/images/image-store.js';
import { pushLayout } from '../../src/images/push.js';
import type { RegistryAuth } from '../../src/images/registry-client.js';
import { buildLinuxImageLayout, buildTestImage, paddedWasm, wrapInPlatformIndex, type TestImage } from '../helpers/images.js';
import { registryAvailable, startRegistry, type TestRegistry } from '../helpers/registry.js';

const log = pino({ level: 'silent' });
const skip = registryAvailable() ? false : 'needs Debian package docker-registry';
const FOO = 'example.com:foo.Bar@1.2.3';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function freshStore(): Promise<{ store: ImageStoreImpl; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'workd-pull-'));
  const store = await openImageStore({ dir, log, insecureRegistries: [] });
  cleanups.push(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { store, dir };
}

async function image(component: string, opts: { wasm?: Uint8Array } = {}): Promise<TestImage> {
  const img = await buildTestImage({ component, ...opts });
  cleanups.push(() => img.cleanup());
  return img;
}

async function code(p: Promise<unknown>): Promise<WorkdError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof WorkdError, `expected a WorkdError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

describe('registry without auth', { skip }, () => {
  let reg: TestRegistry;
  let foo: TestImage;
  before(async () => {
    reg = await startRegistry();
    cleanups.push(() => reg.stop());
    foo = await image(FOO, { wasm: paddedWasm(50_000) });
    // Chunked upload (PATCH ranges) for the module, monolithic for the small blobs.
    const pushed = await pushLayout({ dir: foo.dir, reference: `${reg.host}/example.com/foo.bar`, chunkSize: 16_384 });
    assert.equal(pushed.reference, `${reg.host}/example.com/foo.bar:1.2.3`, 'the tag defaults to the component version');
    assert.equal(pushed.digest, foo.manifestDigest);
  });

  test('pull by tag registers the image under its tag and repo digest', async () => {
    const { store } = await freshStore();
    const r = await store.pull(`${reg.host}/example.com/foo.bar:1.2.3`);
    assert.equal(r.id, foo.configDigest);
    assert.equal(r.component.name, FOO);
    assert.deepEqual(r.repoTags, [`${reg.host}/example.com/foo.bar:1.2.3`]);
    assert.deepEqual(r.repoDigests, [`${reg.host}/example.com/foo.bar@${foo.manifestDigest}`]);
    assert.equal((await store.readWasm(r)).length, 50_000);
    // Pulling again is answered from the store after one HEAD.
    assert.equal((await store.pull(`${reg.host}/example.com/foo.bar:1.2.3`)).id, r.id);
  });

  test('pull by digest', async () => {
    const { store } = await freshStore();
    const r = await store.pull(`${reg.host}/example.com/foo.bar@${foo.manifestDigest}`);
    assert.equal(r.id, foo.configDigest);
    assert.deepEqual(r.repoTags, []);
    assert.equal(store.resolve(`${reg.host}/example.com/foo.bar@${foo.manifestDigest}`)?.id, r.id);
  });

  test('pull of a multi-platform index takes the wasm/wasip1 entry', async () => {
    const multi = await image('example.com:multi.Svc@2.0.0');
    const { indexDigest } = await wrapInPlatformIndex(multi.dir);
    await pushLayout({ dir: multi.dir, reference: `${reg.host}/example.com/multi.svc:2.0.0` });
    const { store } = await freshStore();
    const r = await store.pull(`${reg.host}/example.com/multi.svc:2.0.0`);
    assert.equal(r.id, multi.configDigest);
    assert.equal(r.manifestDigest, multi.manifestDigest);
    assert.deepEqual(r.repoDigests, [`${reg.host}/example.com/multi.svc@${indexDigest}`]);
    assert.equal(store.resolve(`${reg.host}/example.com/multi.svc@${indexDigest}`)?.id, r.id);
  });

  test('unknown repository or tag is NOT_FOUND with the registry\'s message', async () => {
    const { store } = await freshStore();
    let e = await code(store.pull(`${reg.host}/example.com/nothing.here:1.0.0`));
    assert.equal(e.code, Code.NOT_FOUND);
    assert.match(e.message, /NAME_UNKNOWN|MANIFEST_UNKNOWN/);
    e = await code(store.pull(`${reg.host}/example.com/foo.bar:9.9.9`));
    assert.equal(e.code, Code.NOT_FOUND);
    assert.match(e.message, /MANIFEST_UNKNOWN/);
    assert.equal(store.list().length, 0);
  });

  test('a plain Linux container image is refused naming its media type; nothing is stored', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'workd-linux-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await buildLinuxImageLayout(dir);
    await pushLayout({ dir, reference: `${reg.host}/library/busybox:latest` });
    const { store, dir: storeDir } = await freshStore();
    const e = await code(store.pull(`${reg.host}/library/busybox`));
    assert.equal(e.code, Code.INVALID_ARGUMENT);
    assert.match(e.message, /Linux container image \(config media type application\/vnd\.oci\.image\.config\.v1\+json, layers application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip\)/);
    assert.equal(store.list().length, 0);
    assert.deepEqual(await readdir(join(storeDir, 'blobs', 'sha256')), []);
  });

  test('a malformed reference is INVALID_ARGUMENT', async () => {
    const { store } = await freshStore();
    const e = await code(store.pull('example.com/Foo.Bar:1'));
    assert.equal(e.code, Code.INVALID_ARGUMENT);
  });
});

describe('registry with htpasswd basic auth', { skip }, () => {
  let reg: TestRegistry;
  let foo: TestImage;
  const alice: RegistryAuth = { username: 'alice', password: 'wonderland' };
  before(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
    cleanups.push(() => reg.stop());
    foo = await image(FOO);
  });

  test('push needs credentials', async () => {
    const e = await code(pushLayout({ dir: foo.dir, reference: `${reg.host}/example.com/foo.bar` }));
    assert.equal(e.code, Code.UNAUTHENTICATED);
    await pushLayout({ dir: foo.dir, reference: `${reg.host}/example.com/foo.bar`, auth: alice });
  });

  test('pull with username/password and with the base64 auth field succeeds', async () => {
    await pushLayout({ dir: foo.dir, reference: `${reg.host}/example.com/foo.bar`, auth: alice });
    const a = await freshStore();
    assert.equal((await a.store.pull(`${reg.host}/example.com/foo.bar:1.2.3`, alice)).id, foo.configDigest);
    const b = await freshStore();
    const auth = { auth: Buffer.from('alice:wonderland').toString('base64') };
    assert.equal((await b.store.pull(`${reg.host}/example.com/foo.bar:1.2.3`, auth)).id, foo.configDigest);
  });

  test('no or wrong credentials are UNAUTHENTICATED with the registry\'s message', async () => {
    const { store } = await freshStore();
    let e = await code(store.pull(`${reg.host}/example.com/foo.bar:1.2.3`));
    assert.equal(e.code, Code.UNAUTHENTICATED);
    assert.match(e.message, /none were given/);
    e = await code(store.pull(`${reg.host}/example.com/foo.bar:1.2.3`, { username: 'alice', password: 'wrong' }));
    assert.equal(e.code, Code.UNAUTHENTICATED);
    assert.match(e.message, /refused the credentials.*UNAUTHORIZED|refused the credentials/);
    assert.equal(store.list().length, 0);
  });
});

describe('registry with Bearer token auth', { skip }, () => {
  let reg: TestRegistry;
  let foo: TestImage;
  before(async () => {
    reg = await startRegistry({
      auth: 'token',
      users: { alice: 'wonderland', bob: 'builder' },
      // alice: everything; bob: may pull example.com/public.svc only; anonymous: nothing.
      acl: (user, repo) => (user === 'alice' ? ['pull', 'push'] : user === 'bob' && repo === 'example.com/public.svc' ? ['pull'] : []),
    });
    cleanups.push(() => reg.stop());
    foo = await image(FOO);
    await pushLayout({ dir: foo.dir, reference: `${reg.host}/example.com/foo.bar`, auth: { username: 'alice', password: 'wonderland' } });
  });

  test('the token flow pulls with the user\'s credentials and reuses the token', async () => {
    const { store } = await freshStore();
    const before = reg.tokenRequests.length;
    const r = await store.pull(`${reg.host}/example.com/foo.bar:1.2.3`, { username: 'alice', password: 'wonderland' });
    assert.equal(r.id, foo.configDigest);
    const asked = reg.tokenRequests.slice(before);
    assert.equal(asked.length, 1, 'one token serves the manifest and every blob');
    assert.equal(asked[0]!.user, 'alice');
    assert.match(asked[0]!.scope ?? '', /^repository:example\.com\/foo\.bar:pull/);
  });

  test('a registry_token from the AuthConfig is sent as is', async () => {
    // Ask the token server directly, as a kubelet credential plugin would have.
    const realm = await fetch(`http://${reg.host}/v2/`).then((r) => /realm="([^"]+)"/.exec(r.headers.get('www-authenticate') ?? '')?.[1]);
    assert.ok(realm);
    const tok = await fetch(`${realm}?service=workd-test-registry&scope=repository:example.com/foo.bar:pull`, {
      headers: { authorization: `Basic ${Buffer.from('alice:wonderland').toString('base64')}` },
    }).then((r) => r.json() as Promise<{ token: string }>);
    const { store } = await freshStore();
    assert.equal((await store.pull(`${reg.host}/example.com/foo.bar:1.2.3`, { registryToken: tok.token })).id, foo.configDigest);
  });

  test('an identity_token (OAuth2 refresh token) is exchanged at the token server', async () => {
    const { store } = await freshStore();
    const before = reg.tokenRequests.length;
    assert.equal((await store.pull(`${reg.host}/example.com/foo.bar:1.2.3`, { identityToken: 'refresh-alice' })).id, foo.configDigest);
    assert.equal(reg.tokenRequests[before]?.user, 'alice');
    const e = await code((await freshStore()).store.pull(`${reg.host}/example.com/foo.bar:1.2.3`, { identityToken: 'refresh-mallory' }));
    assert.equal(e.code, Code.UNAUTHENTICATED);
    assert.match(e.message, /unknown refresh token/);
  });

  test('anonymous is UNAUTHENTICATED, a wrong password is UNAUTHENTICATED with the token server\'s message', async () => {
    const { store } = await freshStore();
    let e = await code(store.pull(`${reg.host}/example.com/foo.bar:1.2.3`));
    assert.equal(e.code, Code.UNAUTHENTICATED);
    e = await code(store.pull(`${reg.host}/example.com/foo.bar:1.2.3`, { username: 'alice', password: 'nope' }));
    assert.equal(e.code, Code.UNAUTHENTICATED);
    assert.match(e.message, /incorrect username or password for alice/);
  });

  test('a known user without access to the repository is PERMISSION_DENIED with the registry\'s message', async () => {
    const { store } = await freshStore();
    const e = await code(store.pull(`${reg.host}/example.com/foo.bar:1.2.3`, { username: 'bob', password: 'builder' }));
    assert.equal(e.code, Code.PERMISSION_DENIED);
    assert.match(e.message, /denied access: UNAUTHORIZED: authentication required/);
  });
});

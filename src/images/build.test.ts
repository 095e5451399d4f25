import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImageLayout } from './build.js';
import { parseDescriptorSet } from './proto-compile.js';
import { sha256Digest } from './digest.js';
import { Code, WorkdError } from '../errors.js';
import { EMPTY_WASM, echoProto, paddedWasm } from '../../test/helpers/images.js';

async function tmp(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'workd-build-'));
}

async function blob(dir: string, digest: string): Promise<Buffer> {
  return readFile(join(dir, 'blobs', 'sha256', digest.slice(7)));
}

test('build writes an OCI layout whose manifest follows the wasm artifact layout plus a descriptor-set layer', async () => {
  const dir = await tmp();
  try {
    await writeFile(join(dir, 'svc.proto'), echoProto('example.com:foo.Bar@1.2.3'));
    const out = join(dir, 'layout');
    const r = await buildImageLayout({ wasm: EMPTY_WASM, protoFiles: [join(dir, 'svc.proto')], component: 'example.com:foo.Bar@1.2.3', outDir: out });
    assert.deepEqual(JSON.parse(await readFile(join(out, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    assert.equal(index.manifests.length, 1);
    assert.equal(index.manifests[0].digest, r.manifestDigest);
    assert.equal(index.manifests[0].annotations['org.opencontainers.image.ref.name'], '1.2.3');
    const manifestBytes = await blob(out, r.manifestDigest);
    assert.equal(sha256Digest(manifestBytes), r.manifestDigest);
    const manifest = JSON.parse(manifestBytes.toString());
    assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(manifest.config.mediaType, 'application/vnd.wasm.config.v0+json');
    assert.equal(manifest.config.digest, r.configDigest);
    assert.deepEqual(manifest.layers.map((l: { mediaType: string }) => l.mediaType), ['application/wasm', 'application/vnd.workd.protobuf.descriptor-set.v1+binary']);
    assert.equal(manifest.annotations['dev.workd.component'], 'example.com:foo.Bar@1.2.3');
    assert.equal(manifest.annotations['dev.workd.abi-version'], '1');
    const config = JSON.parse((await blob(out, r.configDigest)).toString());
    assert.equal(config.architecture, 'wasm');
    assert.equal(config.os, 'wasip1');
    assert.deepEqual(config.layerDigests, manifest.layers.map((l: { digest: string }) => l.digest));
    assert.deepEqual(new Uint8Array(await blob(out, manifest.layers[0].digest)), EMPTY_WASM);
    const { registry } = parseDescriptorSet(await blob(out, manifest.layers[1].digest));
    assert.deepEqual(registry.getService('foo.Bar')?.methods.map((m) => m.name), ['Echo']);
    // Every blob the manifest names exists, and nothing else.
    const blobs = (await readdir(join(out, 'blobs', 'sha256'))).sort();
    assert.deepEqual(blobs, [r.manifestDigest, r.configDigest, ...manifest.layers.map((l: { digest: string }) => l.digest)].map((d) => d.slice(7)).sort());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the same inputs build the same digests; another version gets another image ID', async () => {
  const dir = await tmp();
  try {
    await writeFile(join(dir, 'svc.proto'), echoProto('example.com:foo.Bar@1.2.3'));
    const a = await buildImageLayout({ wasm: EMPTY_WASM, protoFiles: [join(dir, 'svc.proto')], component: 'example.com:foo.Bar@1.2.3', outDir: join(dir, 'a') });
    const b = await buildImageLayout({ wasm: EMPTY_WASM, protoFiles: [join(dir, 'svc.proto')], component: 'example.com:foo.Bar@1.2.3', outDir: join(dir, 'b') });
    const c = await buildImageLayout({ wasm: EMPTY_WASM, protoFiles: [join(dir, 'svc.proto')], component: 'example.com:foo.Bar@1.2.4', outDir: join(dir, 'c') });
    assert.deepEqual(a, b);
    assert.notEqual(a.configDigest, c.configDigest);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a descriptor set can be given instead of .proto files, and the build with it matches', async () => {
  const dir = await tmp();
  try {
    await writeFile(join(dir, 'svc.proto'), echoProto('example.com:foo.Bar@1.2.3'));
    const a = await buildImageLayout({ wasm: paddedWasm(1000), protoFiles: [join(dir, 'svc.proto')], component: 'example.com:foo.Bar@1.2.3', outDir: join(dir, 'a') });
    const manifest = JSON.parse((await blob(join(dir, 'a'), a.manifestDigest)).toString());
    const ds = await blob(join(dir, 'a'), manifest.layers[1].digest);
    const b = await buildImageLayout({ wasm: paddedWasm(1000), descriptorSet: ds, component: 'example.com:foo.Bar@1.2.3', outDir: join(dir, 'b') });
    assert.deepEqual(a, b);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

async function buildError(opts: Partial<Parameters<typeof buildImageLayout>[0]>, proto = echoProto('example.com:foo.Bar@1.2.3')): Promise<WorkdError> {
  const dir = await tmp();
  try {
    await writeFile(join(dir, 'svc.proto'), proto);
    await buildImageLayout({ wasm: EMPTY_WASM, protoFiles: [join(dir, 'svc.proto')], component: 'example.com:foo.Bar@1.2.3', outDir: join(dir, 'o'), ...opts });
  } catch (err) {
    assert.ok(err instanceof WorkdError, String(err));
    return err;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  assert.fail('build succeeded');
}

test('build refuses bad input with INVALID_ARGUMENT naming what is wrong', async () => {
  let e = await buildError({ component: 'example.com:foo.Baz@1.2.3' });
  assert.equal(e.code, Code.INVALID_ARGUMENT);
  assert.match(e.message, /does not define service foo\.Baz \(it defines foo\.Bar\)/);
  e = await buildError({ wasm: Buffer.from('not wasm at all') });
  assert.match(e.message, /not WebAssembly/);
  e = await buildError({ wasm: Uint8Array.of(0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0) });
  assert.match(e.message, /the component does not implement the world of service foo.Bar: the component does not export the interface "bar"/);
  e = await buildError({ component: 'foo.Bar@1.2.3' });
  assert.match(e.message, /no domain/);
  e = await buildError({}, 'syntax = "proto3"; service Bar { rpc X(Missing) returns (Missing); }');
  assert.equal(e.code, Code.INVALID_ARGUMENT);
  assert.match(e.message, /Missing/);
  e = await buildError({ protoFiles: [] });
  assert.match(e.message, /\.proto files or a descriptor set/);
  e = await buildError({ descriptorSet: Buffer.from([0xff, 0xff, 0xff]) });
  assert.match(e.message, /not both/);
  e = await buildError({ protoFiles: undefined, descriptorSet: Buffer.from([0x0a, 0xff, 0xff]) });
  assert.match(e.message, /descriptor set/);
});

test('.proto imports become separate files with dependencies, well-known types included', async () => {
  const dir = await tmp();
  try {
    await writeFile(join(dir, 'types.proto'), 'syntax = "proto3"; package shared; message Reply { string text = 1; }');
    await writeFile(
      join(dir, 'svc.proto'),
      'syntax = "proto3"; package foo.v1; import "types.proto"; import "google/protobuf/empty.proto";\n' +
        'service Bar { rpc Hello(google.protobuf.Empty) returns (shared.Reply); rpc Watch(google.protobuf.Empty) returns (stream shared.Reply); }',
    );
    const r = await buildImageLayout({ wasm: EMPTY_WASM, protoFiles: [join(dir, 'svc.proto')], component: 'example.com:foo.v1.Bar@0.1.0', outDir: join(dir, 'o') });
    const manifest = JSON.parse((await blob(join(dir, 'o'), r.manifestDigest)).toString());
    const { set, registry } = parseDescriptorSet(await blob(join(dir, 'o'), manifest.layers[1].digest));
    assert.deepEqual(set.file.map((f) => f.name), ['google/protobuf/empty.proto', 'types.proto', 'svc.proto']);
    assert.deepEqual([...set.file[2]!.dependency].sort(), ['google/protobuf/empty.proto', 'types.proto']);
    const svc = registry.getService('foo.v1.Bar')!;
    assert.equal(svc.methods[1]!.methodKind, 'server_streaming');
    assert.equal(svc.methods[0]!.output.typeName, 'shared.Reply');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a build that cannot write its index leaves no temporary files in the layout', async () => {
  const dir = await tmp();
  try {
    await writeFile(join(dir, 'svc.proto'), echoProto('example.com:foo.Bar@1.2.3'));
    const out = join(dir, 'layout');
    // index.json taken by a directory: the final rename fails after the data was written.
    await mkdir(join(out, 'index.json'), { recursive: true });
    await assert.rejects(buildImageLayout({ wasm: EMPTY_WASM, protoFiles: [join(dir, 'svc.proto')], component: 'example.com:foo.Bar@1.2.3', outDir: out }));
    const names = [...(await readdir(out)), ...(await readdir(join(out, 'blobs', 'sha256')))];
    assert.deepEqual(names.filter((n) => n.includes('tmp')), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

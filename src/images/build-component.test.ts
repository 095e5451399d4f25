import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dummyComponent } from '../../test/helpers/components.js';
import { buildImageLayout } from './build.js';
import { imageKind } from './image-kind.js';
import { compileProtoFilesToBinary, parseDescriptorSet } from './proto-compile.js';
import { Code, WorkdError } from '../errors.js';
import { mapService } from '../components/wit/mapping.js';
import { witFile } from '../components/wit/print.js';
import { validateComponent } from '../wasm/validate.js';
import { EMPTY_WASM } from '../../test/helpers/images.js';

const SHOP = 'test/fixtures/wit/shop.proto';
const shopSet = compileProtoFilesToBinary([SHOP]);
const shopWit = witFile([mapService(parseDescriptorSet(shopSet).registry, 'shop.v1.Shop')]);

/** A component of the given WIT whose functions trap: enough for the build's and the node's checks. */
const component = (wit: string) => dummyComponent(wit, 'shop');

test('image kind comes from the binary: core module, component, or refused', async () => {
  assert.equal(imageKind(EMPTY_WASM), 'module');
  assert.equal(imageKind(await component(shopWit)), 'component');
  assert.throws(() => imageKind(Uint8Array.of(0, 0x61, 0x73, 0x6d, 2, 0, 0, 0)), /unknown WebAssembly version and layer/);
  assert.throws(() => imageKind(Buffer.from('nope')), /not WebAssembly/);
});

test('build accepts a component of the world its .proto gives and records os wasip2, imports and exports', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'workd-build-component-'));
  try {
    const wasm = await component(shopWit);
    const r = await buildImageLayout({ wasm, protoFiles: [SHOP], component: 'example.com:shop.v1.Shop@1.0.0', outDir: dir });
    const blob = async (d: string) => readFile(join(dir, 'blobs', 'sha256', d.slice(7)));
    const manifest = JSON.parse((await blob(r.manifestDigest)).toString());
    assert.equal(manifest.layers[0].mediaType, 'application/wasm');
    assert.equal(manifest.layers[0].annotations['org.opencontainers.image.title'], 'component.wasm');
    const config = JSON.parse((await blob(r.configDigest)).toString());
    assert.equal(config.architecture, 'wasm');
    assert.equal(config.os, 'wasip2');
    assert.deepEqual(config.component, { imports: ['workd:grpc/call@0.1.0'], exports: ['shop'] });
    assert.deepEqual(config.layerDigests, manifest.layers.map((l: { digest: string }) => l.digest));
    assert.deepEqual(await blob(manifest.layers[0].digest), Buffer.from(wasm));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('build refuses a component whose world differs, naming the function, and writes nothing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'workd-build-component-'));
  try {
    const wasm = await component(shopWit.replace(/ {4}ping: func\(ctx: grpc-context\) -> result<_, grpc-status>;\n/, '').replace('total-cents: u64', 'total-cents: s64'));
    await assert.rejects(
      buildImageLayout({ wasm, protoFiles: [SHOP], component: 'example.com:shop.v1.Shop@1.0.0', outDir: join(dir, 'out') }),
      (e: unknown) =>
        e instanceof WorkdError && e.code === Code.INVALID_ARGUMENT &&
        e.message.startsWith('the component does not implement the world of service shop.v1.Shop: ') &&
        e.message.includes('function ping (rpc shop.v1.Shop/Ping) is not exported by the component') &&
        e.message.includes('type receipt (used by place-order) differs'),
    );
    await assert.rejects(readFile(join(dir, 'out', 'index.json')), /ENOENT/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the node\'s validator refuses a component built for another service, and a broken component', async () => {
  const legacy = compileProtoFilesToBinary(['test/fixtures/wit/legacy.proto']);
  await assert.rejects(validateComponent(await component(shopWit), legacy, 'legacy.Ledger'), /does not export the interface "ledger" of service legacy.Ledger \(it exports "shop"\)/);
  const wasm = await component(shopWit);
  await assert.rejects(validateComponent(wasm.subarray(0, wasm.length - 9), shopSet, 'shop.v1.Shop'), /the component is not a valid WebAssembly component/);
  const ok = await validateComponent(wasm, shopSet, 'shop.v1.Shop');
  assert.deepEqual(ok.functions, ['place-order', 'ping', 'list']);
});

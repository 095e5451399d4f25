import { test } from 'node:test';
import assert from 'node:assert/strict';
import { componentLayers, parseManifest, selectPlatform } from './manifest.js';
import { Code, WorkdError } from '../errors.js';
import type { Descriptor, ImageIndex } from './media-types.js';

const d = (n: number, extra: Partial<Descriptor> = {}): Descriptor => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: 'sha256:' + String(n).repeat(64).slice(0, 64),
  size: 1,
  ...extra,
});

test('an index resolves to its wasm entry, wasip1 preferred', () => {
  const index: ImageIndex = {
    schemaVersion: 2,
    manifests: [
      d(1, { platform: { architecture: 'amd64', os: 'linux' } }),
      d(2, { platform: { architecture: 'wasm', os: 'wasip2' } }),
      d(3, { platform: { architecture: 'wasm', os: 'wasip1' } }),
    ],
  };
  assert.equal(selectPlatform(index, 'x').digest, d(3).digest);
  assert.equal(selectPlatform({ schemaVersion: 2, manifests: [d(2, { platform: { architecture: 'wasm', os: 'wasip2' } })] }, 'x').digest, d(2).digest);
});

test('an index without a wasm entry is refused naming its platforms', () => {
  assert.throws(
    () => selectPlatform({ schemaVersion: 2, manifests: [d(1, { platform: { architecture: 'amd64', os: 'linux' } }), d(2, { platform: { architecture: 'arm64', os: 'linux' } })] }, 'reg/x:1'),
    (e: unknown) => e instanceof WorkdError && e.code === Code.INVALID_ARGUMENT && /has linux\/amd64, linux\/arm64/.test(e.message),
  );
});

test('manifests: schema 1 and garbage are refused; a wasm artifact without descriptor set is refused by name', () => {
  assert.throws(() => parseManifest(Buffer.from('{"schemaVersion":1}'), undefined, 'x'), /schemaVersion 1 is not supported/);
  assert.throws(() => parseManifest(Buffer.from('nope'), undefined, 'x'), /not JSON/);
  const m = parseManifest(
    Buffer.from(JSON.stringify({ schemaVersion: 2, config: d(1, { mediaType: 'application/vnd.wasm.config.v0+json' }), layers: [d(2, { mediaType: 'application/wasm' })] })),
    'application/vnd.oci.image.manifest.v1+json',
    'x',
  );
  assert.equal(m.kind, 'manifest');
  if (m.kind === 'manifest') assert.throws(() => componentLayers(m.manifest, 'x'), /needs exactly one application\/vnd\.workd\.protobuf\.descriptor-set\.v1\+binary layer/);
});

// Fuzzing what a CRI client or a registry hands the node: protobuf requests
// decoded as the CRI server decodes them and run through the checks every
// verb makes (metadata, labels, annotations, log paths, component labels);
// image references, manifests, indexes and configs; component names; the
// config file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, isAbsolute } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { CRI_PROTO_PATH } from '../../src/cri/server.js';
import { CRI_LOADER_OPTIONS } from '../../src/cri/handler.js';
import { checkLabelsAndAnnotations, checkMetadata, qualifiedNameError } from '../../src/cri/metadata.js';
import { DEFAULT_LIMITS } from '../../src/limits.js';
import { containerLogFile, podLogDirectory } from '../../src/wasm/log-path.js';
import { componentFromLabels, parseComponentName } from '../../src/pods/names.js';
import { formatReference, parseReference } from '../../src/images/reference.js';
import { componentIdentity, componentLayers, parseManifest, selectPlatform } from '../../src/images/manifest.js';
import { loadConfigFile } from '../../src/config.js';
import { CONFIG_LIMIT_NAMES, LIMITS, LIMIT_NAMES } from '../../src/limits.js';
import { check, fc, onlyTyped } from './fuzz.js';

const pkg = protoLoader.loadSync(CRI_PROTO_PATH, CRI_LOADER_OPTIONS);
const type = (name: string) => pkg[`runtime.v1.${name}`] as protoLoader.MessageTypeDefinition<object, object>;
const root = protobuf.loadSync(CRI_PROTO_PATH);
const Run = root.lookupType('runtime.v1.RunPodSandboxRequest');
const Create = root.lookupType('runtime.v1.CreateContainerRequest');

const str = fc.oneof(fc.string({ maxLength: 80 }), fc.constantFrom('', '..', '/', 'a/../b', 'workd.dev/domain', 'example.com', '/var/log/pods/x', 'x'.repeat(300)));
const strMap = fc.dictionary(str, str, { maxKeys: 8 });

test('CRI protobuf: random bytes decode as grpc-js decodes them or fail; what decodes passes or fails the verb checks with a typed error', () =>
  check(
    fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
      for (const t of ['RunPodSandboxRequest', 'CreateContainerRequest', 'ContainerStatusRequest', 'ListPodSandboxRequest']) {
        let req: Record<string, any>;
        try {
          req = type(t).deserialize(Buffer.from(b)) as Record<string, any>;
        } catch {
          continue; // refused by the protobuf decoder before any of our code
        }
        const config = req.config;
        if (config) {
          onlyTyped(() => checkMetadata(config.metadata, 'fuzz', DEFAULT_LIMITS));
          onlyTyped(() => checkLabelsAndAnnotations(config, 'fuzz', DEFAULT_LIMITS));
          onlyTyped(() => componentFromLabels(config.labels ?? {}));
          if (typeof config.log_directory === 'string') onlyTyped(() => podLogDirectory(config.log_directory));
          if (typeof config.log_path === 'string') onlyTyped(() => containerLogFile('/var/log/pods/p', config.log_path));
        }
      }
    }),
  ));

test('CRI requests built from random fields: the checks refuse or accept, and an accepted log file is inside its directory', () =>
  check(
    fc.property(
      fc.record({ name: str, namespace: str, uid: str }),
      strMap,
      strMap,
      str,
      str,
      (metadata, labels, annotations, logDirectory, logPath) => {
        const run = Run.toObject(Run.decode(Run.encode(Run.fromObject({ config: { metadata, labels, annotations, logDirectory } })).finish()), { defaults: true }) as any;
        onlyTyped(() => checkMetadata(run.config.metadata, 'fuzz', DEFAULT_LIMITS));
        onlyTyped(() => checkLabelsAndAnnotations(run.config, 'fuzz', DEFAULT_LIMITS));
        for (const k of Object.keys(labels)) {
          const why = qualifiedNameError(k);
          if (why === undefined) assert.ok(k.length <= 253 + 1 + 63);
        }
        const dir = onlyTyped(() => podLogDirectory(logDirectory));
        if (dir) {
          assert.ok(isAbsolute(dir) && !dir.split('/').includes('..'));
          const file = onlyTyped(() => containerLogFile(dir, logPath));
          if (file !== undefined) {
            const rel = relative(dir, file);
            assert.ok(rel !== '' && !rel.startsWith('..') && !isAbsolute(rel), `${logPath} → ${file} escapes ${dir}`);
          }
        }
        Create.encode(Create.fromObject({ config: { metadata: { name: metadata.name }, labels, annotations, logPath } })).finish();
      },
    ),
  ));

test('image references: random text parses or is INVALID_ARGUMENT; formatting a parsed reference parses to the same', () =>
  check(
    fc.property(fc.oneof(fc.string({ maxLength: 120 }), fc.webUrl().map((u) => u.replace(/^https?:\/\//, '')), fc.constantFrom('localhost:5000/a/b:c', 'a@sha256:' + 'a'.repeat(64), 'UPPER/x', 'x:1:2')), (text) => {
      const ref = onlyTyped(() => parseReference(text));
      if (ref) {
        const again = parseReference(formatReference(ref));
        assert.deepEqual(again, ref);
      }
    }),
  ));

const digest = fc.stringMatching(/^[a-f0-9]{64}$/).map((h) => `sha256:${h}`);
const descriptor = fc.record(
  { mediaType: fc.oneof(fc.constantFrom('application/wasm', 'application/vnd.wasm.config.v0+json', 'application/vnd.workd.protobuf.descriptor-set.v1+binary', 'application/vnd.oci.image.manifest.v1+json'), fc.string({ maxLength: 20 })), digest: fc.oneof(digest, fc.string({ maxLength: 10 })), size: fc.oneof(fc.nat(), fc.integer(), fc.double()), platform: fc.option(fc.record({ architecture: fc.constantFrom('wasm', 'amd64'), os: fc.constantFrom('wasip1', 'linux', 'wasi') }), { nil: undefined }) },
  { requiredKeys: ['mediaType', 'digest', 'size'] },
);
const manifestDoc = fc.record(
  {
    schemaVersion: fc.oneof(fc.constant(2), fc.integer()),
    mediaType: fc.option(fc.constantFrom('application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.v2+json', 'text/plain'), { nil: undefined }),
    config: fc.oneof(descriptor, fc.anything()),
    layers: fc.oneof(fc.array(descriptor, { maxLength: 5 }), fc.anything()),
    manifests: fc.oneof(fc.array(descriptor, { maxLength: 5 }), fc.anything()),
    annotations: fc.option(fc.dictionary(fc.constantFrom('dev.workd.component', 'dev.workd.abi-version', 'x'), fc.oneof(fc.constantFrom('example.com:foo.Bar@1.2.3', '1', '0', 'x'), fc.string())), { nil: undefined }),
  },
  { requiredKeys: [] },
);

/** Manifests close to a valid component image (so the checks past parsing are reached), with their configs. */
const plausible = fc
  .record({
    config: fc.record({ mediaType: fc.constantFrom('application/vnd.wasm.config.v0+json', 'application/vnd.oci.image.config.v1+json'), digest, size: fc.nat(5000) }),
    layers: fc.array(fc.record({ mediaType: fc.constantFrom('application/wasm', 'application/vnd.workd.protobuf.descriptor-set.v1+binary', 'application/octet-stream'), digest, size: fc.nat(5000) }), { minLength: 1, maxLength: 4 }),
    annotations: fc.dictionary(fc.constantFrom('dev.workd.component', 'dev.workd.abi-version'), fc.constantFrom('example.com:foo.Bar@1.2.3', 'example.com:foo.Bar@6.6.6', 'bad name', '1', '2', '0', '1e3', '')),
    bindLayers: fc.boolean(),
    workd: fc.option(fc.record({ component: fc.constantFrom('example.com:foo.Bar@1.2.3', 'nope'), abiVersion: fc.oneof(fc.constantFrom(1, 2), fc.integer()) }), { nil: undefined }),
    extra: fc.array(digest, { maxLength: 2 }),
  })
  .map(({ config, layers, annotations, bindLayers, workd, extra }) => ({
    bytes: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers, annotations })),
    config: JSON.stringify({ architecture: 'wasm', os: 'wasip1', layerDigests: bindLayers ? layers.map((l) => l.digest) : [...layers.map((l) => l.digest), ...extra].reverse(), workd }),
  }));

test('plausible component manifests and configs: every check past parsing refuses with a typed error or names the component', () =>
  check(
    fc.property(plausible, ({ bytes, config }) => {
      const parsed = parseManifest(bytes, undefined, 'fuzz');
      assert.equal(parsed.kind, 'manifest');
      if (parsed.kind !== 'manifest') return;
      const layers = onlyTyped(() => componentLayers(parsed.manifest, 'fuzz'));
      if (!layers) return;
      const id = onlyTyped(() => componentIdentity(parsed.manifest, Buffer.from(config), 'fuzz'));
      if (id) {
        assert.deepEqual(JSON.parse(config).layerDigests, parsed.manifest.layers.map((l) => l.digest), 'accepted only when the config binds the layers');
        assert.ok(Number.isSafeInteger(id.abiVersion) && id.abiVersion >= 1);
      }
    }),
  ));

test('manifests, indexes and configs: random documents and bytes are refused with a typed error, never a crash', () =>
  check(
    fc.property(fc.oneof(manifestDoc.map((d) => Buffer.from(JSON.stringify(d))), fc.uint8Array({ maxLength: 300 })), fc.option(fc.string({ maxLength: 40 }), { nil: undefined }), fc.oneof(fc.anything().map((a) => JSON.stringify(a) ?? 'null'), fc.string()), (bytes, contentType, configText) => {
      const parsed = onlyTyped(() => parseManifest(bytes, contentType, 'fuzz'));
      if (!parsed) return;
      if (parsed.kind === 'index') {
        onlyTyped(() => selectPlatform(parsed.index, 'fuzz'));
        return;
      }
      const layers = onlyTyped(() => componentLayers(parsed.manifest, 'fuzz'));
      if (layers) onlyTyped(() => componentIdentity(parsed.manifest, Buffer.from(configText), 'fuzz'));
    }),
  ));

test('component names: random names and labels are refused with a typed error; a parsed name parses back to itself', () =>
  check(
    fc.property(fc.string({ maxLength: 80 }), str, str, str, (text, domain, service, version) => {
      const c = onlyTyped(() => parseComponentName(text));
      if (c) assert.equal(parseComponentName(c.name).name, c.name);
      const fromLabels = onlyTyped(() => componentFromLabels({ 'workd.dev/domain': domain, 'workd.dev/service': service, 'workd.dev/version': version }));
      if (fromLabels) assert.equal(parseComponentName(fromLabels.name).name, fromLabels.name);
    }),
  ));

test('the config file: random TOML over the known sections and keys is accepted or refused naming the key, never a crash', () => {
  const dir = mkdtempSync(join(tmpdir(), 'workd-fuzz-config-'));
  try {
    const value = fc.oneof(fc.integer(), fc.double({ noNaN: true }), fc.boolean(), fc.string({ maxLength: 20 }).map((s) => JSON.stringify(s)), fc.constant('[]'), fc.constant('["a", 1]'), fc.constant('{}'));
    const keys = [...new Set(LIMIT_NAMES.map((n) => `${LIMITS[n].section}\0${LIMITS[n].key}`)), 'cri\0socket', 'state\0dir', 'log\0level', 'dataplane\0listen', 'dataplane\0plaintext', 'dataplane\0http3', 'executor\0workers', 'images\0insecure_registries', 'nosuch\0key', 'cri\0nosuch'];
    const entry = fc.tuple(fc.constantFrom(...keys), value);
    return check(
      fc.property(fc.array(entry, { maxLength: 8 }), fc.option(fc.string({ maxLength: 60 }), { nil: undefined }), (entries, garbage) => {
        const bySection = new Map<string, string[]>();
        for (const [k, v] of entries) {
          const [s, key] = k.split('\0') as [string, string];
          const lines = bySection.get(s) ?? [];
          if (!lines.some((l) => l.startsWith(`${key} =`))) lines.push(`${key} = ${v}`);
          bySection.set(s, lines);
        }
        const text = [...bySection].map(([s, lines]) => `[${s}]\n${lines.join('\n')}`).join('\n') + (garbage ? `\n${garbage}` : '');
        const path = join(dir, 'c.toml');
        writeFileSync(path, text);
        const cfg = onlyTyped(() => loadConfigFile(path));
        if (cfg) for (const n of CONFIG_LIMIT_NAMES) assert.ok(Number.isSafeInteger(cfg.limits[n]) && cfg.limits[n] >= ((LIMITS[n] as { min?: number }).min ?? 1), n);
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

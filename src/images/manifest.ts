// Reading and checking manifests and indexes of the component image format
// (docs/image-format.md). Shared by pull (registry) and import (layout dir).
import { Code, WorkdError, invalidArgument } from '../errors.js';
import { parseComponentName, type ComponentName } from '../pods/names.js';
import { isDigest } from './digest.js';
import {
  ANNOTATION_ABI_VERSION,
  ANNOTATION_COMPONENT,
  DEFAULT_ABI_VERSION,
  MEDIA_DESCRIPTOR_SET,
  MEDIA_DOCKER_CONFIG,
  MEDIA_DOCKER_MANIFEST,
  MEDIA_DOCKER_MANIFEST_LIST,
  MEDIA_OCI_CONFIG,
  MEDIA_OCI_INDEX,
  MEDIA_OCI_MANIFEST,
  MEDIA_WASM_CONFIG,
  MEDIA_WASM_LAYER,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  type WasmConfig,
} from './media-types.js';

export type ParsedManifest = { kind: 'manifest'; manifest: ImageManifest } | { kind: 'index'; index: ImageIndex };

const bad = (origin: string, why: string) => new WorkdError(Code.INVALID_ARGUMENT, `${origin}: ${why}`);

function checkDescriptor(d: unknown, origin: string, what: string): Descriptor {
  const o = d as Partial<Descriptor> | null;
  if (!o || typeof o !== 'object') throw bad(origin, `${what} is not a descriptor object`);
  if (typeof o.mediaType !== 'string') throw bad(origin, `${what} has no mediaType`);
  if (typeof o.digest !== 'string' || !isDigest(o.digest)) throw bad(origin, `${what} digest ${JSON.stringify(o.digest)} is not a sha256 digest`);
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) throw bad(origin, `${what} has no valid size`);
  return o as Descriptor;
}

/**
 * Parses manifest bytes. `contentType` is the registry's Content-Type (or the
 * layout descriptor's mediaType); the body's own `mediaType` wins when present.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | undefined, origin: string): ParsedManifest {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw bad(origin, 'the manifest is not JSON');
  }
  if (!doc || typeof doc !== 'object') throw bad(origin, 'the manifest is not a JSON object');
  const mediaType = (typeof doc.mediaType === 'string' ? doc.mediaType : undefined) ?? contentType?.split(';')[0]?.trim();
  const isIndex =
    mediaType === MEDIA_OCI_INDEX || mediaType === MEDIA_DOCKER_MANIFEST_LIST || (mediaType === undefined && Array.isArray(doc.manifests));
  if (doc.schemaVersion !== 2) {
    throw bad(origin, `manifest schemaVersion ${JSON.stringify(doc.schemaVersion)} is not supported (only 2; docker schema 1 images are refused)`);
  }
  if (isIndex) {
    if (!Array.isArray(doc.manifests)) throw bad(origin, 'the index has no manifests list');
    doc.manifests.forEach((m, i) => checkDescriptor(m, origin, `index entry ${i}`));
    return { kind: 'index', index: doc as unknown as ImageIndex };
  }
  if (mediaType !== undefined && mediaType !== MEDIA_OCI_MANIFEST && mediaType !== MEDIA_DOCKER_MANIFEST) {
    throw bad(origin, `manifest media type ${mediaType} is not an image manifest or index`);
  }
  checkDescriptor(doc.config, origin, 'config');
  if (!Array.isArray(doc.layers)) throw bad(origin, 'the manifest has no layers list');
  doc.layers.forEach((l, i) => checkDescriptor(l, origin, `layer ${i}`));
  return { kind: 'manifest', manifest: doc as unknown as ImageManifest };
}

/** WASI flavours a component image's platform may name, most preferred first (the executor runs core modules). */
const WASM_OSES = ['wasip1', 'wasi', 'wasip2'];

/** Picks the wasm entry of a multi-platform index; refuses an index without one, naming what it has. */
export function selectPlatform(index: ImageIndex, origin: string): Descriptor {
  for (const os of WASM_OSES) {
    const wasm = index.manifests.find((m) => m.platform?.architecture === 'wasm' && m.platform.os === os);
    if (wasm) return wasm;
  }
  // An index that is just a list of one platform-less image (e.g. an OCI layout's index) is taken as is.
  if (index.manifests.length === 1 && index.manifests[0]!.platform === undefined) return index.manifests[0]!;
  const platforms = index.manifests.map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}` : 'unspecified')).join(', ');
  throw new WorkdError(
    Code.INVALID_ARGUMENT,
    `${origin}: the image index has no wasm/wasip1 platform entry (it has ${platforms || 'no entries'}); this node runs only WebAssembly component images`,
  );
}

export interface ComponentLayers {
  readonly config: Descriptor;
  readonly wasm: Descriptor;
  readonly descriptorSet: Descriptor;
}

/** Checks the manifest is a component image and names its parts; plain container images are refused by media type. */
export function componentLayers(m: ImageManifest, origin: string): ComponentLayers {
  const cfg = m.config.mediaType;
  if (cfg === MEDIA_OCI_CONFIG || cfg === MEDIA_DOCKER_CONFIG) {
    const layerTypes = [...new Set(m.layers.map((l) => l.mediaType))].join(', ');
    throw invalidArgument(
      `${origin} is a Linux container image (config media type ${cfg}${layerTypes ? `, layers ${layerTypes}` : ''}); ` +
        `this node runs only WebAssembly component images (config ${MEDIA_WASM_CONFIG}, see docs/image-format.md)`,
    );
  }
  if (cfg !== MEDIA_WASM_CONFIG) {
    throw invalidArgument(`${origin}: config media type ${cfg} is not ${MEDIA_WASM_CONFIG}; this node runs only WebAssembly component images`);
  }
  const wasm = m.layers.filter((l) => l.mediaType === MEDIA_WASM_LAYER);
  const ds = m.layers.filter((l) => l.mediaType === MEDIA_DESCRIPTOR_SET);
  if (wasm.length !== 1) throw invalidArgument(`${origin}: a component image needs exactly one ${MEDIA_WASM_LAYER} layer, it has ${wasm.length}`);
  if (ds.length !== 1) {
    throw invalidArgument(
      `${origin}: a component image needs exactly one ${MEDIA_DESCRIPTOR_SET} layer (the service's FileDescriptorSet), it has ${ds.length}`,
    );
  }
  return { config: m.config, wasm: wasm[0]!, descriptorSet: ds[0]! };
}

/**
 * The image ID is the config's digest, so the config must name the layers:
 * otherwise a manifest anywhere could pair a trusted config with layers of its
 * own and pass for the trusted image (containerd checks rootfs.diff_ids the
 * same way).
 */
function checkLayerDigests(m: ImageManifest, config: Partial<WasmConfig>, origin: string): void {
  const listed = config.layerDigests;
  const cfg = m.config.digest;
  if (!Array.isArray(listed) || !listed.every((d) => typeof d === 'string')) {
    throw invalidArgument(`${origin}: config ${cfg} has no layerDigests list, so it does not bind the image ID to the layers (see docs/image-format.md)`);
  }
  const layers = m.layers.map((l) => l.digest);
  for (let i = 0; i < Math.max(listed.length, layers.length); i++) {
    if (listed[i] === layers[i]) continue;
    const inConfig = listed[i] ?? 'nothing';
    const inManifest = layers[i] ?? 'nothing';
    throw invalidArgument(
      `${origin}: manifest layer ${i} is ${inManifest} but config ${cfg} lists ${inConfig} there: ` +
        `the manifest does not carry the layers its config (the image ID) was built from`,
    );
  }
}

/**
 * The component name and ABI version: manifest annotations are authoritative,
 * the config's `workd` field the fallback; where both are given they must agree,
 * so the config digest (the image ID) fixes what the image is.
 */
export function componentIdentity(m: ImageManifest, configBytes: Uint8Array, origin: string): { component: ComponentName; abiVersion: number } {
  let config: Partial<WasmConfig>;
  try {
    config = JSON.parse(Buffer.from(configBytes).toString('utf8')) as Partial<WasmConfig>;
  } catch {
    throw invalidArgument(`${origin}: the image config is not JSON`);
  }
  if (!config || typeof config !== 'object') throw invalidArgument(`${origin}: the image config is not a JSON object`);
  checkLayerDigests(m, config, origin);
  const annotated = m.annotations?.[ANNOTATION_COMPONENT];
  const configured = config.workd?.component;
  if (annotated !== undefined && configured !== undefined && annotated !== configured) {
    throw invalidArgument(`${origin}: the manifest names component ${annotated} but config ${m.config.digest} names ${configured}`);
  }
  const annotatedAbi = m.annotations?.[ANNOTATION_ABI_VERSION];
  const configuredAbi = config.workd?.abiVersion;
  if (annotatedAbi !== undefined && configuredAbi !== undefined && annotatedAbi !== String(configuredAbi)) {
    throw invalidArgument(`${origin}: the manifest names ABI version ${annotatedAbi} but config ${m.config.digest} names ${configuredAbi}`);
  }
  const name = m.annotations?.[ANNOTATION_COMPONENT] ?? config.workd?.component;
  if (name === undefined) throw invalidArgument(`${origin}: the manifest has no ${ANNOTATION_COMPONENT} annotation naming the component`);
  let component: ComponentName;
  try {
    component = parseComponentName(name);
  } catch (err) {
    throw invalidArgument(`${origin}: annotation ${ANNOTATION_COMPONENT}: ${(err as Error).message}`);
  }
  const abiText = m.annotations?.[ANNOTATION_ABI_VERSION] ?? (config.workd?.abiVersion !== undefined ? String(config.workd.abiVersion) : undefined);
  let abiVersion = DEFAULT_ABI_VERSION;
  if (abiText !== undefined) {
    if (!/^[1-9][0-9]{0,8}$/.test(abiText)) throw invalidArgument(`${origin}: ABI version ${JSON.stringify(abiText)} is not a positive integer`);
    // An ABI this node does not speak is stored anyway: the executor refuses it at create/start.
    abiVersion = Number(abiText);
  }
  return { component, abiVersion };
}

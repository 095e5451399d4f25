// Author side: a .wasm module or component + the service's descriptors + a component name →
// an OCI image layout directory (docs/image-format.md), ready for
// `workd image push` or `workd image import`.
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { invalidArgument } from '../errors.js';
import { parseComponentName } from '../pods/names.js';
import { writeFileAtomic } from './atomic-file.js';
import { digestHex, sha256Digest } from './digest.js';
import {
  ANNOTATION_ABI_VERSION,
  ANNOTATION_COMPONENT,
  ANNOTATION_REF_NAME,
  ANNOTATION_TITLE,
  ANNOTATION_VERSION,
  DEFAULT_ABI_VERSION,
  MEDIA_DESCRIPTOR_SET,
  MEDIA_OCI_MANIFEST,
  MEDIA_WASM_CONFIG,
  MEDIA_WASM_LAYER,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  type WasmConfig,
} from './media-types.js';
import { compileProtoFilesToBinary, parseDescriptorSet, requireService } from './proto-compile.js';
import { versionToTag } from './reference.js';
import { imageKind, OS_OF_KIND } from './image-kind.js';
import { validateComponent } from '../wasm/validate.js';

export interface BuildOptions {
  /** A core module (guest ABI v1) or a component (checked against the service's WIT world). */
  wasm: Uint8Array;
  /** .proto files (paths) defining the service; compiled with their imports. */
  protoFiles?: string[];
  /** Import directories for protoFiles (protoc's -I). */
  protoIncludeDirs?: string[];
  /** A binary FileDescriptorSet instead of protoFiles. */
  descriptorSet?: Uint8Array;
  /** e.g. `example.com:foo.Bar@1.2.3` */
  component: string;
  /** Guest ABI version (docs/guest-abi.md); default 1. */
  abiVersion?: number;
  outDir: string;
  /** Config `created` (RFC 3339). Default: $SOURCE_DATE_EPOCH or the Unix epoch, so builds are reproducible. */
  created?: string;
}

export interface BuildResult {
  manifestDigest: string;
  /** The image ID the node will report. */
  configDigest: string;
}

export async function buildImageLayout(opts: BuildOptions): Promise<BuildResult> {
  const component = parseComponentName(opts.component);
  const abiVersion = opts.abiVersion ?? DEFAULT_ABI_VERSION;
  if (!Number.isInteger(abiVersion) || abiVersion < 1) throw invalidArgument(`ABI version ${abiVersion} is not a positive integer`);
  const kind = imageKind(opts.wasm);
  if (kind === 'module' && !WebAssembly.validate(opts.wasm)) throw invalidArgument('the .wasm module does not validate');

  if ((opts.protoFiles?.length ?? 0) > 0 && opts.descriptorSet) throw invalidArgument('give either .proto files or a descriptor set, not both');
  let descriptorSet: Uint8Array;
  if (opts.descriptorSet) descriptorSet = opts.descriptorSet;
  else if (opts.protoFiles?.length) descriptorSet = compileProtoFilesToBinary(opts.protoFiles, { includeDirs: opts.protoIncludeDirs });
  else throw invalidArgument('the service needs its .proto files or a descriptor set');
  const { registry } = parseDescriptorSet(descriptorSet);
  requireService(registry, component.service);
  const world = kind === 'component' ? await validateComponent(opts.wasm, registry, component.service) : undefined;

  const layout = new LayoutWriter(opts.outDir);
  await layout.init();
  const wasmDesc = await layout.blob(MEDIA_WASM_LAYER, opts.wasm, { [ANNOTATION_TITLE]: kind === 'component' ? 'component.wasm' : 'module.wasm' });
  const dsDesc = await layout.blob(MEDIA_DESCRIPTOR_SET, descriptorSet, { [ANNOTATION_TITLE]: 'service.binpb' });
  const config: WasmConfig = {
    created: opts.created ?? defaultCreated(),
    architecture: 'wasm',
    os: OS_OF_KIND[kind],
    layerDigests: [wasmDesc.digest, dsDesc.digest],
    workd: { component: component.name, abiVersion },
    ...(world ? { component: { imports: [...world.imports], exports: [...world.exports] } } : {}),
  };
  const configDesc = await layout.blob(MEDIA_WASM_CONFIG, Buffer.from(JSON.stringify(config)));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_OCI_MANIFEST,
    config: configDesc,
    layers: [wasmDesc, dsDesc],
    annotations: {
      [ANNOTATION_COMPONENT]: component.name,
      [ANNOTATION_ABI_VERSION]: String(abiVersion),
      [ANNOTATION_VERSION]: component.version,
    },
  };
  const manifestDesc = await layout.blob(MEDIA_OCI_MANIFEST, Buffer.from(JSON.stringify(manifest)));
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ ...manifestDesc, annotations: { [ANNOTATION_REF_NAME]: versionToTag(component.version), [ANNOTATION_COMPONENT]: component.name } }],
  };
  await layout.writeIndex(index);
  return { manifestDigest: manifestDesc.digest, configDigest: configDesc.digest };
}

function defaultCreated(): string {
  const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? '0');
  return new Date((Number.isFinite(epoch) ? epoch : 0) * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

class LayoutWriter {
  constructor(private readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    await writeFileAtomic(join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }

  async blob(mediaType: string, bytes: Uint8Array, annotations?: Record<string, string>): Promise<Descriptor> {
    const digest = sha256Digest(bytes);
    const path = join(this.dir, 'blobs', 'sha256', digestHex(digest));
    const have = await stat(path).catch(() => undefined);
    if (!have || have.size !== bytes.length) await writeFileAtomic(path, bytes);
    return { mediaType, digest, size: bytes.length, ...(annotations ? { annotations } : {}) };
  }

  async writeIndex(index: ImageIndex): Promise<void> {
    await writeFileAtomic(join(this.dir, 'index.json'), JSON.stringify(index, null, 2) + '\n');
  }
}

export async function readWasmFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    throw invalidArgument(`cannot read ${path}: ${(err as Error).message}`);
  }
}

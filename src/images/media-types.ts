// Wire strings of the component image format (docs/image-format.md), declared once.

export const MEDIA_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MEDIA_DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const MEDIA_DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

/** CNCF TAG Runtime "Wasm OCI artifact" config and layer types. */
export const MEDIA_WASM_CONFIG = 'application/vnd.wasm.config.v0+json';
export const MEDIA_WASM_LAYER = 'application/wasm';
/** Ours: the service's binary google.protobuf.FileDescriptorSet. */
export const MEDIA_DESCRIPTOR_SET = 'application/vnd.workd.protobuf.descriptor-set.v1+binary';

/** Configs of plain Linux container images, refused by name. */
export const MEDIA_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MEDIA_DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';

export const ANNOTATION_COMPONENT = 'dev.workd.component';
export const ANNOTATION_ABI_VERSION = 'dev.workd.abi-version';
export const ANNOTATION_TITLE = 'org.opencontainers.image.title';
export const ANNOTATION_VERSION = 'org.opencontainers.image.version';
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';

/** The guest ABI this node's executor speaks when an image names none. */
export const DEFAULT_ABI_VERSION = 1;

/** What a registry is asked for: manifests and indexes of both families. */
export const MANIFEST_ACCEPT = [MEDIA_OCI_MANIFEST, MEDIA_OCI_INDEX, MEDIA_DOCKER_MANIFEST, MEDIA_DOCKER_MANIFEST_LIST].join(', ');

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
  urls?: string[];
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** The config blob (Wasm OCI artifact layout, plus our `workd` field). */
export interface WasmConfig {
  created: string;
  author?: string;
  architecture: 'wasm';
  os: string;
  /** Digests of every layer in manifest order; keeps the config (the image ID) unique per content. */
  layerDigests: string[];
  /** Also in the config so two builds differing only in component name or ABI get different image IDs. */
  workd?: { component: string; abiVersion: number };
  /** Components only (`os: wasip2`): the world's imports and exports, as the Wasm OCI artifact layout lists them. */
  component?: { imports: string[]; exports: string[] };
}

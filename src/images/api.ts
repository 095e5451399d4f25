// The node's image store as the CRI and the data plane see it. Implementation:
// src/images/image-store.ts (content store under <state-dir>/images).
import type { ComponentName } from '../pods/names.js';

export interface ImageRecord {
  /** The config digest (`sha256:…`), as containerd reports image IDs. */
  readonly id: string;
  readonly manifestDigest: string;
  /** e.g. `registry.example:5000/example.com/foo.bar:1.2.3` */
  readonly repoTags: readonly string[];
  /** e.g. `registry.example:5000/example.com/foo.bar@sha256:…` */
  readonly repoDigests: readonly string[];
  /** Bytes of all blobs of the image. */
  readonly size: number;
  readonly component: ComponentName;
  readonly abiVersion: number;
  readonly wasmDigest: string;
  readonly descriptorSetDigest: string;
  /** Pinned images are never garbage collected (CRI `pinned`). */
  readonly pinned: boolean;
}

export interface ImageStore {
  /** Resolves an image ID (or unique ID prefix), a tag reference or a digest reference. */
  resolve(ref: string): ImageRecord | undefined;
  list(): readonly ImageRecord[];
  readWasm(image: ImageRecord): Promise<Uint8Array>;
  /** The service's protobuf FileDescriptorSet (binary). */
  readDescriptorSet(image: ImageRecord): Promise<Uint8Array>;
  /** Containers using an image keep it from removal. */
  acquire(imageId: string, containerId: string): void;
  release(imageId: string, containerId: string): void;
}

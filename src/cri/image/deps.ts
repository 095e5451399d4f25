// What the ImageService verbs share: the store they act on and the one
// conversion from image records to CRI messages.
import { invalidArgument } from '../../errors.js';
import type { ImageRecord, ImageStore } from '../../images/api.js';
import type { ImageFsUsage, PullProgress } from '../../images/image-store.js';
import type { RegistryAuth } from '../../images/registry-client.js';
import type { Image } from '../../gen/cri/runtime/v1/Image.js';
import type { ImageSpec__Output } from '../../gen/cri/runtime/v1/ImageSpec.js';

/** The image store as the ImageService needs it (src/images/image-store.ts implements it). */
export interface ImageServiceStore extends ImageStore {
  pull(ref: string, auth?: RegistryAuth, progress?: PullProgress): Promise<ImageRecord>;
  remove(ref: string): Promise<boolean>;
  fsInfo(): ImageFsUsage;
  usersOf(imageId: string): string[];
  manifestOf?(image: ImageRecord): Promise<unknown>;
}

export interface ImageServiceDeps {
  readonly store: ImageServiceStore;
}

/** The image reference a request names, INVALID_ARGUMENT when there is none. */
export function requireImage(spec: ImageSpec__Output | null | undefined, verb: string): string {
  const ref = spec?.image ?? '';
  if (ref === '') throw invalidArgument(`${verb}: image.image is missing`);
  return ref;
}

/**
 * The user every component image reports (ImageStatus uid). A component has no
 * process and no host identity: its guest reaches nothing but the calls it is
 * given, as any user. The kubelet still refuses to start a container with
 * runAsNonRoot when the image reports no numeric user or user 0, so images report
 * 65532, the non-root user of distroless images ("nonroot"); the kubelet then
 * passes it back as run_as_user, which workd accepts (docs/kubernetes.md).
 */
export const COMPONENT_IMAGE_UID = 65532;

export function toCriImage(r: ImageRecord): Image {
  return {
    id: r.id,
    repo_tags: [...r.repoTags],
    repo_digests: [...r.repoDigests],
    size: String(r.size),
    uid: { value: String(COMPONENT_IMAGE_UID) },
    username: '',
    spec: { image: r.id, annotations: { 'dev.workd.component': r.component.name, 'dev.workd.abi-version': String(r.abiVersion) } },
    pinned: r.pinned,
  };
}

// runtime.v1.ImageService: one file per verb. StreamImages (server streaming)
// answers UNIMPLEMENTED through the server's default; ListImages serves the same.
import type { ServiceHandlers } from '../handler.js';
import type { ImageServiceDeps } from './deps.js';
import { imageFsInfo } from './image-fs-info.js';
import { listImages } from './image-list.js';
import { pullImage } from './image-pull.js';
import { removeImage } from './image-remove.js';
import { imageStatus } from './image-status.js';

export type { ImageServiceDeps, ImageServiceStore } from './deps.js';

export function createImageService(deps: ImageServiceDeps): ServiceHandlers {
  return {
    PullImage: pullImage(deps),
    ListImages: listImages(deps),
    ImageStatus: imageStatus(deps),
    RemoveImage: removeImage(deps),
    ImageFsInfo: imageFsInfo(deps),
  };
}

/** Why the ImageService rpcs workd does not serve answer UNIMPLEMENTED. */
export const IMAGE_UNIMPLEMENTED: Readonly<Record<string, string>> = {
  StreamImages: 'the streaming variant is not served yet; use ListImages',
};

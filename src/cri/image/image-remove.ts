// RemoveImage: removes the image with all its tags. Unknown images are already
// removed (OK, as the CRI requires); an image a container uses is refused with
// FAILED_PRECONDITION naming the containers (docs/image-format.md).
import type { UnaryHandler } from '../handler.js';
import type { RemoveImageRequest__Output } from '../../gen/cri/runtime/v1/RemoveImageRequest.js';
import type { RemoveImageResponse } from '../../gen/cri/runtime/v1/RemoveImageResponse.js';
import { requireImage, type ImageServiceDeps } from './deps.js';

export function removeImage(d: ImageServiceDeps): UnaryHandler<RemoveImageRequest__Output, RemoveImageResponse> {
  return async (req) => {
    await d.store.remove(requireImage(req.image, 'RemoveImage'));
    return {};
  };
}

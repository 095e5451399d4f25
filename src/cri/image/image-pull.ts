// PullImage: fetches the image from its registry (or finds it present) and
// answers its ID, which the kubelet passes back in CreateContainer.
import type { UnaryHandler } from '../handler.js';
import { authFromCri } from '../../images/registry-client.js';
import type { PullImageRequest__Output } from '../../gen/cri/runtime/v1/PullImageRequest.js';
import type { PullImageResponse } from '../../gen/cri/runtime/v1/PullImageResponse.js';
import { requireImage, type ImageServiceDeps } from './deps.js';

export function pullImage(d: ImageServiceDeps): UnaryHandler<PullImageRequest__Output, PullImageResponse> {
  return async (req) => {
    const ref = requireImage(req.image, 'PullImage');
    const image = await d.store.pull(ref, authFromCri(req.auth));
    return { image_ref: image.id };
  };
}

// ListImages: every image, or the one the filter's reference resolves to.
import type { UnaryHandler } from '../handler.js';
import type { ListImagesRequest__Output } from '../../gen/cri/runtime/v1/ListImagesRequest.js';
import type { ListImagesResponse } from '../../gen/cri/runtime/v1/ListImagesResponse.js';
import { toCriImage, type ImageServiceDeps } from './deps.js';

export function listImages(d: ImageServiceDeps): UnaryHandler<ListImagesRequest__Output, ListImagesResponse> {
  return async (req) => {
    const ref = req.filter?.image?.image ?? '';
    if (ref !== '') {
      const one = d.store.resolve(ref);
      return { images: one ? [toCriImage(one)] : [] };
    }
    return { images: d.store.list().map(toCriImage) };
  };
}

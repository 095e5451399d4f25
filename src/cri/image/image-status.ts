// ImageStatus: the image a reference resolves to. An unknown image is an empty
// answer, not an error: the kubelet asks before every pull (the CRI says so).
// `verbose` adds info["info"], a JSON object with the component, ABI version,
// digests, the containers using the image and the manifest itself.
import type { UnaryHandler } from '../handler.js';
import type { ImageStatusRequest__Output } from '../../gen/cri/runtime/v1/ImageStatusRequest.js';
import type { ImageStatusResponse } from '../../gen/cri/runtime/v1/ImageStatusResponse.js';
import { requireImage, toCriImage, type ImageServiceDeps } from './deps.js';

export function imageStatus(d: ImageServiceDeps): UnaryHandler<ImageStatusRequest__Output, ImageStatusResponse> {
  return async (req): Promise<ImageStatusResponse> => {
    const ref = requireImage(req.image, 'ImageStatus');
    const r = d.store.resolve(ref);
    if (!r) return { image: null, info: {} };
    if (!req.verbose) return { image: toCriImage(r), info: {} };
    const info = {
      id: r.id,
      component: r.component.name,
      abiVersion: r.abiVersion,
      manifestDigest: r.manifestDigest,
      wasmDigest: r.wasmDigest,
      descriptorSetDigest: r.descriptorSetDigest,
      usedBy: d.store.usersOf(r.id),
      manifest: d.store.manifestOf ? await d.store.manifestOf(r) : undefined,
    };
    return { image: toCriImage(r), info: { info: JSON.stringify(info) } };
  };
}

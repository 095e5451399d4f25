// ImageService handlers. PLACEHOLDER until the images work lands: the server
// answers UNIMPLEMENTED for every rpc missing from this map.
import type { ServiceHandlers } from '../handler.js';
import type { ImageStore } from '../../images/api.js';

export interface ImageServiceDeps {
  readonly store: ImageStore;
}

export function createImageService(_deps: ImageServiceDeps): ServiceHandlers {
  return {};
}

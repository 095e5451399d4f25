// ImageFsInfo: bytes and inodes the image store uses. Component containers
// have no writable layer, so no container filesystem is reported.
import type { UnaryHandler } from '../handler.js';
import type { ImageFsInfoRequest__Output } from '../../gen/cri/runtime/v1/ImageFsInfoRequest.js';
import type { ImageFsInfoResponse } from '../../gen/cri/runtime/v1/ImageFsInfoResponse.js';
import type { ImageServiceDeps } from './deps.js';

export function imageFsInfo(d: ImageServiceDeps): UnaryHandler<ImageFsInfoRequest__Output, ImageFsInfoResponse> {
  return async () => {
    const u = d.store.fsInfo();
    return {
      image_filesystems: [
        {
          timestamp: u.timestamp.toString(),
          fs_id: { mountpoint: u.mountpoint },
          used_bytes: { value: String(u.usedBytes) },
          inodes_used: { value: String(u.inodesUsed) },
        },
      ],
      container_filesystems: [],
    };
  };
}

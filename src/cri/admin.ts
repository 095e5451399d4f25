// workd.admin.v1.Images on the CRI socket: `workd image import DIR` asks the
// daemon to read a layout directory itself, so air-gapped nodes load images
// into the store the daemon owns (and the CLI needs no access to it).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidArgument } from '../errors.js';
import type { ImageRecord } from '../images/api.js';
import { CRI_LOADER_OPTIONS, type ServiceHandlers } from './handler.js';
import type { CriService } from './server.js';

/** proto/workd/admin/v1/admin.proto, relative to this file compiled at dist/src/cri/admin.js. */
export const ADMIN_PROTO_PATH = fileURLToPath(new URL('../../../proto/workd/admin/v1/admin.proto', import.meta.url));
export const ADMIN_IMAGES_SERVICE = 'workd.admin.v1.Images';

export interface AdminImageStore {
  importLayout(dir: string, opts?: { tags?: string[] }): Promise<ImageRecord[]>;
}

let cached: grpc.GrpcObject | undefined;
export function loadAdminPackage(): grpc.GrpcObject {
  cached ??= grpc.loadPackageDefinition(protoLoader.loadSync(ADMIN_PROTO_PATH, CRI_LOADER_OPTIONS));
  return cached;
}

/** The client/service constructor of workd.admin.v1.Images. */
export function adminImagesConstructor(): grpc.ServiceClientConstructor {
  const v1 = ((loadAdminPackage().workd as grpc.GrpcObject).admin as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return v1.Images as grpc.ServiceClientConstructor;
}

interface ImportImageRequest {
  path: string;
  tags: string[];
}

export function createAdminImagesHandlers(store: AdminImageStore): ServiceHandlers {
  return {
    ImportImage: async (req: ImportImageRequest) => {
      if (!req.path) throw invalidArgument('ImportImage: path is missing');
      if (!isAbsolute(req.path)) throw invalidArgument(`ImportImage: path ${JSON.stringify(req.path)} must be absolute (the daemon reads it)`);
      const images = await store.importLayout(req.path, { tags: req.tags });
      return {
        images: images.map((r) => ({ id: r.id, repo_tags: [...r.repoTags], component: r.component.name, abi_version: r.abiVersion })),
      };
    },
  };
}

export function createAdminService(store: AdminImageStore): CriService {
  return { name: ADMIN_IMAGES_SERVICE, definition: adminImagesConstructor().service, handlers: createAdminImagesHandlers(store) };
}

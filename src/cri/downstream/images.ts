// One ImageService over two stores. The kubelet pulls every image through
// workd: a component image (its manifest names a wasm config or layer) goes to
// workd's store, any other image to the downstream runtime. What the node holds
// is the union of both stores; a reference workd's store resolves is workd's.
import { Code, WorkdError } from '../../errors.js';
import { MEDIA_WASM_CONFIG, MEDIA_WASM_LAYER, type ImageIndex, type ImageManifest } from '../../images/media-types.js';
import { parseManifest } from '../../images/manifest.js';
import { parseReference } from '../../images/reference.js';
import { authFromCri, RegistryClient } from '../../images/registry-client.js';
import type { ServiceHandlers, UnaryHandler } from '../handler.js';
import type { DownstreamClient } from './client.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Msg = any;

export interface ImageRouterDeps {
  readonly downstream: DownstreamClient;
  /** Whether workd's store holds an image by this reference, ID or digest. */
  readonly workdHas: (ref: string) => boolean;
  readonly insecureRegistries: readonly string[];
  readonly mirrors: Readonly<Record<string, readonly string[]>>;
  /** limits.downstreamPullTimeoutMs */
  readonly pullTimeoutMs: number;
}

export type ImageKind = 'component' | 'linux';

function isComponentManifest(m: ImageManifest): boolean {
  return m.config?.mediaType === MEDIA_WASM_CONFIG || (m.layers ?? []).some((l) => l.mediaType === MEDIA_WASM_LAYER);
}

function isComponentIndex(i: ImageIndex): boolean {
  return (i.manifests ?? []).some((m) => m.platform?.architecture === 'wasm' || m.platform?.os?.startsWith('wasi'));
}

/** Fetches the manifest (through the mirrors) and tells a component image from a Linux one. */
export async function imageKind(client: RegistryClient, refText: string, auth: Msg): Promise<ImageKind> {
  const ref = parseReference(refText);
  const repo = client.repository(ref, authFromCri(auth));
  const top = await repo.manifest(ref.digest ?? ref.tag ?? 'latest');
  const parsed = parseManifest(top.bytes, top.mediaType, refText);
  if (parsed.kind === 'index') return isComponentIndex(parsed.index) ? 'component' : 'linux';
  return isComponentManifest(parsed.manifest) ? 'component' : 'linux';
}

const isNotFound = (err: unknown): boolean => err instanceof WorkdError && err.code === Code.NOT_FOUND;

/** The ImageService over workd's store and the downstream's. */
export function routeImageService(workd: ServiceHandlers, d: ImageRouterDeps): ServiceHandlers {
  const registry = new RegistryClient({ insecureRegistries: d.insecureRegistries, mirrors: d.mirrors, userAgent: 'workd' });
  const own = (rpc: string): UnaryHandler => workd[rpc]!;
  const theirs = (rpc: string, req: Msg, timeoutMs?: number): Promise<Msg> => d.downstream.call('image', rpc, req, timeoutMs);

  return {
    ...workd,
    async PullImage(req: Msg) {
      const ref: string = req?.image?.image ?? '';
      if (ref === '' || d.workdHas(ref)) return own('PullImage')(req);
      let kind: ImageKind;
      try {
        kind = await imageKind(registry, ref, req.auth);
      } catch (err) {
        // workd cannot read the manifest (a registry only the downstream's own config reaches, say): the
        // downstream tries; if it fails too, both reasons are told.
        return theirs('PullImage', req, d.pullTimeoutMs).catch((dsErr: WorkdError) => {
          throw new WorkdError(dsErr.code ?? Code.UNKNOWN, `${dsErr.message} (workd could not read the manifest either: ${(err as Error).message})`);
        });
      }
      return kind === 'component' ? own('PullImage')(req) : theirs('PullImage', req, d.pullTimeoutMs);
    },
    async ImageStatus(req: Msg) {
      const mine = await own('ImageStatus')(req);
      if (mine?.image) return mine;
      return theirs('ImageStatus', req);
    },
    async ListImages(req: Msg) {
      const [mine, other] = await Promise.all([own('ListImages')(req), theirs('ListImages', req)]);
      return { images: [...(mine?.images ?? []), ...(other?.images ?? [])] };
    },
    async RemoveImage(req: Msg) {
      const ref: string = req?.image?.image ?? '';
      if (ref === '' || d.workdHas(ref)) return own('RemoveImage')(req);
      // Removing what is not there is OK (the CRI says so), on either side.
      return theirs('RemoveImage', req).catch((err: unknown) => (isNotFound(err) ? {} : Promise.reject(err)));
    },
    async ImageFsInfo(req: Msg) {
      const [mine, other] = await Promise.all([own('ImageFsInfo')(req), theirs('ImageFsInfo', req)]);
      // The downstream's first: the kubelet's eviction manager watches the first image filesystem, and
      // Linux images and writable layers are what fill a disk.
      return {
        image_filesystems: [...(other?.image_filesystems ?? []), ...(mine?.image_filesystems ?? [])],
        container_filesystems: [...(other?.container_filesystems ?? []), ...(mine?.container_filesystems ?? [])],
      };
    },
  };
}

// OCI image layout directory → registry (`workd image push`): every blob is
// HEAD-checked and uploaded if missing, children before parents, the tag last,
// so a registry never holds a manifest whose blobs it lacks.
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Code, WorkdError, invalidArgument } from '../errors.js';
import { digestHex, sha256Digest } from './digest.js';
import { parseManifest } from './manifest.js';
import { ANNOTATION_REF_NAME, MEDIA_OCI_INDEX, type Descriptor } from './media-types.js';
import { formatReference, parseReference } from './reference.js';
import { RegistryClient, type RegistryAuth, type Repository } from './registry-client.js';

export interface PushOptions {
  /** OCI image layout directory (from `workd image build`). */
  dir: string;
  /** `registry[:port]/repo[:tag]`; without a tag, the layout's ref.name (the component version) is used. */
  reference: string;
  auth?: RegistryAuth;
  /** Registries reached over plain HTTP (loopback ones always are). */
  insecureRegistries?: string[];
  /** Bytes uploaded (or found present) so far, out of the total. */
  progress?: (done: number, total: number) => void;
  /** Blobs larger than this go up in PATCH chunks of this size. Default 16 MiB. */
  chunkSize?: number;
}

export interface PushResult {
  /** The normalised reference pushed. */
  reference: string;
  /** Digest of the manifest (or index) the tag now names. */
  digest: string;
}

export async function pushLayout(opts: PushOptions): Promise<PushResult> {
  const ref = parseReference(opts.reference);
  if (ref.digest !== undefined) throw invalidArgument(`push reference ${opts.reference} must name a tag, not a digest`);
  const explicitTag = opts.reference.lastIndexOf(':') > opts.reference.lastIndexOf('/');
  const blobPath = (d: string) => join(opts.dir, 'blobs', 'sha256', digestHex(d));
  let indexBytes: Buffer;
  try {
    indexBytes = await readFile(join(opts.dir, 'index.json'));
  } catch (err) {
    throw invalidArgument(`${opts.dir} is not an OCI image layout: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} reading index.json`);
  }
  const index = parseManifest(indexBytes, MEDIA_OCI_INDEX, `${opts.dir}/index.json`);
  if (index.kind !== 'index' || index.index.manifests.length !== 1) {
    throw invalidArgument(`${opts.dir}/index.json must list exactly one image to push, it lists ${index.kind === 'index' ? index.index.manifests.length : 0}`);
  }
  const top = index.index.manifests[0]!;
  const tag = explicitTag ? ref.tag! : top.annotations?.[ANNOTATION_REF_NAME] ?? ref.tag!;
  const target = { ...ref, tag };
  const client = new RegistryClient({ insecureRegistries: opts.insecureRegistries ?? [] });
  const repo = client.repository(target, opts.auth, 'pull,push');

  // Gather the tree: the top manifest (or index → manifests) and their blobs.
  const manifests: Array<{ desc: Descriptor; bytes: Uint8Array }> = [];
  const blobs = new Map<string, Descriptor>();
  const readManifest = async (desc: Descriptor): Promise<void> => {
    const bytes = await readFile(blobPath(desc.digest)).catch(() => {
      throw invalidArgument(`${opts.dir}: blob ${desc.digest} is missing`);
    });
    if (sha256Digest(bytes) !== desc.digest) throw new WorkdError(Code.DATA_LOSS, `${opts.dir}: blob ${desc.digest} does not match its digest`);
    const parsed = parseManifest(bytes, desc.mediaType, `${opts.dir} ${desc.digest}`);
    if (parsed.kind === 'index') {
      for (const m of parsed.index.manifests) await readManifest(m);
    } else {
      for (const d of [parsed.manifest.config, ...parsed.manifest.layers]) blobs.set(d.digest, d);
    }
    manifests.push({ desc, bytes });
  };
  await readManifest(top);

  const total = [...blobs.values()].reduce((n, d) => n + d.size, 0);
  let done = 0;
  opts.progress?.(0, total);
  for (const d of blobs.values()) {
    await pushBlob(repo, d, blobPath(d.digest), opts.chunkSize, (n) => opts.progress?.(done + n, total));
    done += d.size;
    opts.progress?.(done, total);
  }
  // Children by digest, then the top one under the tag.
  for (const m of manifests.slice(0, -1)) await repo.putManifest(m.desc.digest, m.bytes, m.desc.mediaType);
  const last = manifests[manifests.length - 1]!;
  const digest = await repo.putManifest(tag, last.bytes, last.desc.mediaType);
  return { reference: formatReference(target), digest };
}

async function pushBlob(repo: Repository, d: Descriptor, path: string, chunkSize: number | undefined, progress: (n: number) => void): Promise<void> {
  if (await repo.hasBlob(d.digest)) return;
  const fh = await open(path, 'r').catch(() => {
    throw invalidArgument(`blob ${d.digest} is missing from the layout (${path})`);
  });
  try {
    const st = await fh.stat();
    if (st.size !== d.size) throw new WorkdError(Code.DATA_LOSS, `${path} is ${st.size} bytes, its descriptor says ${d.size}`);
    await repo.pushBlob(
      d.digest,
      d.size,
      async (offset, length) => {
        const buf = Buffer.allocUnsafe(length);
        const { bytesRead } = await fh.read(buf, 0, length, offset);
        if (bytesRead !== length) throw new WorkdError(Code.DATA_LOSS, `${path} changed while being pushed`);
        return buf;
      },
      { chunkSize, progress },
    );
  } finally {
    await fh.close();
  }
}

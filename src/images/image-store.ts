// The node's image store: image records over the content store, persisted in
// <dir>/images.json (replaced atomically), with pull from registries and import
// from OCI layout directories.
//
// Invariants:
// - an image is registered only after every blob it names is committed and
//   checked, so a failed pull or import registers nothing; blobs it committed
//   on the way are collected unless another image or pull holds them;
// - a tag names one image: pulling a tag again moves it to the new image;
// - an image in use by a container (acquire/release) is not removed:
//   RemoveImage answers FAILED_PRECONDITION naming the containers.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Code, WorkdError, invalidArgument } from '../errors.js';
import { DEFAULT_LIMITS, limitKey, type Limits } from '../limits.js';
import type { Logger } from '../observability/log.js';
import { parseComponentName } from '../pods/names.js';
import type { ImageRecord, ImageStore } from './api.js';
import { writeFileAtomic } from './atomic-file.js';
import { ContentStore, type BlobSource, type Progress } from './content-store.js';
import { isDigest, sha256Digest } from './digest.js';
import { componentIdentity, componentLayers, parseManifest, selectPlatform } from './manifest.js';
import { ANNOTATION_REF_NAME, MEDIA_OCI_MANIFEST, type Descriptor, type ImageManifest } from './media-types.js';
import { parseDescriptorSet, requireService } from './proto-compile.js';
import { componentRepository, formatReference, parseReference, repoName, type ImageReference } from './reference.js';
import { RegistryClient, type RegistryAuth, type Repository } from './registry-client.js';

const DB_FILE = 'images.json';
const DB_VERSION = 1;

interface StoredImage {
  id: string;
  manifestDigest: string;
  manifestMediaType: string;
  repoTags: string[];
  repoDigests: string[];
  size: number;
  component: string;
  abiVersion: number;
  wasmDigest: string;
  descriptorSetDigest: string;
  pinned: boolean;
  /** Every blob the image holds: manifest, config, layers (and the index it came through). */
  blobs: string[];
}

export interface PullProgress {
  /** Bytes done and total over all blobs still to fetch. */
  (done: number, total: number): void;
}

/** Pulls that asked a registry, by result, and the bytes they fetched (the image store owns these counters). */
export interface PullCounts {
  readonly success: { pulls: number; bytes: number };
  readonly failure: { pulls: number; bytes: number };
}

export interface ImageFsUsage {
  /** Nanoseconds since the epoch. */
  timestamp: bigint;
  mountpoint: string;
  usedBytes: number;
  inodesUsed: number;
}

export interface ImageStoreOptions {
  /** `<state-dir>/images` */
  dir: string;
  log: Logger;
  /** The images section of the one table of limits (layers, sizes); default DEFAULT_LIMITS. */
  limits?: Limits;
  insecureRegistries: string[];
  /** registry host → mirror endpoints (config `[images.mirrors."host"] endpoints`). */
  mirrors?: Readonly<Record<string, readonly string[]>>;
}

export async function openImageStore(opts: ImageStoreOptions): Promise<ImageStoreImpl> {
  const content = await ContentStore.open(opts.dir);
  const store = new ImageStoreImpl(opts, content);
  await store.load();
  return store;
}

type BlobOpener = (desc: Descriptor) => Promise<BlobSource>;

/** Reads a small blob into memory, checking size and digest as the content store would. */
async function readVerified(d: Descriptor, src: BlobSource, limit: number): Promise<Buffer> {
  if (d.size > limit) throw invalidArgument(`${src.origin}: config ${d.digest} is ${d.size} bytes, more than ${limit}`);
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of src.chunks) {
    n += c.length;
    if (n > d.size) throw new WorkdError(Code.DATA_LOSS, `blob ${d.digest} from ${src.origin} is longer than the ${d.size} bytes its descriptor declares`);
    chunks.push(c);
  }
  const bytes = Buffer.concat(chunks);
  if (n !== d.size) throw new WorkdError(Code.DATA_LOSS, `blob ${d.digest} from ${src.origin} is truncated: got ${n} of ${d.size} bytes`);
  const got = sha256Digest(bytes);
  if (got !== d.digest) throw new WorkdError(Code.DATA_LOSS, `blob from ${src.origin} does not match its digest: expected ${d.digest}, got ${got}`);
  return bytes;
}

export class ImageStoreImpl implements ImageStore {
  private readonly images = new Map<string, StoredImage>();
  private records = new Map<string, ImageRecord>();
  private readonly users = new Map<string, Set<string>>();
  private readonly client: RegistryClient;
  private readonly limits: Limits;
  private readonly log: Logger;
  private readonly dbPath: string;
  /** Pulls in flight by normalised reference + credentials, and registrations by manifest digest. */
  private readonly pulls = new Map<string, Promise<ImageRecord>>();
  /** Read by metrics; pulls answered from the store without asking a registry are not counted. */
  readonly pullCounts: PullCounts = { success: { pulls: 0, bytes: 0 }, failure: { pulls: 0, bytes: 0 } };
  private readonly commits = new Map<string, Promise<ImageRecord>>();
  /** Blobs a pull or import in flight has committed or will commit: the collector leaves them alone. */
  private readonly held = new Map<string, number>();
  private persistChain: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly removeListeners: Array<(imageId: string) => void> = [];

  constructor(opts: ImageStoreOptions, readonly content: ContentStore) {
    this.limits = opts.limits ?? DEFAULT_LIMITS;
    this.client = new RegistryClient({ insecureRegistries: opts.insecureRegistries, mirrors: opts.mirrors, maxManifestBytes: this.limits.imagesMaxManifestBytes });
    this.log = opts.log;
    this.dbPath = join(opts.dir, DB_FILE);
  }

  /** @internal */
  async load(): Promise<void> {
    for (const img of await this.readDb()) {
      const missing = img.blobs.filter((b) => !this.content.has(b));
      if (missing.length) {
        // Only possible if someone deleted files by hand: the image is dropped rather than served broken.
        this.log.warn({ image: img.id, missing }, 'image blobs missing from the content store; forgetting the image');
        continue;
      }
      this.images.set(img.id, img);
    }
    this.rebuild();
    // Also with no images.json yet: a first pull killed after committing blobs
    // but before registering its image leaves blobs that nothing names.
    await this.collect();
  }

  /** The stored images; none when images.json was never written. */
  private async readDb(): Promise<StoredImage[]> {
    let text: string;
    try {
      text = await readFile(this.dbPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    let db: { version: number; images: StoredImage[] };
    try {
      db = JSON.parse(text) as typeof db;
    } catch (err) {
      // Written atomically, so this is damage from outside; the file is left for a human to look at.
      throw new WorkdError(Code.DATA_LOSS, `${this.dbPath} is not valid JSON (${(err as Error).message}); move it aside to start with an empty image store`);
    }
    if (db.version !== DB_VERSION) throw new WorkdError(Code.FAILED_PRECONDITION, `${this.dbPath}: unknown image database version ${db.version}`);
    return db.images;
  }

  private rebuild(): void {
    const m = new Map<string, ImageRecord>();
    for (const img of this.images.values()) {
      m.set(img.id, {
        id: img.id,
        manifestDigest: img.manifestDigest,
        repoTags: [...img.repoTags],
        repoDigests: [...img.repoDigests],
        size: img.size,
        component: parseComponentName(img.component),
        abiVersion: img.abiVersion,
        wasmDigest: img.wasmDigest,
        descriptorSetDigest: img.descriptorSetDigest,
        pinned: img.pinned,
      });
    }
    this.records = m;
  }

  private persist(): Promise<void> {
    const snapshot = JSON.stringify({ version: DB_VERSION, images: [...this.images.values()] }, null, 1);
    const p = this.persistChain.then(() => writeFileAtomic(this.dbPath, snapshot));
    this.persistChain = p.catch(() => {});
    return p;
  }

  // ---- ImageStore (what the CRI and the executor read) ----

  resolve(ref: string): ImageRecord | undefined {
    const exact = this.records.get(ref);
    if (exact) return exact;
    if (isDigest(ref)) return this.byDigest(ref);
    let parsed: ImageReference | undefined;
    try {
      parsed = parseReference(ref);
    } catch {
      parsed = undefined;
    }
    if (parsed) {
      const found = this.byReference(parsed);
      if (found) return found;
    }
    // A unique prefix of an image ID, with or without `sha256:` (as crictl and the kubelet use them).
    const m = /^(?:sha256:)?([a-f0-9]{1,64})$/.exec(ref);
    if (!m) return undefined;
    let hit: ImageRecord | undefined;
    for (const r of this.records.values()) {
      if (r.id.startsWith(`sha256:${m[1]}`)) {
        if (hit) return undefined;
        hit = r;
      }
    }
    return hit;
  }

  private byReference(ref: ImageReference): ImageRecord | undefined {
    if (ref.digest !== undefined) {
      const rd = `${repoName(ref)}@${ref.digest}`;
      for (const r of this.records.values()) if (r.repoDigests.includes(rd)) return r;
      // Content addressing makes the repository irrelevant for a digest this node already holds.
      return this.byDigest(ref.digest);
    }
    const tag = formatReference(ref);
    for (const r of this.records.values()) if (r.repoTags.includes(tag)) return r;
    return undefined;
  }

  /** The image whose manifest, or the index it was pulled through, has this digest. */
  private byDigest(digest: string): ImageRecord | undefined {
    for (const r of this.records.values()) if (r.manifestDigest === digest) return r;
    for (const r of this.records.values()) if (r.repoDigests.some((d) => d.endsWith(`@${digest}`))) return r;
    return undefined;
  }

  list(): readonly ImageRecord[] {
    return [...this.records.values()];
  }

  readWasm(image: ImageRecord): Promise<Uint8Array> {
    return this.content.read(image.wasmDigest);
  }

  readDescriptorSet(image: ImageRecord): Promise<Uint8Array> {
    return this.content.read(image.descriptorSetDigest);
  }

  /** The image's manifest, parsed (for ImageStatus verbose). */
  async manifestOf(image: ImageRecord): Promise<unknown> {
    return JSON.parse((await this.content.read(image.manifestDigest)).toString('utf8')) as unknown;
  }

  /** Path of the image's module on disk (for readers that stream or map it). */
  wasmPath(image: ImageRecord): string {
    return this.content.path(image.wasmDigest);
  }

  acquire(imageId: string, containerId: string): void {
    let s = this.users.get(imageId);
    if (!s) this.users.set(imageId, (s = new Set()));
    s.add(containerId);
  }

  release(imageId: string, containerId: string): void {
    const s = this.users.get(imageId);
    if (!s) return;
    s.delete(containerId);
    if (s.size === 0) this.users.delete(imageId);
  }

  /**
   * Calls `listener` with the ID of every image removed, so what others derived
   * from it (compiled modules) is let go; they have no other way to learn it.
   */
  onRemove(listener: (imageId: string) => void): void {
    this.removeListeners.push(listener);
  }

  /** Containers holding an image. */
  usersOf(imageId: string): string[] {
    return [...(this.users.get(imageId) ?? [])].sort();
  }

  // ---- pull ----

  /**
   * Pulls `ref` unless present. A digest reference already held is answered
   * from the store; a tag is checked against the registry (one HEAD) and
   * fetched only if it moved. Concurrent pulls of one reference share one
   * download; pulls of different tags of one manifest share the blobs.
   */
  async pull(refText: string, auth?: RegistryAuth, progress?: PullProgress): Promise<ImageRecord> {
    this.checkOpen();
    if (isDigest(refText)) {
      // An image ID (or manifest digest) names content this node holds or cannot find: it carries no repository.
      const have = this.resolve(refText);
      if (have) return have;
      throw invalidArgument(`cannot pull ${refText}: an image ID names no registry; pull by reference (registry/repository:tag or @digest)`);
    }
    const ref = parseReference(refText);
    if (ref.digest !== undefined && !isDigest(ref.digest)) throw invalidArgument(`image reference ${refText}: only sha256 digests are supported`);
    if (ref.digest !== undefined) {
      const have = this.byReference(ref);
      if (have) return this.addNames(have.id, ref.tag !== undefined ? [formatReference({ ...ref, digest: undefined })] : [], [`${repoName(ref)}@${ref.digest}`]);
    }
    const key = `${formatReference(ref)}\n${JSON.stringify(auth ?? {})}`;
    const running = this.pulls.get(key);
    if (running) return running;
    let fetched = 0;
    const counting: PullProgress = (done, total) => {
      fetched = done;
      progress?.(done, total);
    };
    const p = this.pullOnce(ref, auth, counting)
      .then(
        (r) => {
          this.pullCounts.success.pulls++;
          this.pullCounts.success.bytes += fetched;
          return r;
        },
        (err: unknown) => {
          this.pullCounts.failure.pulls++;
          this.pullCounts.failure.bytes += fetched;
          throw err;
        },
      )
      .finally(() => this.pulls.delete(key));
    this.pulls.set(key, p);
    return p;
  }

  private async pullOnce(ref: ImageReference, auth: RegistryAuth | undefined, progress?: PullProgress): Promise<ImageRecord> {
    const repo = this.client.repository(ref, auth);
    const name = formatReference(ref);
    const tagName = ref.tag !== undefined ? formatReference({ registry: ref.registry, repository: ref.repository, tag: ref.tag }) : undefined;
    if (ref.digest === undefined && tagName !== undefined) {
      const current = this.byReference(ref);
      if (current) {
        const digest = await repo.manifestDigest(ref.tag!);
        if (digest !== undefined && current.repoDigests.includes(`${repoName(ref)}@${digest}`)) return current;
      }
    }
    const top = await repo.manifest(ref.digest ?? ref.tag!);
    const repoDigest = `${repoName(ref)}@${top.digest}`;
    let parsed = parseManifest(top.bytes, top.mediaType, name);
    let manifestBytes = top.bytes;
    let manifestDigest = top.digest;
    const extra: string[] = [];
    const hold: Array<{ desc: Descriptor; bytes: Uint8Array }> = [];
    if (parsed.kind === 'index') {
      const entry = selectPlatform(parsed.index, name);
      const inner = await repo.manifest(entry.digest);
      parsed = parseManifest(inner.bytes, inner.mediaType ?? entry.mediaType, `${name} (${entry.digest})`);
      if (parsed.kind !== 'manifest') throw invalidArgument(`${name}: the index's wasm entry ${entry.digest} is itself an index`);
      hold.push({ desc: { mediaType: top.mediaType ?? 'application/vnd.oci.image.index.v1+json', digest: top.digest, size: top.bytes.length }, bytes: top.bytes });
      extra.push(top.digest);
      manifestBytes = inner.bytes;
      manifestDigest = inner.digest;
    }
    const manifest = parsed.manifest;
    return this.commit({
      origin: name,
      manifest,
      manifestBytes,
      manifestDigest,
      manifestMediaType: manifest.mediaType ?? top.mediaType ?? MEDIA_OCI_MANIFEST,
      extraBlobs: hold,
      tags: tagName !== undefined ? [tagName] : [],
      repoDigests: [repoDigest],
      open: (d) => repo.blob(d.digest),
      progress,
    });
  }

  // ---- import ----

  /**
   * Imports every image of an OCI image layout directory. Tags: `tags` if
   * given, else each manifest's `org.opencontainers.image.ref.name` when it is
   * a full reference, else `<domain>/<service lowercased>:<ref.name>`.
   */
  async importLayout(dir: string, opts: { tags?: string[] } = {}): Promise<ImageRecord[]> {
    this.checkOpen();
    const origin = `OCI layout ${dir}`;
    let layout: { imageLayoutVersion?: string };
    try {
      layout = JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8')) as { imageLayoutVersion?: string };
    } catch (err) {
      throw invalidArgument(`${origin}: no readable oci-layout file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (layout.imageLayoutVersion !== '1.0.0') throw invalidArgument(`${origin}: imageLayoutVersion ${JSON.stringify(layout.imageLayoutVersion)} is not 1.0.0`);
    let indexBytes: Buffer;
    try {
      indexBytes = await readFile(join(dir, 'index.json'));
    } catch (err) {
      throw invalidArgument(`${origin}: no readable index.json (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    const index = parseManifest(indexBytes, 'application/vnd.oci.image.index.v1+json', `${origin} index.json`);
    if (index.kind !== 'index' || index.index.manifests.length === 0) throw invalidArgument(`${origin}: index.json lists no images`);
    const tags = (opts.tags ?? []).map((t) => {
      const r = parseReference(t);
      if (r.digest !== undefined) throw invalidArgument(`import tag ${t} must not carry a digest`);
      return formatReference(r);
    });
    const blobPath = (digest: string) => join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
    const readBlob = async (d: Descriptor): Promise<Buffer> => {
      try {
        return await readFile(blobPath(d.digest));
      } catch (err) {
        throw invalidArgument(`${origin}: blob ${d.digest} is missing (${(err as NodeJS.ErrnoException).code})`);
      }
    };
    const open: BlobOpener = async (d) => {
      const path = blobPath(d.digest);
      const st = await stat(path).catch(() => undefined);
      if (!st) throw invalidArgument(`${origin}: blob ${d.digest} is missing`);
      const { createReadStream } = await import('node:fs');
      return { origin, chunks: createReadStream(path, { highWaterMark: 1 << 20 }) };
    };
    const out: ImageRecord[] = [];
    for (const entry of index.index.manifests) {
      let desc = entry;
      let bytes = await readBlob(desc);
      if (sha256Digest(bytes) !== desc.digest) throw new WorkdError(Code.DATA_LOSS, `${origin}: blob ${desc.digest} does not match its digest`);
      let parsed = parseManifest(bytes, desc.mediaType, `${origin} ${desc.digest}`);
      const extraBlobs: Array<{ desc: Descriptor; bytes: Uint8Array }> = [];
      if (parsed.kind === 'index') {
        extraBlobs.push({ desc, bytes });
        desc = selectPlatform(parsed.index, `${origin} ${desc.digest}`);
        bytes = await readBlob(desc);
        if (sha256Digest(bytes) !== desc.digest) throw new WorkdError(Code.DATA_LOSS, `${origin}: blob ${desc.digest} does not match its digest`);
        parsed = parseManifest(bytes, desc.mediaType, `${origin} ${desc.digest}`);
        if (parsed.kind !== 'manifest') throw invalidArgument(`${origin}: nested index ${desc.digest} is not supported`);
      }
      const manifest = parsed.manifest;
      let entryTags = tags;
      if (entryTags.length === 0) {
        const refName = entry.annotations?.[ANNOTATION_REF_NAME];
        const cfg = componentLayers(manifest, origin).config;
        const { component } = componentIdentity(manifest, await readBlob(cfg), origin);
        if (refName !== undefined && (refName.includes('/') || refName.includes('@'))) entryTags = [formatReference(parseReference(refName))];
        else entryTags = [formatReference(parseReference(`${componentRepository(component)}:${refName ?? 'latest'}`))];
      }
      out.push(
        await this.commit({
          origin,
          manifest,
          manifestBytes: bytes,
          manifestDigest: desc.digest,
          manifestMediaType: manifest.mediaType ?? desc.mediaType,
          extraBlobs,
          tags: entryTags,
          repoDigests: entryTags.map((t) => `${repoName(parseReference(t))}@${extraBlobs[0]?.desc.digest ?? desc.digest}`),
          open,
        }),
      );
    }
    return out;
  }

  // ---- registration ----

  private async commit(c: {
    origin: string;
    manifest: ImageManifest;
    manifestBytes: Uint8Array;
    manifestDigest: string;
    manifestMediaType: string;
    extraBlobs: Array<{ desc: Descriptor; bytes: Uint8Array }>;
    tags: string[];
    repoDigests: string[];
    open: BlobOpener;
    progress?: Progress;
  }): Promise<ImageRecord> {
    // Refuses a Linux image (or anything else), or one past the limits, before a single layer is fetched.
    const layers = componentLayers(c.manifest, c.origin);
    this.checkSizes(c.manifest, c.origin);
    const id = layers.config.digest;
    const have = this.images.get(id);
    if (have && have.manifestDigest === c.manifestDigest && c.extraBlobs.every((b) => this.content.has(b.desc.digest))) {
      return this.addNames(id, c.tags, c.repoDigests);
    }
    const running = this.commits.get(c.manifestDigest);
    if (running) {
      await running;
      return this.commit(c);
    }
    const p = this.commitOnce(c, layers);
    this.commits.set(c.manifestDigest, p);
    try {
      return await p;
    } finally {
      this.commits.delete(c.manifestDigest);
    }
  }

  private async commitOnce(
    c: Parameters<ImageStoreImpl['commit']>[0],
    layers: ReturnType<typeof componentLayers>,
  ): Promise<ImageRecord> {
    const blobs = [c.manifestDigest, ...c.extraBlobs.map((b) => b.desc.digest), layers.config.digest, ...c.manifest.layers.map((l) => l.digest)];
    const unique = [...new Set(blobs)];
    for (const b of unique) this.held.set(b, (this.held.get(b) ?? 0) + 1);
    let released = false;
    try {
      const toFetch = [layers.config, ...c.manifest.layers].filter((d, i, a) => a.findIndex((x) => x.digest === d.digest) === i);
      const total = toFetch.filter((d) => !this.content.has(d.digest)).reduce((n, d) => n + d.size, 0);
      const done = new Map<string, number>();
      const report = c.progress
        ? (digest: string) => (n: number) => {
            done.set(digest, n);
            let sum = 0;
            for (const v of done.values()) sum += v;
            c.progress!(sum, total);
          }
        : undefined;
      // Config first, into memory: it names the component, and a bad one stops
      // the pull before the big layers. It is written with them.
      const configBytes = this.content.has(layers.config.digest)
        ? await this.content.read(layers.config.digest)
        : await readVerified(layers.config, await c.open(layers.config), this.limits.imagesMaxConfigBytes);
      const { component, abiVersion } = componentIdentity(c.manifest, configBytes, c.origin);
      this.checkSameContent(layers, component.name, abiVersion, c);
      // Then everything at once. allSettled: a failed layer must not leave a
      // sibling still writing when the collector runs.
      const results = await Promise.allSettled([
        this.content.put(layers.config, configBytes, c.origin),
        ...toFetch.slice(1).map((d) => this.content.ingest(d, () => c.open(d), report?.(d.digest))),
        this.content.put({ digest: c.manifestDigest, size: c.manifestBytes.length }, c.manifestBytes, c.origin),
        ...c.extraBlobs.map((b) => this.content.put({ digest: b.desc.digest, size: b.bytes.length }, b.bytes, c.origin)),
      ]);
      const failed = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
      if (failed) throw failed.reason;
      const ds = await this.content.read(layers.descriptorSet.digest);
      try {
        requireService(parseDescriptorSet(ds).registry, component.service);
      } catch (err) {
        throw invalidArgument(`${c.origin}: the image's descriptor set does not fit component ${component.name}: ${(err as Error).message}`);
      }
      await this.content.syncDir();
      const id = layers.config.digest;
      const prev = this.images.get(id);
      if (prev) this.checkSameContent(layers, component.name, abiVersion, c);
      const img: StoredImage = {
        id,
        // A second manifest for content already held only adds names: the record keeps the manifest it was made from.
        manifestDigest: prev?.manifestDigest ?? c.manifestDigest,
        manifestMediaType: prev?.manifestMediaType ?? c.manifestMediaType,
        repoTags: prev?.repoTags ?? [],
        repoDigests: prev?.repoDigests ?? [],
        size: layers.config.size + c.manifest.layers.reduce((n, l) => n + l.size, 0),
        component: component.name,
        abiVersion,
        wasmDigest: layers.wasm.digest,
        descriptorSetDigest: layers.descriptorSet.digest,
        pinned: prev?.pinned ?? false,
        blobs: [...new Set([...(prev?.blobs ?? []), ...unique])],
      };
      this.images.set(id, img);
      this.log.info({ image: id, component: component.name, abiVersion, origin: c.origin }, 'image registered');
      return await this.addNames(id, c.tags, c.repoDigests);
    } catch (err) {
      for (const b of unique) this.release1(b);
      released = true;
      await this.collect();
      throw err;
    } finally {
      if (!released) for (const b of unique) this.release1(b);
    }
  }

  /**
   * An image record is never rewritten with different content: a manifest
   * whose config is an image this node holds must name the same module,
   * descriptor set, component and ABI, or the pull is refused. (Checked before
   * any layer is fetched, and again just before registering, since another
   * pull may have registered the ID meanwhile.)
   */
  private checkSameContent(layers: ReturnType<typeof componentLayers>, component: string, abiVersion: number, c: { origin: string; manifestDigest: string }): void {
    const prev = this.images.get(layers.config.digest);
    if (!prev) return;
    const diffs: string[] = [];
    if (prev.wasmDigest !== layers.wasm.digest) diffs.push(`module ${layers.wasm.digest} instead of ${prev.wasmDigest}`);
    if (prev.descriptorSetDigest !== layers.descriptorSet.digest) diffs.push(`descriptor set ${layers.descriptorSet.digest} instead of ${prev.descriptorSetDigest}`);
    if (prev.component !== component) diffs.push(`component ${component} instead of ${prev.component}`);
    if (prev.abiVersion !== abiVersion) diffs.push(`ABI version ${abiVersion} instead of ${prev.abiVersion}`);
    if (diffs.length === 0) return;
    throw new WorkdError(
      Code.FAILED_PRECONDITION,
      `${c.origin}: manifest ${c.manifestDigest} reuses image ${prev.id} (held from manifest ${prev.manifestDigest}) with ${diffs.join(', ')}; ` +
        `an image ID never changes what it names: remove the image first to replace it`,
    );
  }

  /** The pull limits of the one table, checked on the sizes the manifest declares (the content store holds each blob to its declared size). */
  private checkSizes(m: ImageManifest, origin: string): void {
    const l = this.limits;
    if (m.layers.length > l.imagesMaxLayers) {
      throw new WorkdError(Code.RESOURCE_EXHAUSTED, `${origin}: the manifest lists ${m.layers.length} layers, more than ${l.imagesMaxLayers} (${limitKey('imagesMaxLayers')}); a component image has 2`);
    }
    let total = m.config.size;
    for (const d of m.layers) {
      if (d.size > l.imagesMaxBlobBytes) {
        throw new WorkdError(Code.RESOURCE_EXHAUSTED, `${origin}: layer ${d.digest} is ${d.size} bytes, more than ${l.imagesMaxBlobBytes} (${limitKey('imagesMaxBlobBytes')})`);
      }
      total += d.size;
    }
    if (total > l.imagesMaxImageBytes) {
      throw new WorkdError(Code.RESOURCE_EXHAUSTED, `${origin}: the image is ${total} bytes, more than ${l.imagesMaxImageBytes} (${limitKey('imagesMaxImageBytes')})`);
    }
  }

  private release1(digest: string): void {
    const n = this.held.get(digest);
    if (n === undefined) return;
    if (n <= 1) this.held.delete(digest);
    else this.held.set(digest, n - 1);
  }

  /** Points tags (moving them off other images) and repo digests at an image, and persists. */
  private async addNames(id: string, tags: string[], repoDigests: string[]): Promise<ImageRecord> {
    const img = this.images.get(id);
    if (!img) throw new WorkdError(Code.NOT_FOUND, `image ${id} vanished while being tagged`);
    let changed = false;
    for (const t of tags) {
      for (const other of this.images.values()) {
        if (other.id !== id && other.repoTags.includes(t)) {
          other.repoTags = other.repoTags.filter((x) => x !== t);
          changed = true;
        }
      }
      if (!img.repoTags.includes(t)) {
        img.repoTags.push(t);
        changed = true;
      }
    }
    for (const d of repoDigests) {
      if (!img.repoDigests.includes(d)) {
        img.repoDigests.push(d);
        changed = true;
      }
    }
    if (changed || !this.records.has(id)) {
      this.rebuild();
      await this.persist();
    }
    return this.records.get(id)!;
  }

  // ---- removal and collection ----

  /**
   * Removes the image `ref` resolves to, with all its tags (as containerd does).
   * Unknown → false (RemoveImage is idempotent). In use → FAILED_PRECONDITION.
   */
  async remove(ref: string): Promise<boolean> {
    this.checkOpen();
    const rec = this.resolve(ref);
    if (!rec) return false;
    const users = this.usersOf(rec.id);
    if (users.length) {
      throw new WorkdError(
        Code.FAILED_PRECONDITION,
        `image ${rec.id} (${rec.repoTags[0] ?? rec.component.name}) is in use by container${users.length > 1 ? 's' : ''} ${users.join(', ')}; remove ${users.length > 1 ? 'them' : 'it'} first`,
      );
    }
    this.images.delete(rec.id);
    this.rebuild();
    for (const l of this.removeListeners) l(rec.id);
    await this.persist();
    await this.collect();
    this.log.info({ image: rec.id, component: rec.component.name }, 'image removed');
    return true;
  }

  /** Deletes blobs no image references and no pull or import in flight holds. */
  private async collect(): Promise<void> {
    const live = new Set<string>();
    for (const img of this.images.values()) for (const b of img.blobs) live.add(b);
    const dead = [...this.content.digests()].filter((d) => !live.has(d) && !this.held.has(d) && !this.content.isIngesting(d));
    for (const d of dead) await this.content.delete(d);
  }

  fsInfo(): ImageFsUsage {
    const u = this.content.usage();
    const db = JSON.stringify({ version: DB_VERSION, images: [...this.images.values()] }, null, 1).length;
    return {
      timestamp: BigInt(Date.now()) * 1_000_000n,
      mountpoint: this.content.dir,
      usedBytes: u.bytes + db,
      inodesUsed: u.inodes + 1,
    };
  }

  private checkOpen(): void {
    if (this.closed) throw new WorkdError(Code.UNAVAILABLE, 'the image store is closed');
  }

  /** Waits for metadata writes; later mutations are refused. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.pulls.values(), ...this.commits.values()]);
    await this.persistChain;
  }
}

export type { Repository };

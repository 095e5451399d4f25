// Test images for everyone's tests: wasm bytes + a .proto text + a component
// name → an OCI image layout on disk, built by the same code as `workd image build`.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImageLayout } from '../../src/images/build.js';
import { parseComponentName } from '../../src/pods/names.js';

/** The smallest valid core module (`\0asm` version 1, no sections). */
export const EMPTY_WASM: Uint8Array = Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00);

function leb128(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** A valid module of about `bytes` bytes: `base` (default the empty module) plus a custom section of filler. */
export function paddedWasm(bytes: number, base: Uint8Array = EMPTY_WASM): Uint8Array {
  const name = Buffer.from('workd.padding');
  const body = [...leb128(name.length), ...name];
  // The section size's own LEB128 length depends on the size: take the first that adds up.
  let payloadLen = 0;
  for (let lebLen = 1; lebLen <= 5; lebLen++) {
    payloadLen = Math.max(0, bytes - base.length - 1 - lebLen - body.length);
    if (leb128(body.length + payloadLen).length === lebLen) break;
  }
  const sectionSize = body.length + payloadLen;
  const header = Uint8Array.from([0x00, ...leb128(sectionSize), ...body]);
  const out = new Uint8Array(base.length + header.length + payloadLen);
  out.set(base, 0);
  out.set(header, base.length);
  // Non-constant filler so compression in transit cannot flatter a benchmark.
  for (let i = base.length + header.length, x = 2463534242; i < out.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * A .proto text defining the component's service with one unary method
 * `Echo(EchoRequest) returns (EchoReply)`, both `{ string message = 1; }`.
 */
export function echoProto(component: string): string {
  const c = parseComponentName(component);
  const dot = c.service.lastIndexOf('.');
  const pkg = dot >= 0 ? c.service.slice(0, dot) : '';
  const svc = c.service.slice(dot + 1);
  return [
    'syntax = "proto3";',
    pkg ? `package ${pkg};` : '',
    `service ${svc} {`,
    '  rpc Echo(EchoRequest) returns (EchoReply);',
    '}',
    'message EchoRequest { string message = 1; }',
    'message EchoReply { string message = 1; }',
    '',
  ].join('\n');
}

export interface TestImageOptions {
  /** e.g. `example.com:foo.Bar@1.2.3` */
  component: string;
  /** Default: EMPTY_WASM. */
  wasm?: Uint8Array;
  /** .proto text; default echoProto(component). */
  proto?: string;
  abiVersion?: number;
  /** Layout directory; default a new temp dir (removed by cleanup()). */
  dir?: string;
}

export interface TestImage {
  /** The OCI image layout directory. */
  readonly dir: string;
  readonly component: string;
  readonly manifestDigest: string;
  /** The image ID the node reports. */
  readonly configDigest: string;
  cleanup(): Promise<void>;
}

export async function buildTestImage(opts: TestImageOptions): Promise<TestImage> {
  const work = await mkdtemp(join(tmpdir(), 'workd-img-'));
  const protoPath = join(work, 'service.proto');
  await writeFile(protoPath, opts.proto ?? echoProto(opts.component));
  const dir = opts.dir ?? join(work, 'layout');
  const r = await buildImageLayout({
    wasm: opts.wasm ?? EMPTY_WASM,
    protoFiles: [protoPath],
    component: opts.component,
    abiVersion: opts.abiVersion,
    outDir: dir,
  });
  return {
    dir,
    component: opts.component,
    manifestDigest: r.manifestDigest,
    configDigest: r.configDigest,
    cleanup: () => rm(work, { recursive: true, force: true }),
  };
}

/**
 * An OCI layout holding a plain Linux container image (OCI image config, one
 * tar+gzip layer) for tests that check such images are refused.
 */
export async function buildLinuxImageLayout(dir: string): Promise<{ manifestDigest: string; configDigest: string }> {
  const { mkdir } = await import('node:fs/promises');
  const { gzipSync } = await import('node:zlib');
  const { createHash } = await import('node:crypto');
  const digest = (b: Uint8Array) => 'sha256:' + createHash('sha256').update(b).digest('hex');
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (b: Uint8Array) => {
    const d = digest(b);
    await writeFile(join(dir, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const layer = gzipSync(Buffer.alloc(1024)); // an empty tar archive is 1024 zero bytes
  const layerDigest = await put(layer);
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digest(Buffer.alloc(1024))] }, config: { Cmd: ['/bin/sh'] } }),
  );
  const configDigest = await put(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
    }),
  );
  const manifestDigest = await put(manifest);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
    }),
  );
  return { manifestDigest, configDigest };
}

/**
 * Wraps a component layout's manifest in a multi-platform index (a linux/amd64
 * entry pointing at a dummy manifest, and the wasm/wasip1 entry), rewriting
 * index.json so a push uploads the index.
 */
export async function wrapInPlatformIndex(dir: string): Promise<{ indexDigest: string }> {
  const { readFile } = await import('node:fs/promises');
  const { createHash } = await import('node:crypto');
  const digest = (b: Uint8Array) => 'sha256:' + createHash('sha256').update(b).digest('hex');
  const layoutIndex = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
  const wasmEntry = layoutIndex.manifests[0];
  const linux = await buildLinuxImageLayout(join(dir, '.linux'));
  const linuxManifest = await readFile(join(dir, '.linux', 'blobs', 'sha256', linux.manifestDigest.slice(7)));
  const { cp } = await import('node:fs/promises');
  await cp(join(dir, '.linux', 'blobs', 'sha256'), join(dir, 'blobs', 'sha256'), { recursive: true });
  await rm(join(dir, '.linux'), { recursive: true, force: true });
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: linux.manifestDigest, size: linuxManifest.length, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: wasmEntry.mediaType, digest: wasmEntry.digest, size: wasmEntry.size, platform: { architecture: 'wasm', os: 'wasip1' } },
      ],
    }),
  );
  const indexDigest = digest(index);
  await writeFile(join(dir, 'blobs', 'sha256', indexDigest.slice(7)), index);
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: indexDigest, size: index.length, annotations: wasmEntry.annotations }],
    }),
  );
  return { indexDigest };
}

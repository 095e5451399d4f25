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
  const payloadLen = Math.max(0, bytes - base.length - name.length - 6);
  const body = [...leb128(name.length), ...name];
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

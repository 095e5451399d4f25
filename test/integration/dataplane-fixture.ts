// Shared set-up for the data plane's integration tests: a real `workd serve`
// with real component images (a WAT guest per component, built and imported
// through the CRI) and gRPC clients that are not ours (@grpc/grpc-js).
//
// Every component runs the same guest, whose methods are:
//   Echo   the request back
//   Which  a Msg naming the component that served (`domain:service@version`)
//   Fail   FAILED_PRECONDITION with the message "nope: ü"
//   Meta   trailers x-user-echo (from x-user) and x-trace-bin (copied)
//   Spin   loops until stopped (deadlines)
//   Big    a 200,000-byte response (over a 64 KiB limit)
// and the .proto also declares `Missing`, which the guest does not export.
import * as grpc from '@grpc/grpc-js';
import { parseComponentName } from '../../src/pods/names.js';
import { watToWasm } from '../helpers/guests.js';
import { buildTestImage } from '../helpers/images.js';
import { importImage, runComponent, type CriClient } from '../helpers/cri-client.js';

export const METHODS = ['Echo', 'Which', 'Fail', 'Meta', 'Spin', 'Big', 'Missing'] as const;

function watString(bytes: Buffer): string {
  return [...bytes].map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('');
}

/** The guest for one component: `Which` answers its name. */
export function guestWat(component: string): string {
  const which = Buffer.concat([Buffer.from([0x0a, Buffer.byteLength(component)]), Buffer.from(component)]);
  return `(module
  (import "workd" "respond" (func $respond (param i32 i32)))
  (import "workd" "status_message" (func $status_message (param i32 i32)))
  (import "workd" "metadata_get" (func $metadata_get (param i32 i32 i32 i32) (result i32)))
  (import "workd" "metadata_set" (func $metadata_set (param i32 i32 i32 i32)))
  (memory (export "memory") 8)
  (global $heap (mut i32) (i32.const 8192))
  (data (i32.const 16) "${watString(which)}")
  (data (i32.const 512) "nope: \\c3\\bc")
  (data (i32.const 600) "x-user")
  (data (i32.const 640) "x-user-echo")
  (data (i32.const 680) "x-trace-bin")
  (func (export "workd_alloc") (param $n i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    ;; Grow the memory when a large request does not fit.
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow (i32.sub (i32.add (i32.shr_u (local.get $end) (i32.const 16)) (i32.const 1)) (memory.size))))))
    (global.set $heap (local.get $end))
    (local.get $p))
  (func (export "Echo") (param $p i32) (param $n i32) (result i32)
    (call $respond (local.get $p) (local.get $n))
    (i32.const 0))
  (func (export "Which") (param i32 i32) (result i32)
    (call $respond (i32.const 16) (i32.const ${which.length}))
    (i32.const 0))
  (func (export "Fail") (param i32 i32) (result i32)
    (call $status_message (i32.const 512) (i32.const 8))
    (i32.const 9))
  (func (export "Meta") (param i32 i32) (result i32)
    (local $len i32)
    (local.set $len (call $metadata_get (i32.const 600) (i32.const 6) (i32.const 2048) (i32.const 1024)))
    (if (i32.ge_s (local.get $len) (i32.const 0))
      (then (call $metadata_set (i32.const 640) (i32.const 11) (i32.const 2048) (local.get $len))))
    (local.set $len (call $metadata_get (i32.const 680) (i32.const 11) (i32.const 4096) (i32.const 1024)))
    (if (i32.ge_s (local.get $len) (i32.const 0))
      (then (call $metadata_set (i32.const 680) (i32.const 11) (i32.const 4096) (local.get $len))))
    (i32.const 0))
  (func (export "Spin") (param i32 i32) (result i32)
    (loop $l (br $l))
    (i32.const 0))
  (func (export "Big") (param i32 i32) (result i32)
    (call $respond (i32.const 0) (i32.const 200000))
    (i32.const 0))
)`;
}

export function serviceProto(component: string): string {
  const c = parseComponentName(component);
  const dot = c.service.lastIndexOf('.');
  return [
    'syntax = "proto3";',
    `package ${c.service.slice(0, dot)};`,
    'message Msg { string text = 1; }',
    `service ${c.service.slice(dot + 1)} {`,
    ...METHODS.map((m) => `  rpc ${m}(Msg) returns (Msg);`),
    '}',
    '',
  ].join('\n');
}

/** Builds the component's image, imports it through the CRI admin service; returns the image ID. */
export async function importComponentImage(cri: CriClient, component: string): Promise<string> {
  const img = await buildTestImage({ component, wasm: await watToWasm(guestWat(component), 'dataplane-guest.wat'), proto: serviceProto(component) });
  try {
    return await importImage(cri, img.dir);
  } finally {
    await img.cleanup();
  }
}

/** Builds, imports and runs one container of a component; returns its container ID. */
export async function startComponent(cri: CriClient, component: string, imageId?: string): Promise<string> {
  return runComponent(cri, component, imageId ?? (await importComponentImage(cri, component)));
}

// Msg { string text = 1; } by hand: the test clients stay free of our own codecs.
export function msg(text: string): Buffer {
  const t = Buffer.from(text);
  const len: number[] = [];
  let n = t.length;
  while (n > 0x7f) {
    len.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  len.push(n);
  return Buffer.concat([Buffer.from([0x0a, ...len]), t]);
}

export function text(m: Buffer): string {
  if (m.length === 0) return '';
  let i = 1;
  let n = 0;
  let shift = 0;
  for (;;) {
    const b = m[i++]!;
    n |= (b & 0x7f) << shift;
    shift += 7;
    if (b < 0x80) break;
  }
  return m.subarray(i, i + n).toString();
}

const identity = (b: Buffer) => b;

/** A grpc-js client for a component's service with raw Buffer messages. */
export function serviceClient(address: string, service: string, opts: { authority?: string; credentials?: grpc.ChannelCredentials; options?: grpc.ChannelOptions } = {}) {
  const def: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  for (const m of METHODS) {
    def[m] = { path: `/${service}/${m}`, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity };
  }
  const Ctor = grpc.makeGenericClientConstructor(def, service);
  const options: grpc.ChannelOptions = { ...opts.options };
  if (opts.authority !== undefined) options['grpc.default_authority'] = opts.authority;
  return new Ctor(address, opts.credentials ?? grpc.credentials.createInsecure(), options) as grpc.Client & Record<string, Function>;
}

export interface UnaryResult {
  err: grpc.ServiceError | null;
  res?: Buffer;
  trailers?: grpc.Metadata;
}

export function unary(client: grpc.Client & Record<string, Function>, method: string, request: Buffer, md = new grpc.Metadata(), opts: grpc.CallOptions = {}): Promise<UnaryResult> {
  return new Promise((resolve) => {
    let trailers: grpc.Metadata | undefined;
    let out: { err: grpc.ServiceError | null; res?: Buffer } | undefined;
    const done = () => out && trailers && resolve({ ...out, trailers });
    const call = client[method]!(request, md, opts, (err: grpc.ServiceError | null, res?: Buffer) => {
      out = { err, res };
      done();
    });
    call.on('status', (s: grpc.StatusObject) => {
      trailers = s.metadata;
      done();
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The resident set size of a process, in bytes (Linux). */
export async function rssBytes(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  return kb ? Number(kb[1]) * 1024 : NaN;
}

// The imports the node gives a guest (guest ABI v1): module `workd` and WASI
// preview 1. Runs inside a worker thread; one import object per instance,
// reading the call in progress from a holder the worker updates.
import { webcrypto } from 'node:crypto';
import type { MetadataEntry } from './api.js';
import { WASI_IMPORTS } from './abi.js';
import { fixedLimit } from '../limits.js';

export const OUTPUT_CAP = fixedLimit('executorOutputBytesPerCall');
export const MAX_TRAILERS = fixedLimit('executorMaxTrailers');
export const MAX_TRAILER_BYTES = fixedLimit('executorMaxTrailerBytes');
export const MAX_STATUS_MESSAGE = fixedLimit('statusMessageBytes');

const ESUCCESS = 0;
const EBADF = 8;
const ENOSYS = 52;
const ESPIPE = 70;
const EINVAL = 28;
const FILETYPE_CHARACTER_DEVICE = 2;
// fd_read | fd_write, and deliberately not fd_seek/fd_tell: wasi-libc's isatty()
// then says yes, so C's stdout is line-buffered and a reactor's output is not
// stuck in a buffer that no exit() will ever flush.
const TTY_RIGHTS = (1n << 1n) | (1n << 6n);

/** A copy of a call's output outside the worker's heap, which survives the worker being terminated mid-call. */
export interface OutputMirror {
  write(fd: 1 | 2, bytes: Uint8Array): void;
}

export class OutputBuffer {
  private chunks: Uint8Array[] = [];
  size = 0;
  dropped = 0;
  /** Up to the last `max` bytes written, as text (for a trap's message). */
  tail(max: number): string {
    const parts: Uint8Array[] = [];
    let n = 0;
    for (let i = this.chunks.length - 1; i >= 0 && n < max; i--) {
      const c = this.chunks[i]!;
      const take = c.subarray(Math.max(0, c.length - (max - n)));
      parts.unshift(take);
      n += take.length;
    }
    return new TextDecoder().decode(Buffer.concat(parts));
  }
  push(bytes: Uint8Array): void {
    const room = OUTPUT_CAP - this.size;
    if (room <= 0) {
      this.dropped += bytes.length;
      return;
    }
    const take = bytes.length <= room ? bytes : bytes.subarray(0, room);
    this.chunks.push(take.slice());
    this.size += take.length;
    this.dropped += bytes.length - take.length;
  }
  take(): Uint8Array | undefined {
    if (this.size === 0) return undefined;
    const out = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = [];
    this.size = 0;
    return out;
  }
}

export class CallState {
  response?: Uint8Array;
  message = '';
  readonly trailers: MetadataEntry[] = [];
  trailerBytes = 0;
  readonly stdout = new OutputBuffer();
  readonly stderr = new OutputBuffer();
  /** Set by the worker for the call it runs. */
  mirror?: OutputMirror;
  constructor(
    readonly metadata: readonly MetadataEntry[],
    /** The calling container's environment and args (WASI), encoded once per container. */
    readonly env: EncodedStrings = NO_STRINGS,
    readonly args: EncodedStrings = NO_STRINGS,
  ) {}
}

/** proc_exit: ends the call. */
export class GuestExit extends Error {
  constructor(readonly exitCode: number) {
    super(`guest exited with code ${exitCode}`);
  }
}
/** The guest misused an import (bad pointer, bad metadata key): fails the call with INTERNAL. */
export class HostCallError extends Error {}

export interface Holder {
  cur: CallState;
  /** Set when the guest reads env or args (during initialisation that makes its snapshot env-specific). */
  envRead: boolean;
}

/** WASI fds are u32, but wasm hands an i32 over as a signed number: fd -1 is 4294967295, not stdin. */
const isStdio = (fd: number) => fd >>> 0 <= 2;

const enc = new TextEncoder();
const latin1 = new TextDecoder('latin1');
const KEY_RE = /^[0-9a-z_.-]+$/;
const PRINTABLE_RE = /^[\x20-\x7e]*$/;

export interface EncodedStrings {
  readonly bytes: Uint8Array;
  readonly offsets: number[];
}
export const NO_STRINGS: EncodedStrings = { bytes: new Uint8Array(0), offsets: [] };

/** `KEY=VALUE\0` strings laid out as WASI's environ_get / args_get expect. */
export function encodeStrings(items: readonly string[]): { bytes: Uint8Array; offsets: number[] } {
  const parts = items.map((s) => enc.encode(`${s}\0`));
  const offsets: number[] = [];
  let n = 0;
  for (const p of parts) {
    offsets.push(n);
    n += p.length;
  }
  const bytes = new Uint8Array(n);
  parts.forEach((p, i) => bytes.set(p, offsets[i]!));
  return { bytes, offsets };
}

/**
 * Adds a response trailer the guest set, by the ABI's rules (docs/guest-abi.md, metadata_set):
 * throws HostCallError naming what is wrong. `raw` is copied.
 */
export function setTrailer(cur: CallState, fn: string, key: string, raw: Uint8Array): void {
  if (!KEY_RE.test(key) || key.startsWith('grpc-')) {
    throw new HostCallError(`${fn}: ${JSON.stringify(key)} is not a valid trailer key (lowercase [0-9a-z_.-], not grpc-*)`);
  }
  cur.trailerBytes += key.length + raw.length;
  if (cur.trailers.length >= MAX_TRAILERS || cur.trailerBytes > MAX_TRAILER_BYTES) {
    throw new HostCallError(`${fn}: a call may set at most ${MAX_TRAILERS} trailers of ${MAX_TRAILER_BYTES} bytes in all`);
  }
  if (key.endsWith('-bin')) {
    cur.trailers.push([key, raw.slice()]);
    return;
  }
  const value = latin1.decode(raw);
  if (!PRINTABLE_RE.test(value)) throw new HostCallError(`${fn}: the value of ${key} is not printable ASCII (use a -bin key for bytes)`);
  cur.trailers.push([key, value]);
}

/**
 * @param written called with every range of guest memory the host writes, so
 *   the instance's reset can restore it (the guest's own writes are tracked in wasm).
 */
export function createImports(
  memory: WebAssembly.Memory,
  holder: Holder,
  written: (ptr: number, len: number) => void,
): WebAssembly.Imports {

  const bytes = (fn: string, ptr: number, len: number): Uint8Array => {
    const p = ptr >>> 0;
    const n = len >>> 0;
    const buf = memory.buffer;
    if (p + n > buf.byteLength) throw new HostCallError(`${fn}: bytes ${p}..${p + n} lie outside the guest's memory of ${buf.byteLength} bytes`);
    return new Uint8Array(buf, p, n);
  };
  /** A range of guest memory the host is about to write. */
  const out = (fn: string, ptr: number, len: number): Uint8Array => {
    const b = bytes(fn, ptr, len);
    written(ptr >>> 0, len >>> 0);
    return b;
  };
  const dv = () => new DataView(memory.buffer);
  const putU32 = (fn: string, ptr: number, v: number) => {
    out(fn, ptr, 4);
    dv().setUint32(ptr >>> 0, v, true);
  };
  const putU64 = (fn: string, ptr: number, v: bigint) => {
    out(fn, ptr, 8);
    dv().setBigUint64(ptr >>> 0, v, true);
  };
  const strings = (fn: string, data: EncodedStrings, ptrs: number, buf: number) => {
    holder.envRead = true;
    out(fn, ptrs, data.offsets.length * 4);
    out(fn, buf, data.bytes.length).set(data.bytes);
    const view = dv();
    data.offsets.forEach((o, i) => view.setUint32((ptrs >>> 0) + 4 * i, ((buf >>> 0) + o) >>> 0, true));
    return ESUCCESS;
  };
  const sizes = (fn: string, data: EncodedStrings, countPtr: number, sizePtr: number) => {
    holder.envRead = true;
    putU32(fn, countPtr, data.offsets.length);
    putU32(fn, sizePtr, data.bytes.length);
    return ESUCCESS;
  };

  const workd = {
    respond(ptr: number, len: number): void {
      holder.cur.response = bytes('respond', ptr, len).slice();
    },
    status_message(ptr: number, len: number): void {
      const b = bytes('status_message', ptr, len);
      holder.cur.message = new TextDecoder().decode(b.subarray(0, MAX_STATUS_MESSAGE));
    },
    metadata_get(keyPtr: number, keyLen: number, outPtr: number, outCap: number): number {
      const key = latin1.decode(bytes('metadata_get', keyPtr, keyLen)).toLowerCase();
      const values = holder.cur.metadata.filter(([k]) => k === key).map(([, v]) => v);
      if (values.length === 0) return -1;
      let value: Uint8Array;
      if (key.endsWith('-bin')) value = typeof values[0] === 'string' ? enc.encode(values[0]) : values[0]!;
      else value = enc.encode(values.map((v) => (typeof v === 'string' ? v : latin1.decode(v))).join(', '));
      const n = Math.min(value.length, outCap >>> 0);
      out('metadata_get', outPtr, n).set(value.subarray(0, n));
      return value.length;
    },
    metadata_set(keyPtr: number, keyLen: number, valPtr: number, valLen: number): void {
      setTrailer(holder.cur, 'metadata_set', latin1.decode(bytes('metadata_set', keyPtr, keyLen)), bytes('metadata_set', valPtr, valLen));
    },
  };

  const wasi: Record<string, (...a: any[]) => number | void> = {};
  for (const name of Object.keys(WASI_IMPORTS)) wasi[name] = () => ENOSYS;
  Object.assign(wasi, {
    args_get: (ptrs: number, buf: number) => strings('args_get', holder.cur.args, ptrs, buf),
    args_sizes_get: (c: number, s: number) => sizes('args_sizes_get', holder.cur.args, c, s),
    environ_get: (ptrs: number, buf: number) => strings('environ_get', holder.cur.env, ptrs, buf),
    environ_sizes_get: (c: number, s: number) => sizes('environ_sizes_get', holder.cur.env, c, s),
    clock_res_get(id: number, res: number) {
      if (id > 3) return EINVAL;
      putU64('clock_res_get', res, 1000n);
      return ESUCCESS;
    },
    clock_time_get(id: number, _precision: bigint, time: number) {
      if (id > 3) return EINVAL;
      const ms = id === 0 ? performance.timeOrigin + performance.now() : performance.now();
      putU64('clock_time_get', time, BigInt(Math.round(ms * 1e6)));
      return ESUCCESS;
    },
    random_get(ptr: number, len: number) {
      const target = out('random_get', ptr, len);
      for (let i = 0; i < target.length; i += 65536) webcrypto.getRandomValues(target.subarray(i, Math.min(i + 65536, target.length)));
      return ESUCCESS;
    },
    sched_yield: () => ESUCCESS,
    proc_exit(code: number) {
      throw new GuestExit(code);
    },
    fd_prestat_get: () => EBADF,
    fd_prestat_dir_name: () => EBADF,
    fd_close: () => EBADF,
    fd_seek: (fd: number) => (isStdio(fd) ? ESPIPE : EBADF),
    fd_tell: (fd: number) => (isStdio(fd) ? ESPIPE : EBADF),
    fd_fdstat_get(fd: number, stat: number) {
      if (!isStdio(fd)) return EBADF;
      const b = out('fd_fdstat_get', stat, 24);
      b.fill(0);
      const view = dv();
      view.setUint8(stat >>> 0, FILETYPE_CHARACTER_DEVICE);
      view.setBigUint64((stat >>> 0) + 8, TTY_RIGHTS, true);
      return ESUCCESS;
    },
    fd_read(fd: number, _iovs: number, _n: number, nread: number) {
      if (fd !== 0) return EBADF;
      putU32('fd_read', nread, 0);
      return ESUCCESS;
    },
    fd_write(fd: number, iovs: number, iovsLen: number, nwritten: number) {
      if (fd !== 1 && fd !== 2) return EBADF;
      const sink = fd === 1 ? holder.cur.stdout : holder.cur.stderr;
      bytes('fd_write', iovs, iovsLen * 8);
      const view = dv();
      let total = 0;
      for (let i = 0; i < iovsLen >>> 0; i++) {
        const p = view.getUint32((iovs >>> 0) + 8 * i, true);
        const n = view.getUint32((iovs >>> 0) + 8 * i + 4, true);
        const b = bytes('fd_write', p, n);
        sink.push(b);
        holder.cur.mirror?.write(fd as 1 | 2, b);
        total += n;
      }
      putU32('fd_write', nwritten, total);
      return ESUCCESS;
    },
  });
  return { workd, wasi_snapshot_preview1: wasi };
}

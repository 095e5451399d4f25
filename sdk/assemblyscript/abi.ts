// Guest ABI v1 (docs/guest-abi.md) for AssemblyScript: the imports the node
// provides, the allocator export, and helpers to answer a call.
// Build with `--runtime stub` (a bump allocator that never frees: each call
// starts from a pristine instance, so nothing needs freeing) and
// `--use abort=~lib/workd-assemblyscript/abi/workdAbort` (README.md).

// @ts-ignore: decorator
@external("workd", "respond")
declare function workd_respond(ptr: usize, len: i32): void;
// @ts-ignore: decorator
@external("workd", "status_message")
declare function workd_status_message(ptr: usize, len: i32): void;
// @ts-ignore: decorator
@external("workd", "metadata_get")
declare function workd_metadata_get(keyPtr: usize, keyLen: i32, outPtr: usize, outCap: i32): i32;
// @ts-ignore: decorator
@external("workd", "metadata_set")
declare function workd_metadata_set(keyPtr: usize, keyLen: i32, valPtr: usize, valLen: i32): void;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_write")
declare function fd_write(fd: u32, iovs: usize, iovsLen: u32, nwritten: usize): u16;

/** gRPC status codes. */
export namespace Status {
  export const OK: i32 = 0;
  export const CANCELLED: i32 = 1;
  export const UNKNOWN: i32 = 2;
  export const INVALID_ARGUMENT: i32 = 3;
  export const DEADLINE_EXCEEDED: i32 = 4;
  export const NOT_FOUND: i32 = 5;
  export const ALREADY_EXISTS: i32 = 6;
  export const PERMISSION_DENIED: i32 = 7;
  export const RESOURCE_EXHAUSTED: i32 = 8;
  export const FAILED_PRECONDITION: i32 = 9;
  export const ABORTED: i32 = 10;
  export const OUT_OF_RANGE: i32 = 11;
  export const UNIMPLEMENTED: i32 = 12;
  export const INTERNAL: i32 = 13;
  export const UNAVAILABLE: i32 = 14;
  export const DATA_LOSS: i32 = 15;
  export const UNAUTHENTICATED: i32 = 16;
}

/** The allocator the node calls to place each request. Re-export it from your entry file. */
export function workd_alloc(size: i32): usize {
  return heap.alloc(size > 0 ? <usize>size : 1);
}

/** Answers the call with `message` (encoded protobuf) and status OK. */
export function respond(message: Uint8Array): i32 {
  workd_respond(message.dataStart, message.length);
  return Status.OK;
}

let rejected: i32 = Status.UNKNOWN;

/**
 * For typed methods (`workd gen`): sets the call's failure; return null from
 * the method after it. `return reject<Cart>(Status.NOT_FOUND, "no cart " + id)`.
 */
export function reject<T>(code: i32, message: string): T | null {
  rejected = code;
  const b = String.UTF8.encode(message);
  workd_status_message(changetype<usize>(b), b.byteLength);
  return null;
}

/** The status of the last reject() (generated stubs return it when a method returns null). */
export function rejectedStatus(): i32 {
  return rejected;
}

/** Answers the call with a non-OK status and a message. */
export function fail(code: i32, message: string): i32 {
  const b = String.UTF8.encode(message);
  workd_status_message(changetype<usize>(b), b.byteLength);
  return code;
}

/** The request bytes as an array (a copy; `Reader` can also read them in place). */
export function requestBytes(ptr: i32, len: i32): Uint8Array {
  const a = new Uint8Array(len);
  memory.copy(a.dataStart, <usize>ptr, <usize>len);
  return a;
}

/** A request metadata value as bytes (for `-bin` keys), or null when absent. */
export function metadataBytes(key: string): Uint8Array | null {
  const k = String.UTF8.encode(key);
  let out = new Uint8Array(256);
  let n = workd_metadata_get(changetype<usize>(k), k.byteLength, out.dataStart, out.length);
  if (n < 0) return null;
  if (n > out.length) {
    out = new Uint8Array(n);
    n = workd_metadata_get(changetype<usize>(k), k.byteLength, out.dataStart, out.length);
  }
  return out.subarray(0, n);
}

/** A request metadata value as text (several values joined by ", "), or null when absent. */
export function metadata(key: string): string | null {
  const b = metadataBytes(key);
  if (b === null) return null;
  return String.UTF8.decodeUnsafe(b.dataStart, b.length);
}

/** Adds a response trailer (printable ASCII value; use `setTrailerBytes` with a `-bin` key for bytes). */
export function setTrailer(key: string, value: string): void {
  const k = String.UTF8.encode(key);
  const v = String.UTF8.encode(value);
  workd_metadata_set(changetype<usize>(k), k.byteLength, changetype<usize>(v), v.byteLength);
}

export function setTrailerBytes(key: string, value: Uint8Array): void {
  const k = String.UTF8.encode(key);
  workd_metadata_set(changetype<usize>(k), k.byteLength, value.dataStart, value.length);
}

// Lines are encoded into static scratch space, so printing in a loop does not
// use up the call's memory (the stub runtime never frees).
const SCRATCH_SIZE: usize = 16384;
const SCRATCH = memory.data(16384);
const IOV = memory.data(24);
const NEWLINE = memory.data(1);

function writeLine(fd: u32, s: string): void {
  const units = <usize>s.length;
  let ptr: usize;
  let len: usize;
  if (units * 3 <= SCRATCH_SIZE) {
    ptr = SCRATCH;
    len = String.UTF8.encodeUnsafe(changetype<usize>(s), <i32>units, ptr, false);
  } else {
    const b = String.UTF8.encode(s);
    ptr = changetype<usize>(b);
    len = <usize>b.byteLength;
  }
  store<u8>(NEWLINE, 0x0a);
  store<u32>(IOV, <u32>ptr);
  store<u32>(IOV, <u32>len, 4);
  store<u32>(IOV, <u32>NEWLINE, 8);
  store<u32>(IOV, 1, 12);
  fd_write(fd, IOV, 2, IOV + 16);
}

/** Writes a line to stdout (the container's log). */
export function print(s: string): void {
  writeLine(1, s);
}

/** Writes a line to stderr (the container's log). */
export function printErr(s: string): void {
  writeLine(2, s);
}

/** AssemblyScript's abort (failed assertions, out-of-range accesses): logs and traps. */
export function workdAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  const m = message !== null ? message : "abort";
  const f = fileName !== null ? fileName : "?";
  printErr("abort: " + m + " at " + f + ":" + line.toString() + ":" + column.toString());
  unreachable();
}

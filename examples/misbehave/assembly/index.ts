// example.com:misbehave.Misbehave@1.0.0 — misbehaves on purpose.
import { Reader, respond, print, Status } from "../../../sdk/assemblyscript";
export { workd_alloc } from "../../../sdk/assemblyscript";

const EMPTY = new Uint8Array(0);

export function Trap(ptr: i32, len: i32): i32 {
  unreachable();
  return Status.OK;
}

export function Loop(ptr: i32, len: i32): i32 {
  let n: u64 = 0;
  while (true) n++;
  return Status.OK;
}

export function Grow(ptr: i32, len: i32): i32 {
  let keep: Array<Uint8Array> = [];
  while (true) keep.push(new Uint8Array(1 << 20));
  return Status.OK;
}

export function Flood(ptr: i32, len: i32): i32 {
  let lines: u32 = 1200;
  const r = new Reader(ptr, len);
  while (r.next()) {
    if (r.field == 1 && r.wireType == 0) lines = r.uint32();
    else r.skip();
  }
  const line = "flood line ".padEnd(1023, "x");
  for (let i: u32 = 0; i < lines; i++) print(line);
  return respond(EMPTY);
}

export function Ok(ptr: i32, len: i32): i32 {
  return respond(EMPTY);
}

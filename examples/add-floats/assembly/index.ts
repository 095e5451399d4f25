// example.com:foo.Bar@1.2.3 — adds two doubles.
import { Reader, Writer, respond, fail, print, Status } from "../../../sdk/assemblyscript";
export { workd_alloc } from "../../../sdk/assemblyscript";

export function AddFloats(ptr: i32, len: i32): i32 {
  let x: f64 = 0;
  let y: f64 = 0;
  const r = new Reader(ptr, len);
  while (r.next()) {
    if (r.field == 1 && r.wireType == 1) x = r.double();
    else if (r.field == 2 && r.wireType == 1) y = r.double();
    else r.skip();
  }
  if (r.error) return fail(Status.INVALID_ARGUMENT, "malformed AddFloatsRequest");
  const sum = x + y;
  print("AddFloats(" + x.toString() + ", " + y.toString() + ") = " + sum.toString());
  const w = new Writer();
  w.double(1, sum);
  return respond(w.finish());
}

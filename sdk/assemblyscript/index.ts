// workd guest SDK for AssemblyScript (guest ABI v1, docs/guest-abi.md).
//
// Your entry file must re-export the allocator:
//   export { workd_alloc } from "workd-assemblyscript";
// and each method as `export function Method(ptr: i32, len: i32): i32`.
// Build: asc entry.ts -o out.wasm --runtime stub -O3 \
//          --use abort=~lib/workd-assemblyscript/abi/workdAbort   (README.md)
export * from "./abi";
export * from "./proto";

;; The benchmark's echo as a component's core module (canonical ABI by hand):
;; echo(ctx, request: echo-message) -> result<echo-message, grpc-status> answers
;; the request's data and text as they came (the glue copied them into memory
;; this module's realloc handed out). World: `workd wit examples/echo/echo.proto`.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (func (export "cabi_realloc") (param i32 i32) (param $align i32) (param $new i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
                           (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $p) (local.get $new)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow (i32.const 1)))))
    (local.get $p))
  (func (export "echo#echo") (param i32 i32) (param $d i32) (param $dn i32) (param $t i32) (param $tn i32) (result i32)
    (i32.store8 (i32.const 1024) (i32.const 0))
    (i32.store (i32.const 1028) (local.get $d))
    (i32.store (i32.const 1032) (local.get $dn))
    (i32.store (i32.const 1036) (local.get $t))
    (i32.store (i32.const 1040) (local.get $tn))
    (i32.const 1024)))

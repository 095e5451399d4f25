;; The benchmark's guest: echoes its request. The request always lands at 1024,
;; so a live instance reused without isolation (the baseline) does not grow.
(module
  (import "workd" "respond" (func $respond (param i32 i32)))
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (data (i32.const 0) "IMAGE-SALT-00000")
  (func (export "workd_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "Echo") (param $p i32) (param $n i32) (result i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (call $respond (local.get $p) (local.get $n))
    (i32.const 0)))

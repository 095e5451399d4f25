;; example.com:hello.Greeter@1.0.0, written directly in WebAssembly text
;; against guest ABI v1 (docs/guest-abi.md): Hello({name}) -> {message: "Hello, <name>!"}
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "workd" "respond" (func $respond (param i32 i32)))
  (import "workd" "status_message" (func $status_message (param i32 i32)))

  ;; Layout: 16..127 constant strings, 128..163 scratch for fd_write,
  ;; 4096..8191 the reply, 16384.. requests (workd_alloc bumps from there).
  (memory (export "memory") 1 4)
  (data (i32.const 16) "Hello, ")
  (data (i32.const 32) "malformed HelloRequest")
  (data (i32.const 64) "name too long")
  (data (i32.const 80) "greeted ")
  (data (i32.const 96) "\n")
  (data (i32.const 112) "world")

  (global $heap (mut i32) (i32.const 16384))
  (global $p (mut i32) (i32.const 0))
  (global $end (mut i32) (i32.const 0))
  (global $bad (mut i32) (i32.const 0))

  ;; Every call starts from this state again, so a bump allocator is all we need.
  (func (export "workd_alloc") (param $n i32) (result i32)
    (local $at i32)
    (local.set $at (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq
              (memory.grow (i32.add (i32.shr_u (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1)))
              (i32.const -1))
          (then unreachable))))
    (local.get $at))

  ;; Reads a protobuf varint at $p (32 bits are enough for tags and lengths here).
  (func $varint (result i32)
    (local $result i32) (local $shift i32) (local $b i32)
    (loop $more
      (if (i32.ge_u (global.get $p) (global.get $end))
        (then (global.set $bad (i32.const 1)) (return (i32.const 0))))
      (local.set $b (i32.load8_u (global.get $p)))
      (global.set $p (i32.add (global.get $p) (i32.const 1)))
      (local.set $result (i32.or (local.get $result) (i32.shl (i32.and (local.get $b) (i32.const 0x7f)) (local.get $shift))))
      (local.set $shift (i32.add (local.get $shift) (i32.const 7)))
      (br_if $more (i32.and (local.get $b) (i32.const 0x80))))
    (local.get $result))

  (func (export "Hello") (param $ptr i32) (param $len i32) (result i32)
    (local $tag i32) (local $wt i32) (local $n i32) (local $name i32) (local $nlen i32) (local $out i32)
    (local.set $name (i32.const 112))
    (local.set $nlen (i32.const 5))
    (global.set $p (local.get $ptr))
    (global.set $end (i32.add (local.get $ptr) (local.get $len)))
    ;; walk the fields, keeping field 1 (name) and skipping the rest
    (block $done
      (loop $fields
        (br_if $done (i32.ge_u (global.get $p) (global.get $end)))
        (local.set $tag (call $varint))
        (local.set $wt (i32.and (local.get $tag) (i32.const 7)))
        (if (i32.eq (local.get $wt) (i32.const 2))
          (then
            (local.set $n (call $varint))
            (if (i32.and (i32.eq (i32.shr_u (local.get $tag) (i32.const 3)) (i32.const 1)) (i32.ne (local.get $n) (i32.const 0)))
              (then (local.set $name (global.get $p)) (local.set $nlen (local.get $n))))
            (global.set $p (i32.add (global.get $p) (local.get $n))))
          (else (if (i32.eqz (local.get $wt))
            (then (drop (call $varint)))
            (else (if (i32.eq (local.get $wt) (i32.const 1))
              (then (global.set $p (i32.add (global.get $p) (i32.const 8))))
              (else (if (i32.eq (local.get $wt) (i32.const 5))
                (then (global.set $p (i32.add (global.get $p) (i32.const 4))))
                (else (global.set $bad (i32.const 1))))))))))
        (br_if $done (global.get $bad))
        (br $fields)))
    (if (i32.or (global.get $bad) (i32.gt_u (global.get $p) (global.get $end)))
      (then (call $status_message (i32.const 32) (i32.const 22)) (return (i32.const 3))))
    (if (i32.gt_u (local.get $nlen) (i32.const 4000))
      (then (call $status_message (i32.const 64) (i32.const 13)) (return (i32.const 3))))

    ;; reply: field 1 (tag 0x0a), length, "Hello, " name "!"
    (local.set $n (i32.add (local.get $nlen) (i32.const 8)))
    (i32.store8 (i32.const 4096) (i32.const 0x0a))
    (local.set $out (i32.const 4097))
    (if (i32.ge_u (local.get $n) (i32.const 128))
      (then
        (i32.store8 (local.get $out) (i32.or (i32.and (local.get $n) (i32.const 0x7f)) (i32.const 0x80)))
        (i32.store8 (i32.add (local.get $out) (i32.const 1)) (i32.shr_u (local.get $n) (i32.const 7)))
        (local.set $out (i32.add (local.get $out) (i32.const 2))))
      (else
        (i32.store8 (local.get $out) (local.get $n))
        (local.set $out (i32.add (local.get $out) (i32.const 1)))))
    (memory.copy (local.get $out) (i32.const 16) (i32.const 7))
    (memory.copy (i32.add (local.get $out) (i32.const 7)) (local.get $name) (local.get $nlen))
    (i32.store8 (i32.add (local.get $out) (i32.add (i32.const 7) (local.get $nlen))) (i32.const 33))
    (call $respond (i32.const 4096) (i32.sub (i32.add (local.get $out) (local.get $n)) (i32.const 4096)))

    ;; log "greeted <name>" to stdout (three iovecs)
    (i32.store (i32.const 128) (i32.const 80))
    (i32.store (i32.const 132) (i32.const 8))
    (i32.store (i32.const 136) (local.get $name))
    (i32.store (i32.const 140) (local.get $nlen))
    (i32.store (i32.const 144) (i32.const 96))
    (i32.store (i32.const 148) (i32.const 1))
    (drop (call $fd_write (i32.const 1) (i32.const 128) (i32.const 3) (i32.const 160)))
    (i32.const 0)))

;; shop.v1.Orders as a core module in WebAssembly text, with the Component
;; Model's canonical ABI written by hand for the world
;; `workd wit ../component-common/shop.proto` prints; build.mjs embeds that world
;; and wraps the module into a component (jco's wasm-tools `embed` and `new`).
;;
;; quote(ctx, request) has 17 flat parameters, more than the ABI's 16, so the
;; caller passes one pointer to them in memory (ctx then request), laid out:
;;   ctx           at +0: metadata: list<tuple<string, string>> (ptr, len)
;;   quote-request at +8, offsets from there:
;;                     customer: string          +0 ptr  +4 len
;;                     items: list<item>         +8 ptr  +12 len   (item: 24 bytes, align 8)
;;                     coupon: option<string>    +16 tag +20 ptr +24 len
;;                     labels: list<tuple<..>>   +28 ptr +32 len
;;                     currency: enum (u8)       +36
;;                     ship-to: option<address>  +40 tag +44 city ptr +48 len +52 country ptr +56 len
;;   item              +0 sku ptr +4 len  +8 quantity u32  +16 unit-cents s64
;; The result<quote-response, grpc-status> is written at RET (align 8):
;;   +0 tag (0 ok, 1 err), payload at +8:
;;   quote-response    +8 lines ptr +12 len  +16 total-cents s64  +24 discount tag +32 value s64
;;                     +40 currency u8  +44 labels ptr +48 len  +52 ship-to ptr +56 len  +60 calls u32
;;   line (16 bytes)   +0 sku ptr +4 len  +8 total-cents s64
;;   grpc-status       +8 code u8 (invalid-argument = 3)  +12 message ptr  +16 len
(module
  (import "workd:grpc/call@0.1.0" "add-trailer" (func $add_trailer (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (global $RET i32 (i32.const 1024))
  ;; A module-level counter in memory: 1 on every call (every call starts pristine).
  (global $CALLS i32 (i32.const 1008))
  (data (i32.const 1100) "an order needs at least one item")   ;; 32 bytes
  (data (i32.const 1140) "an order line has quantity 0")       ;; 28 bytes
  (data (i32.const 1180) "x-lines")
  (data (i32.const 1190) ", ")

  (func $alloc (param $align i32) (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
                           (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $p) (local.get $n)))
    (block $fits
      (loop $grow
        (br_if $fits (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
        (br $grow)))
    (local.get $p))

  (func (export "cabi_realloc") (param i32 i32) (param $align i32) (param $n i32) (result i32)
    (call $alloc (local.get $align) (local.get $n)))

  (func $refuse (param $msg i32) (param $len i32) (result i32)
    (i32.store8 (global.get $RET) (i32.const 1))
    (i32.store8 offset=8 (global.get $RET) (i32.const 3))
    (i32.store offset=12 (global.get $RET) (local.get $msg))
    (i32.store offset=16 (global.get $RET) (local.get $len))
    (global.get $RET))

  (func (export "orders#quote") (param $args i32) (result i32)
    (local $req i32) (local $items i32) (local $n i32) (local $i i32) (local $item i32)
    (local $lines i32) (local $line i32) (local $qty i32) (local $sum i64) (local $total i64)
    (local $discount i64) (local $to i32) (local $clen i32) (local $klen i32) (local $digits i32) (local $v i32)
    (i32.store (global.get $CALLS) (i32.add (i32.load (global.get $CALLS)) (i32.const 1)))
    (local.set $req (i32.add (local.get $args) (i32.const 8)))
    (local.set $items (i32.load offset=8 (local.get $req)))
    (local.set $n (i32.load offset=12 (local.get $req)))
    (if (i32.eqz (local.get $n)) (then (return (call $refuse (i32.const 1100) (i32.const 32)))))
    ;; one line per item: sku as it came, quantity × unit price
    (local.set $lines (call $alloc (i32.const 8) (i32.mul (local.get $n) (i32.const 16))))
    (loop $each
      (local.set $item (i32.add (local.get $items) (i32.mul (local.get $i) (i32.const 24))))
      (local.set $line (i32.add (local.get $lines) (i32.mul (local.get $i) (i32.const 16))))
      (local.set $qty (i32.load offset=8 (local.get $item)))
      (if (i32.eqz (local.get $qty)) (then (return (call $refuse (i32.const 1140) (i32.const 28)))))
      (local.set $sum (i64.mul (i64.extend_i32_u (local.get $qty)) (i64.load offset=16 (local.get $item))))
      (i32.store (local.get $line) (i32.load (local.get $item)))
      (i32.store offset=4 (local.get $line) (i32.load offset=4 (local.get $item)))
      (i64.store offset=8 (local.get $line) (local.get $sum))
      (local.set $total (i64.add (local.get $total) (local.get $sum)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $i) (local.get $n))))
    ;; 10 % off with a coupon
    (i32.store8 offset=32 (global.get $RET) (i32.const 0))
    (if (i32.load8_u offset=16 (local.get $req))
      (then
        (local.set $discount (i64.div_s (local.get $total) (i64.const 10)))
        (local.set $total (i64.sub (local.get $total) (local.get $discount)))
        (i32.store8 offset=24 (global.get $RET) (i32.const 1))
        (i64.store offset=32 (global.get $RET) (local.get $discount)))
      (else (i32.store8 offset=24 (global.get $RET) (i32.const 0))))
    ;; "<city>, <country>" when there is an address
    (i32.store offset=52 (global.get $RET) (i32.const 0))
    (i32.store offset=56 (global.get $RET) (i32.const 0))
    (if (i32.load8_u offset=40 (local.get $req))
      (then
        (local.set $clen (i32.load offset=48 (local.get $req)))
        (local.set $klen (i32.load offset=56 (local.get $req)))
        (local.set $to (call $alloc (i32.const 1) (i32.add (i32.add (local.get $clen) (local.get $klen)) (i32.const 2))))
        (memory.copy (local.get $to) (i32.load offset=44 (local.get $req)) (local.get $clen))
        (memory.copy (i32.add (local.get $to) (local.get $clen)) (i32.const 1190) (i32.const 2))
        (memory.copy (i32.add (i32.add (local.get $to) (local.get $clen)) (i32.const 2)) (i32.load offset=52 (local.get $req)) (local.get $klen))
        (i32.store offset=52 (global.get $RET) (local.get $to))
        (i32.store offset=56 (global.get $RET) (i32.add (i32.add (local.get $clen) (local.get $klen)) (i32.const 2)))))
    ;; trailer x-lines: the number of lines in decimal
    (local.set $digits (call $alloc (i32.const 1) (i32.const 10)))
    (local.set $v (local.get $n))
    (local.set $i (i32.const 10))
    (loop $digit
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (local.get $digits) (local.get $i)) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $digit (local.get $v)))
    (call $add_trailer (i32.const 1180) (i32.const 7) (i32.add (local.get $digits) (local.get $i)) (i32.sub (i32.const 10) (local.get $i)))
    ;; the answer
    (i32.store8 (global.get $RET) (i32.const 0))
    (i32.store offset=8 (global.get $RET) (local.get $lines))
    (i32.store offset=12 (global.get $RET) (local.get $n))
    (i64.store offset=16 (global.get $RET) (local.get $total))
    (i32.store8 offset=40 (global.get $RET) (i32.load8_u offset=36 (local.get $req)))
    (i32.store offset=44 (global.get $RET) (i32.load offset=28 (local.get $req)))
    (i32.store offset=48 (global.get $RET) (i32.load offset=32 (local.get $req)))
    (i32.store offset=60 (global.get $RET) (i32.load (global.get $CALLS)))
    (global.get $RET))
)

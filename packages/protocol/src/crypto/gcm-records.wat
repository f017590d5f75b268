;; The GHASH and CTR halves of AES-256-GCM (NIST SP 800-38D) for the record layer
;; (PROTOCOL.md 7.5), in constant time: no branch and no memory address depends on a key,
;; a keystream or a message byte, only on lengths. The AES blocks themselves (the hash key
;; H = E(K, 0^128) and the keystream E(K, J0), E(K, J0 + 1), ...) come from node:crypto's
;; AES (AES-NI); gcm-records.ts feeds them in. Built into gcm-records-wasm.ts by
;; `npm run generate -w @janus/protocol` (scripts/gcm-records-wasm.mjs); a test checks the
;; two agree. Decision: docs/decisions/0026-record-layer-ghash-in-webassembly.md.
;;
;; Memory (one 64 KiB page), offsets in bytes:
;;     0 ..    16  H, as bytes (set_h reads it)
;;    64 ..   136  H as nine 32-bit limbs in i64 slots (set_h writes them, mul_h reads them)
;;   256 ..   272  the computed tag (seal's output; open compares it)
;;   272 ..   288  the received tag (open's input)
;;   512 ..   528  E(K, J0): the block that masks the tag
;;   528 .. 32768  E(K, J0 + 1), E(K, J0 + 2), ...: the keystream, one block per 16 data bytes
;; 32768 .. 65536  the data: plaintext in and ciphertext out (seal), the reverse (open);
;;                 up to 16 bytes past its end are scratch (the last block's zero padding)
;;
;; Field elements. GCM numbers the bits of a block from the most significant bit of its first
;; byte: that bit is the coefficient of x^0. Loading 8 bytes little-endian and reversing the
;; bits inside each byte (rbits) gives a word whose bit i is the coefficient of x^i; a block
;; is then the pair (lo = x^0..x^63, hi = x^64..x^127) and the product is plain carry-less
;; multiplication followed by reduction modulo x^128 + x^7 + x^2 + x + 1.
(module
  (memory (export "memory") 1)

  ;; Reverses the bits inside each of the 8 bytes of x (an involution).
  (func $rbits (param $x i64) (result i64)
    (local.set $x (i64.or (i64.and (i64.shr_u (local.get $x) (i64.const 1)) (i64.const 0x5555555555555555))
                          (i64.shl (i64.and (local.get $x) (i64.const 0x5555555555555555)) (i64.const 1))))
    (local.set $x (i64.or (i64.and (i64.shr_u (local.get $x) (i64.const 2)) (i64.const 0x3333333333333333))
                          (i64.shl (i64.and (local.get $x) (i64.const 0x3333333333333333)) (i64.const 2))))
    (i64.or (i64.and (i64.shr_u (local.get $x) (i64.const 4)) (i64.const 0x0f0f0f0f0f0f0f0f))
            (i64.shl (i64.and (local.get $x) (i64.const 0x0f0f0f0f0f0f0f0f)) (i64.const 4))))

  ;; Reverses the byte order of x.
  (func $bswap (param $x i64) (result i64)
    (local.set $x (i64.or (i64.and (i64.shr_u (local.get $x) (i64.const 8)) (i64.const 0x00ff00ff00ff00ff))
                          (i64.shl (i64.and (local.get $x) (i64.const 0x00ff00ff00ff00ff)) (i64.const 8))))
    (local.set $x (i64.or (i64.and (i64.shr_u (local.get $x) (i64.const 16)) (i64.const 0x0000ffff0000ffff))
                          (i64.shl (i64.and (local.get $x) (i64.const 0x0000ffff0000ffff)) (i64.const 16))))
    (i64.rotl (local.get $x) (i64.const 32)))

  ;; Carry-less product of two 32-bit polynomials (a, b < 2^32), 63 bits. Integer multiplies
  ;; of operands that keep only every fourth bit: a column of such a product sums at most 8
  ;; one-bit terms, so its carries stay inside the 3 zero bits above it and masking keeps the
  ;; parity, which is the carry-less sum. i64.mul is constant time.
  (func $clmul32 (param $a i64) (param $b i64) (result i64)
    (local $a0 i64) (local $a1 i64) (local $a2 i64) (local $a3 i64)
    (local $b0 i64) (local $b1 i64) (local $b2 i64) (local $b3 i64)
    (local.set $a0 (i64.and (local.get $a) (i64.const 0x1111111111111111)))
    (local.set $a1 (i64.and (local.get $a) (i64.const 0x2222222222222222)))
    (local.set $a2 (i64.and (local.get $a) (i64.const 0x4444444444444444)))
    (local.set $a3 (i64.and (local.get $a) (i64.const 0x8888888888888888)))
    (local.set $b0 (i64.and (local.get $b) (i64.const 0x1111111111111111)))
    (local.set $b1 (i64.and (local.get $b) (i64.const 0x2222222222222222)))
    (local.set $b2 (i64.and (local.get $b) (i64.const 0x4444444444444444)))
    (local.set $b3 (i64.and (local.get $b) (i64.const 0x8888888888888888)))
    (i64.or
      (i64.or
        ;; bits = 0 (mod 4): pairs (0,0) (1,3) (2,2) (3,1)
        (i64.and (i64.xor (i64.xor (i64.mul (local.get $a0) (local.get $b0)) (i64.mul (local.get $a1) (local.get $b3)))
                          (i64.xor (i64.mul (local.get $a2) (local.get $b2)) (i64.mul (local.get $a3) (local.get $b1))))
                 (i64.const 0x1111111111111111))
        ;; bits = 1 (mod 4)
        (i64.and (i64.xor (i64.xor (i64.mul (local.get $a0) (local.get $b1)) (i64.mul (local.get $a1) (local.get $b0)))
                          (i64.xor (i64.mul (local.get $a2) (local.get $b3)) (i64.mul (local.get $a3) (local.get $b2))))
                 (i64.const 0x2222222222222222)))
      (i64.or
        ;; bits = 2 (mod 4)
        (i64.and (i64.xor (i64.xor (i64.mul (local.get $a0) (local.get $b2)) (i64.mul (local.get $a1) (local.get $b1)))
                          (i64.xor (i64.mul (local.get $a2) (local.get $b0)) (i64.mul (local.get $a3) (local.get $b3))))
                 (i64.const 0x4444444444444444))
        ;; bits = 3 (mod 4)
        (i64.and (i64.xor (i64.xor (i64.mul (local.get $a0) (local.get $b3)) (i64.mul (local.get $a1) (local.get $b2)))
                          (i64.xor (i64.mul (local.get $a2) (local.get $b1)) (i64.mul (local.get $a3) (local.get $b0))))
                 (i64.const 0x8888888888888888)))))

  ;; Reads H (bytes 0..16) and stores the limbs mul_h multiplies by. With H = hl + hh x^64,
  ;; s = hl ^ hh, and each 64-bit half split into 32-bit limbs w = w0 + w1 x^32:
  ;; 64: hl0  72: hl1  80: hl0^hl1  88: hh0  96: hh1  104: hh0^hh1  112: s0  120: s1  128: s0^s1
  (func (export "set_h")
    (local $lo i64) (local $hi i64) (local $s i64)
    (local.set $lo (call $rbits (i64.load (i32.const 0))))
    (local.set $hi (call $rbits (i64.load (i32.const 8))))
    (local.set $s (i64.xor (local.get $lo) (local.get $hi)))
    (i64.store (i32.const 64) (i64.and (local.get $lo) (i64.const 0xffffffff)))
    (i64.store (i32.const 72) (i64.shr_u (local.get $lo) (i64.const 32)))
    (i64.store (i32.const 80) (i64.and (i64.xor (local.get $lo) (i64.shr_u (local.get $lo) (i64.const 32))) (i64.const 0xffffffff)))
    (i64.store (i32.const 88) (i64.and (local.get $hi) (i64.const 0xffffffff)))
    (i64.store (i32.const 96) (i64.shr_u (local.get $hi) (i64.const 32)))
    (i64.store (i32.const 104) (i64.and (i64.xor (local.get $hi) (i64.shr_u (local.get $hi) (i64.const 32))) (i64.const 0xffffffff)))
    (i64.store (i32.const 112) (i64.and (local.get $s) (i64.const 0xffffffff)))
    (i64.store (i32.const 120) (i64.shr_u (local.get $s) (i64.const 32)))
    (i64.store (i32.const 128) (i64.and (i64.xor (local.get $s) (i64.shr_u (local.get $s) (i64.const 32))) (i64.const 0xffffffff))))

  ;; The GHASH accumulator Y = (ylo, yhi).
  (global $ylo (mut i64) (i64.const 0))
  (global $yhi (mut i64) (i64.const 0))

  ;; Carry-less 64 x 64 -> 128 product of w and the H half whose limbs are at $h (Karatsuba
  ;; on 32-bit limbs: three clmul32), low word returned, high word in $phi.
  (global $phi (mut i64) (i64.const 0))
  (func $mul64 (param $w i64) (param $h i32) (result i64)
    (local $p0 i64) (local $p1 i64) (local $m i64)
    (local.set $p0 (call $clmul32 (i64.and (local.get $w) (i64.const 0xffffffff)) (i64.load (local.get $h))))
    (local.set $p1 (call $clmul32 (i64.shr_u (local.get $w) (i64.const 32)) (i64.load offset=8 (local.get $h))))
    (local.set $m (i64.xor (i64.xor (local.get $p0) (local.get $p1))
                           (call $clmul32 (i64.and (i64.xor (local.get $w) (i64.shr_u (local.get $w) (i64.const 32))) (i64.const 0xffffffff))
                                          (i64.load offset=16 (local.get $h)))))
    (global.set $phi (i64.xor (local.get $p1) (i64.shr_u (local.get $m) (i64.const 32))))
    (i64.xor (local.get $p0) (i64.shl (local.get $m) (i64.const 32))))

  ;; Y = (Y ^ X) * H, X = (xlo, xhi). Karatsuba on the 64-bit halves, then reduction.
  (func $mul_h (param $xlo i64) (param $xhi i64)
    (local $a i64) (local $b i64)
    (local $l0 i64) (local $l1 i64) (local $u0 i64) (local $u1 i64) (local $k0 i64) (local $k1 i64)
    (local $c0 i64) (local $c1 i64) (local $c2 i64) (local $c3 i64)
    (local.set $a (i64.xor (global.get $ylo) (local.get $xlo)))
    (local.set $b (i64.xor (global.get $yhi) (local.get $xhi)))
    (local.set $l0 (call $mul64 (local.get $a) (i32.const 64)))
    (local.set $l1 (global.get $phi))
    (local.set $u0 (call $mul64 (local.get $b) (i32.const 88)))
    (local.set $u1 (global.get $phi))
    (local.set $k0 (i64.xor (call $mul64 (i64.xor (local.get $a) (local.get $b)) (i32.const 112))
                            (i64.xor (local.get $l0) (local.get $u0))))
    (local.set $k1 (i64.xor (global.get $phi) (i64.xor (local.get $l1) (local.get $u1))))
    ;; the 255-bit product, c0 holding x^0..x^63
    (local.set $c0 (local.get $l0))
    (local.set $c1 (i64.xor (local.get $l1) (local.get $k0)))
    (local.set $c2 (i64.xor (local.get $u0) (local.get $k1)))
    (local.set $c3 (local.get $u1))
    ;; x^128 = x^7 + x^2 + x + 1: fold c3 (x^192..) into c2:c1, then c2 (x^128..) into c1:c0
    (local.set $c1 (i64.xor (local.get $c1)
      (i64.xor (i64.xor (local.get $c3) (i64.shl (local.get $c3) (i64.const 1)))
               (i64.xor (i64.shl (local.get $c3) (i64.const 2)) (i64.shl (local.get $c3) (i64.const 7))))))
    (local.set $c2 (i64.xor (local.get $c2)
      (i64.xor (i64.xor (i64.shr_u (local.get $c3) (i64.const 63)) (i64.shr_u (local.get $c3) (i64.const 62)))
               (i64.shr_u (local.get $c3) (i64.const 57)))))
    (local.set $c0 (i64.xor (local.get $c0)
      (i64.xor (i64.xor (local.get $c2) (i64.shl (local.get $c2) (i64.const 1)))
               (i64.xor (i64.shl (local.get $c2) (i64.const 2)) (i64.shl (local.get $c2) (i64.const 7))))))
    (local.set $c1 (i64.xor (local.get $c1)
      (i64.xor (i64.xor (i64.shr_u (local.get $c2) (i64.const 63)) (i64.shr_u (local.get $c2) (i64.const 62)))
               (i64.shr_u (local.get $c2) (i64.const 57)))))
    (global.set $ylo (local.get $c0))
    (global.set $yhi (local.get $c1)))

  ;; The tag of `len` bytes of ciphertext at 32768 (no AAD): GHASH over the ciphertext,
  ;; zero-padded to a block, and the length block 0^64 || be64(8 len), masked with E(K, J0).
  ;; Writes it at 256. Zeroes the padding bytes after the data.
  (func $tag (param $len i32)
    (local $p i32) (local $end i32) (local $rem i32)
    (global.set $ylo (i64.const 0))
    (global.set $yhi (i64.const 0))
    (local.set $p (i32.const 32768))
    (local.set $end (i32.add (i32.const 32768) (i32.and (local.get $len) (i32.const -16))))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (call $mul_h (call $rbits (i64.load (local.get $p))) (call $rbits (i64.load offset=8 (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $blocks)))
    (local.set $rem (i32.and (local.get $len) (i32.const 15)))
    (if (local.get $rem)
      (then
        (memory.fill (i32.add (local.get $p) (local.get $rem)) (i32.const 0) (i32.sub (i32.const 16) (local.get $rem)))
        (call $mul_h (call $rbits (i64.load (local.get $p))) (call $rbits (i64.load offset=8 (local.get $p))))))
    (call $mul_h (i64.const 0)
      (call $rbits (call $bswap (i64.shl (i64.extend_i32_u (local.get $len)) (i64.const 3)))))
    (i64.store (i32.const 256) (i64.xor (call $rbits (global.get $ylo)) (i64.load (i32.const 512))))
    (i64.store (i32.const 264) (i64.xor (call $rbits (global.get $yhi)) (i64.load (i32.const 520)))))

  ;; data ^= keystream over `len` bytes, 8 at a time (the last word may run into the padding).
  (func $ctr (param $len i32)
    (local $i i32)
    (block $done
      (loop $words
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (i64.store (i32.add (i32.const 32768) (local.get $i))
          (i64.xor (i64.load (i32.add (i32.const 32768) (local.get $i)))
                   (i64.load (i32.add (i32.const 528) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $words))))

  ;; Encrypts `len` bytes of plaintext at 32768 in place and writes their tag at 256.
  (func (export "seal") (param $len i32)
    (call $ctr (local.get $len))
    (call $tag (local.get $len)))

  ;; Checks the tag at 272 against `len` bytes of ciphertext at 32768 (the comparison is
  ;; constant time). 1: authentic, and decrypted in place; 0: not, nothing decrypted.
  (func (export "open") (param $len i32) (result i32)
    (call $tag (local.get $len))
    (if (i64.ne (i64.or (i64.xor (i64.load (i32.const 256)) (i64.load (i32.const 272)))
                        (i64.xor (i64.load (i32.const 264)) (i64.load (i32.const 280))))
                (i64.const 0))
      (then (return (i32.const 0))))
    (call $ctr (local.get $len))
    (i32.const 1))
)

//go:build amd64 && !purego

#include "textflag.h"
#include "depthwise_amd64.h"

// AVX2 + FMA kernels of the 3×3, stride-1, padding-1 depthwise convolution
// on small planes (H·W ≤ 64: MobileNet's last feature maps), a whole plane
// at a time. A table (smallTab, built in Go for the plane size) gives each
// tap's input offset and, per output lane, whether that tap is inside the
// plane; masked loads read only those lanes, so the padding costs nothing
// and nothing outside the plane is touched.
//
// smallTab layout: off [9]int64 at 0; mask [9][64]int32 at 72 + 256·t;
// out [64]int32 at 2376; nvec int64 at 2632.

#define TAP(o, m, W) \
	MOVQ        o(DX), R9; \
	ADDQ        SI, R9; \
	VMOVDQU     m(R8), Y10; \
	VMASKMOVPS  (R9)(BX*1), Y10, Y11; \
	VFMADD231PS Y11, W, Y9

// func convSmallAVX2(y, x []float32, k *[9]float32, tab *smallTab)
TEXT ·convSmallAVX2(SB), NOSPLIT, $0-64
	MOVQ y_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ k+48(FP), AX
	MOVQ tab+56(FP), DX
	BCAST9
	MOVQ 2632(DX), CX
	XORQ BX, BX
	MOVQ DX, R8

cvec:
	VXORPS     Y9, Y9, Y9
	TAP(0, 72, Y0)
	TAP(8, 328, Y1)
	TAP(16, 584, Y2)
	TAP(24, 840, Y3)
	TAP(32, 1096, Y4)
	TAP(40, 1352, Y5)
	TAP(48, 1608, Y6)
	TAP(56, 1864, Y7)
	TAP(64, 2120, Y8)
	VMOVDQU    2376(R8), Y10
	VMASKMOVPS Y9, Y10, (DI)(BX*1)
	ADDQ       $32, BX
	ADDQ       $32, R8
	DECQ       CX
	JNZ        cvec
	VZEROUPPER
	RET

#define KTAP(o, m, A) \
	MOVQ        o(DX), R9; \
	ADDQ        SI, R9; \
	VMOVDQU     m(R8), Y10; \
	VMASKMOVPS  (R9)(BX*1), Y10, Y11; \
	VFMADD231PS Y11, Y9, A


// func kgradSmallAVX2(acc *[9]float32, dy, x []float32, n, xstride, dystride int, tab *smallTab)
// acc[t] += Σ over n planes (x and dy advancing by their strides, in floats).
TEXT ·kgradSmallAVX2(SB), NOSPLIT, $0-88
	MOVQ dy_base+8(FP), DI
	MOVQ x_base+32(FP), SI
	MOVQ n+56(FP), R10
	MOVQ xstride+64(FP), R11
	SHLQ $2, R11
	MOVQ dystride+72(FP), R12
	SHLQ $2, R12
	MOVQ tab+80(FP), DX
	ZERO9
	TESTQ R10, R10
	JLE   kdone

kplane:
	MOVQ 2632(DX), CX
	XORQ BX, BX
	MOVQ DX, R8

kvec:
	VMOVDQU    2376(R8), Y10
	VMASKMOVPS (DI)(BX*1), Y10, Y9
	KTAP(0, 72, Y0)
	KTAP(8, 328, Y1)
	KTAP(16, 584, Y2)
	KTAP(24, 840, Y3)
	KTAP(32, 1096, Y4)
	KTAP(40, 1352, Y5)
	KTAP(48, 1608, Y6)
	KTAP(56, 1864, Y7)
	KTAP(64, 2120, Y8)
	ADDQ $32, BX
	ADDQ $32, R8
	DECQ CX
	JNZ  kvec
	ADDQ R11, SI
	ADDQ R12, DI
	DECQ R10
	JNZ  kplane

kdone:
	MOVQ acc+0(FP), AX
	REDUCE9
	VZEROUPPER
	RET

// AVX-512 twins (the AVX512 tier): a whole 16-float vector per step under
// k-masks (smallTab.kmask, kout), and the nine taps read by embedded
// broadcasts, so that a 4×4 plane is one vector. On AMD's Zen cores the
// AVX2 VMASKMOVPS above is microcoded (its stores especially); k-masked
// moves are not.
//
// smallTab, AVX-512 part: kmask [9][4]uint16 at 2640 + 8·t + 2·v; kout
// [4]uint16 at 2712 + 2·v; nvec16 int64 at 2720; hwBytes int64 at 2728.

#define ZTAP(t) \
	MOVQ                (8*t)(DX), R9; \
	ADDQ                SI, R9; \
	KMOVW               (8*t)(R8), K1; \
	VMOVUPS.Z           (R9)(BX*1), K1, Z10; \
	VFMADD231PS.BCST    (4*t)(R14), Z10, Z9

// func convSmallPlanesAVX512(y, x, k []float32, planes, c0, c int, tab *smallTab)
// For i < planes: plane i of y (H·W floats at i·H·W) = the 3×3 "same"
// convolution of plane i of x with kernel (c0+i) mod c of k (nine floats
// each).
TEXT ·convSmallPlanesAVX512(SB), NOSPLIT, $0-104
	MOVQ y_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ k_base+48(FP), AX
	MOVQ planes+72(FP), R10
	MOVQ c0+80(FP), R11
	MOVQ c+88(FP), R12
	MOVQ tab+96(FP), DX
	MOVQ 2728(DX), R13
	TESTQ R10, R10
	JLE  zcdone

zcplane:
	LEAQ (R11)(R11*8), R14
	LEAQ (AX)(R14*4), R14
	MOVQ 2720(DX), CX
	XORQ BX, BX
	LEAQ 2640(DX), R8

zcvec:
	VPXORD  Z9, Z9, Z9
	ZTAP(0)
	ZTAP(1)
	ZTAP(2)
	ZTAP(3)
	ZTAP(4)
	ZTAP(5)
	ZTAP(6)
	ZTAP(7)
	ZTAP(8)
	KMOVW   72(R8), K2
	VMOVUPS Z9, K2, (DI)(BX*1)
	ADDQ    $64, BX
	ADDQ    $2, R8
	DECQ    CX
	JNZ     zcvec

	ADDQ R13, DI
	ADDQ R13, SI
	INCQ R11
	CMPQ R11, R12
	JLT  zcnext
	XORQ R11, R11

zcnext:
	DECQ R10
	JNZ  zcplane

zcdone:
	VZEROUPPER
	RET

#define ZKTAP(t, A) \
	MOVQ        (8*t)(DX), R9; \
	ADDQ        SI, R9; \
	KMOVW       (8*t)(R8), K1; \
	VMOVUPS.Z   (R9)(BX*1), K1, Z10; \
	VFMADD231PS Z10, Z9, A

// func kgradSmallAVX512(acc *[9]float32, dy, x []float32, n, xstride, dystride int, tab *smallTab)
// acc[t] += Σ over n planes (x and dy advancing by their strides, in floats).
TEXT ·kgradSmallAVX512(SB), NOSPLIT, $0-88
	MOVQ dy_base+8(FP), DI
	MOVQ x_base+32(FP), SI
	MOVQ n+56(FP), R10
	MOVQ xstride+64(FP), R11
	SHLQ $2, R11
	MOVQ dystride+72(FP), R12
	SHLQ $2, R12
	MOVQ tab+80(FP), DX
	ZZERO9
	TESTQ  R10, R10
	JLE    zkdone

zkplane:
	MOVQ 2720(DX), CX
	XORQ BX, BX
	LEAQ 2640(DX), R8

zkvec:
	KMOVW     72(R8), K2
	VMOVUPS.Z (DI)(BX*1), K2, Z9
	ZKTAP(0, Z0)
	ZKTAP(1, Z1)
	ZKTAP(2, Z2)
	ZKTAP(3, Z3)
	ZKTAP(4, Z4)
	ZKTAP(5, Z5)
	ZKTAP(6, Z6)
	ZKTAP(7, Z7)
	ZKTAP(8, Z8)
	ADDQ      $64, BX
	ADDQ      $2, R8
	DECQ      CX
	JNZ       zkvec
	ADDQ      R11, SI
	ADDQ      R12, DI
	DECQ      R10
	JNZ       zkplane

zkdone:
	MOVQ acc+0(FP), AX
	ZREDUCE9
	VZEROUPPER
	RET

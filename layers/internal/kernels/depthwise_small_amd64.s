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

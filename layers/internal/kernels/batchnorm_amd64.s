//go:build amd64 && !purego

#include "textflag.h"

// AVX2 + FMA kernels of BatchNorm + ReLU (see batchnorm.go for the Go
// versions they must match). Lengths are taken rounded down to a multiple
// of 8; loops run 16 floats per iteration, then one block of 8.

// func affineReLUAVX2(y, x []float32, a, b float32)
// y = max(a·x + b, 0); a NaN stays NaN.
TEXT ·affineReLUAVX2(SB), NOSPLIT, $0-56
	MOVQ y_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	VBROADCASTSS a+48(FP), Y14
	VBROADCASTSS b+52(FP), Y15
	VXORPS Y13, Y13, Y13
	MOVQ CX, DX
	SHRQ $4, DX
	JZ   ar8

ar16:
	VMOVUPS     (SI), Y0
	VMOVUPS     32(SI), Y1
	VFMADD213PS Y15, Y14, Y0 // Y0 = a·x + b
	VFMADD213PS Y15, Y14, Y1
	VMAXPS      Y0, Y13, Y0  // max(0, z), z when z is NaN
	VMAXPS      Y1, Y13, Y1
	VMOVUPS     Y0, (DI)
	VMOVUPS     Y1, 32(DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	DECQ        DX
	JNZ         ar16

ar8:
	TESTQ       $8, CX
	JZ          ardone
	VMOVUPS     (SI), Y0
	VFMADD213PS Y15, Y14, Y0
	VMAXPS      Y0, Y13, Y0
	VMOVUPS     Y0, (DI)

ardone:
	VZEROUPPER
	RET

// func sumSqAVX2(x []float32, s float32) (sum, sq float32)
// sum = Σ(x−s), sq = Σ(x−s)².
TEXT ·sumSqAVX2(SB), NOSPLIT, $0-40
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	VBROADCASTSS s+24(FP), Y15
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ CX, DX
	SHRQ $4, DX
	JZ   ss8

ss16:
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VSUBPS      Y15, Y4, Y4
	VSUBPS      Y15, Y5, Y5
	VADDPS      Y4, Y0, Y0
	VADDPS      Y5, Y1, Y1
	VFMADD231PS Y4, Y4, Y2
	VFMADD231PS Y5, Y5, Y3
	ADDQ        $64, SI
	DECQ        DX
	JNZ         ss16

ss8:
	TESTQ       $8, CX
	JZ          ssdone
	VMOVUPS     (SI), Y4
	VSUBPS      Y15, Y4, Y4
	VADDPS      Y4, Y0, Y0
	VFMADD231PS Y4, Y4, Y2

ssdone:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VEXTRACTF128 $1, Y2, X3
	VADDPS       X3, X2, X2
	VHADDPS      X2, X2, X2
	VHADDPS      X2, X2, X2
	VZEROUPPER
	MOVSS        X0, sum+32(FP)
	MOVSS        X2, sq+36(FP)
	RET

// func reluSumsAVX2(x, dy []float32, a, b, m float32) (s0, s1 float32)
// g = dy where a·x+b > 0, else 0; s0 = Σg, s1 = Σg·(x−m).
TEXT ·reluSumsAVX2(SB), NOSPLIT, $0-72
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ dy_base+24(FP), DI
	VBROADCASTSS a+48(FP), Y14
	VBROADCASTSS b+52(FP), Y15
	VBROADCASTSS m+56(FP), Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ CX, DX
	SHRQ $4, DX
	JZ   rs8

rs16:
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVAPS     Y15, Y6
	VMOVAPS     Y15, Y7
	VFMADD231PS Y4, Y14, Y6 // z = a·x + b
	VFMADD231PS Y5, Y14, Y7
	VCMPPS      $0x1e, Y13, Y6, Y6 // z > 0
	VCMPPS      $0x1e, Y13, Y7, Y7
	VANDPS      (DI), Y6, Y6 // g
	VANDPS      32(DI), Y7, Y7
	VADDPS      Y6, Y0, Y0
	VADDPS      Y7, Y1, Y1
	VSUBPS      Y12, Y4, Y4 // x − m
	VSUBPS      Y12, Y5, Y5
	VFMADD231PS Y6, Y4, Y2
	VFMADD231PS Y7, Y5, Y3
	ADDQ        $64, SI
	ADDQ        $64, DI
	DECQ        DX
	JNZ         rs16

rs8:
	TESTQ       $8, CX
	JZ          rsdone
	VMOVUPS     (SI), Y4
	VMOVAPS     Y15, Y6
	VFMADD231PS Y4, Y14, Y6
	VCMPPS      $0x1e, Y13, Y6, Y6
	VANDPS      (DI), Y6, Y6
	VADDPS      Y6, Y0, Y0
	VSUBPS      Y12, Y4, Y4
	VFMADD231PS Y6, Y4, Y2

rsdone:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VEXTRACTF128 $1, Y2, X3
	VADDPS       X3, X2, X2
	VHADDPS      X2, X2, X2
	VHADDPS      X2, X2, X2
	VZEROUPPER
	MOVSS        X0, s0+64(FP)
	MOVSS        X2, s1+68(FP)
	RET

// func reluApplyAVX2(dx, x, dy []float32, a, b, m, k1, k2 float32)
// dx = a·(g − k1 − (x−m)·k2), g = dy where a·x+b > 0, else 0.
TEXT ·reluApplyAVX2(SB), NOSPLIT, $0-92
	MOVQ dx_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ dy_base+48(FP), R8
	VBROADCASTSS a+72(FP), Y14
	VBROADCASTSS b+76(FP), Y15
	VBROADCASTSS m+80(FP), Y12
	VBROADCASTSS k1+84(FP), Y11
	VBROADCASTSS k2+88(FP), Y10
	VXORPS Y13, Y13, Y13
	MOVQ CX, DX
	SHRQ $4, DX
	JZ   ra8

ra16:
	VMOVUPS      (SI), Y4
	VMOVUPS      32(SI), Y5
	VMOVAPS      Y15, Y6
	VMOVAPS      Y15, Y7
	VFMADD231PS  Y4, Y14, Y6
	VFMADD231PS  Y5, Y14, Y7
	VCMPPS       $0x1e, Y13, Y6, Y6
	VCMPPS       $0x1e, Y13, Y7, Y7
	VANDPS       (R8), Y6, Y6
	VANDPS       32(R8), Y7, Y7
	VSUBPS       Y11, Y6, Y6 // g − k1
	VSUBPS       Y11, Y7, Y7
	VSUBPS       Y12, Y4, Y4 // x − m
	VSUBPS       Y12, Y5, Y5
	VFNMADD231PS Y10, Y4, Y6 // − (x−m)·k2
	VFNMADD231PS Y10, Y5, Y7
	VMULPS       Y14, Y6, Y6
	VMULPS       Y14, Y7, Y7
	VMOVUPS      Y6, (DI)
	VMOVUPS      Y7, 32(DI)
	ADDQ         $64, SI
	ADDQ         $64, DI
	ADDQ         $64, R8
	DECQ         DX
	JNZ          ra16

ra8:
	TESTQ        $8, CX
	JZ           radone
	VMOVUPS      (SI), Y4
	VMOVAPS      Y15, Y6
	VFMADD231PS  Y4, Y14, Y6
	VCMPPS       $0x1e, Y13, Y6, Y6
	VANDPS       (R8), Y6, Y6
	VSUBPS       Y11, Y6, Y6
	VSUBPS       Y12, Y4, Y4
	VFNMADD231PS Y10, Y4, Y6
	VMULPS       Y14, Y6, Y6
	VMOVUPS      Y6, (DI)

radone:
	VZEROUPPER
	RET

// BatchNorm + ReLU kernels for small planes (H·W a multiple of 4, up to
// 64: MobileNet's last feature maps), many planes per call: per-plane calls
// cost more than the planes' arithmetic there. Plane p has channel
// (c0 + p) mod C, whose parameters are read from per-channel arrays. They
// work four floats at a time and must match
// the per-plane kernels above.

// NEXTC advances BX to the next channel, wrapping at AX.
#define NEXTC(label) \
	INCQ BX; \
	CMPQ BX, AX; \
	JLT  label; \
	XORQ BX, BX

// func sumSqPlanesAVX2(x, shift, s0, s1 []float32, inner, c0, c int)
// s0[p] = Σ(x−shift[c]), s1[p] = Σ(x−shift[c])² over plane p, for p < len(s0).
TEXT ·sumSqPlanesAVX2(SB), NOSPLIT, $0-120
	MOVQ x_base+0(FP), SI
	MOVQ shift_base+24(FP), R8
	MOVQ s0_base+48(FP), DI
	MOVQ s0_len+56(FP), R9
	MOVQ s1_base+72(FP), R10
	MOVQ inner+96(FP), DX
	SHRQ $2, DX
	MOVQ c0+104(FP), BX
	MOVQ c+112(FP), AX
	TESTQ R9, R9
	JZ    ssdone

ssplane:
	VBROADCASTSS (R8)(BX*4), X15
	VXORPS       X0, X0, X0
	VXORPS       X1, X1, X1
	MOVQ         DX, CX

ssvec:
	VMOVUPS     (SI), X2
	VSUBPS      X15, X2, X2
	VADDPS      X2, X0, X0
	VFMADD231PS X2, X2, X1
	ADDQ        $16, SI
	DECQ        CX
	JNZ         ssvec
	VHADDPS     X0, X0, X0
	VHADDPS     X0, X0, X0
	VHADDPS     X1, X1, X1
	VHADDPS     X1, X1, X1
	VMOVSS      X0, (DI)
	VMOVSS      X1, (R10)
	ADDQ        $4, DI
	ADDQ        $4, R10
	NEXTC(ssnext)

ssnext:
	DECQ R9
	JNZ  ssplane

ssdone:
	VZEROUPPER
	RET

// func affineReLUPlanesAVX2(y, x, a, b []float32, inner, c0, c, planes int, nt bool)
// y = max(a[c]·x + b[c], 0). nt: eight floats a step, stored
// non-temporally (y 32-byte aligned, inner a multiple of 8), fenced.
TEXT ·affineReLUPlanesAVX2(SB), NOSPLIT, $0-129
	MOVQ y_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ a_base+48(FP), R8
	MOVQ b_base+72(FP), R10
	MOVQ inner+96(FP), DX
	SHRQ $2, DX
	MOVQ c0+104(FP), BX
	MOVQ c+112(FP), AX
	MOVQ planes+120(FP), R9
	VXORPS X13, X13, X13
	TESTQ R9, R9
	JZ    afdone

afplane:
	VBROADCASTSS (R8)(BX*4), Y14
	VBROADCASTSS (R10)(BX*4), Y15
	MOVQ         DX, CX
	CMPB         nt+128(FP), $0
	JNE          afnt

afvec:
	VMOVUPS     (SI), X0
	VFMADD213PS X15, X14, X0
	VMAXPS      X0, X13, X0
	VMOVUPS     X0, (DI)
	ADDQ        $16, SI
	ADDQ        $16, DI
	DECQ        CX
	JNZ         afvec
	JMP         afnextc

afnt:
	SHRQ $1, CX

afntvec:
	VMOVUPS     (SI), Y0
	VFMADD213PS Y15, Y14, Y0
	VMAXPS      Y0, Y13, Y0
	VMOVNTPS    Y0, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         afntvec

afnextc:
	NEXTC(afnext)

afnext:
	DECQ R9
	JNZ  afplane

afdone:
	CMPB nt+128(FP), $0
	JEQ  afret
	SFENCE

afret:
	VZEROUPPER
	RET

// func reluSumsPlanesAVX2(x, dy, a, b, m, s0, s1 []float32, inner, c0, c int)
// g = dy where a[c]·x+b[c] > 0, else 0; s0[p] = Σg, s1[p] = Σg·(x−m[c]).
TEXT ·reluSumsPlanesAVX2(SB), NOSPLIT, $0-192
	MOVQ x_base+0(FP), SI
	MOVQ dy_base+24(FP), DI
	MOVQ a_base+48(FP), R8
	MOVQ b_base+72(FP), R9
	MOVQ m_base+96(FP), R10
	MOVQ s0_base+120(FP), R11
	MOVQ s0_len+128(FP), R13
	MOVQ s1_base+144(FP), R12
	MOVQ inner+168(FP), DX
	SHRQ $2, DX
	MOVQ c0+176(FP), BX
	MOVQ c+184(FP), AX
	VXORPS X13, X13, X13
	TESTQ R13, R13
	JZ    rsdone

rsplane:
	VBROADCASTSS (R8)(BX*4), X14
	VBROADCASTSS (R9)(BX*4), X15
	VBROADCASTSS (R10)(BX*4), X12
	VXORPS       X0, X0, X0
	VXORPS       X1, X1, X1
	MOVQ         DX, CX

rsvec:
	VMOVUPS     (SI), X4
	VMOVAPS     X15, X6
	VFMADD231PS X4, X14, X6
	VCMPPS      $0x1e, X13, X6, X6
	VANDPS      (DI), X6, X6
	VADDPS      X6, X0, X0
	VSUBPS      X12, X4, X4
	VFMADD231PS X6, X4, X1
	ADDQ        $16, SI
	ADDQ        $16, DI
	DECQ        CX
	JNZ         rsvec
	VHADDPS     X0, X0, X0
	VHADDPS     X0, X0, X0
	VHADDPS     X1, X1, X1
	VHADDPS     X1, X1, X1
	VMOVSS      X0, (R11)
	VMOVSS      X1, (R12)
	ADDQ        $4, R11
	ADDQ        $4, R12
	NEXTC(rsnext)

rsnext:
	DECQ R13
	JNZ  rsplane

rsdone:
	VZEROUPPER
	RET

// func reluApplyPlanesAVX2(dx, x, dy, a, b, m, k1, k2 []float32, inner, c0, c, planes int, nt bool)
// dx = a[c]·(g − k1[c] − (x−m[c])·k2[c]), g = dy where a[c]·x+b[c] > 0.
// nt: eight floats a step, stored non-temporally (dx 32-byte aligned, inner
// a multiple of 8), fenced.
TEXT ·reluApplyPlanesAVX2(SB), NOSPLIT, $0-225
	MOVQ dx_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ dy_base+48(FP), R8
	MOVQ a_base+72(FP), R9
	MOVQ b_base+96(FP), R10
	MOVQ m_base+120(FP), R11
	MOVQ k1_base+144(FP), R12
	MOVQ k2_base+168(FP), R13
	MOVQ inner+192(FP), DX
	SHRQ $2, DX
	MOVQ c0+200(FP), BX
	MOVQ c+208(FP), AX
	VXORPS X13, X13, X13
	CMPQ  planes+216(FP), $0
	JLE   radone

raplane:
	VBROADCASTSS (R9)(BX*4), Y14
	VBROADCASTSS (R10)(BX*4), Y15
	VBROADCASTSS (R11)(BX*4), Y12
	VBROADCASTSS (R12)(BX*4), Y11
	VBROADCASTSS (R13)(BX*4), Y10
	MOVQ         DX, CX
	CMPB         nt+224(FP), $0
	JNE          rant

ravec:
	VMOVUPS      (SI), X4
	VMOVAPS      X15, X6
	VFMADD231PS  X4, X14, X6
	VCMPPS       $0x1e, X13, X6, X6
	VANDPS       (R8), X6, X6
	VSUBPS       X11, X6, X6
	VSUBPS       X12, X4, X4
	VFNMADD231PS X10, X4, X6
	VMULPS       X14, X6, X6
	VMOVUPS      X6, (DI)
	ADDQ         $16, SI
	ADDQ         $16, R8
	ADDQ         $16, DI
	DECQ         CX
	JNZ          ravec
	JMP          ranextc

rant:
	SHRQ $1, CX

rantvec:
	VMOVUPS      (SI), Y4
	VMOVAPS      Y15, Y6
	VFMADD231PS  Y4, Y14, Y6
	VCMPPS       $0x1e, Y13, Y6, Y6
	VANDPS       (R8), Y6, Y6
	VSUBPS       Y11, Y6, Y6
	VSUBPS       Y12, Y4, Y4
	VFNMADD231PS Y10, Y4, Y6
	VMULPS       Y14, Y6, Y6
	VMOVNTPS     Y6, (DI)
	ADDQ         $32, SI
	ADDQ         $32, R8
	ADDQ         $32, DI
	DECQ         CX
	JNZ          rantvec

ranextc:
	NEXTC(ranext)

ranext:
	DECQ planes+216(FP)
	JNZ  raplane

radone:
	CMPB nt+224(FP), $0
	JEQ  raret
	SFENCE

raret:
	VZEROUPPER
	RET

// AVX-512 twins (the AVX512 tier), same contracts: the per-plane kernels
// run 32 floats an iteration, then a block of 16, then one of 8 in YMM; the
// many-planes kernels one ZMM per 16 floats of a plane, then four at a
// time. Comparisons give k-masks, and g is dy loaded under the mask.

// ZFOLD(Z, Y, X, T, TY, TX) adds Z's lanes into its low four (X), upper
// lanes cleared; T is scratch.
#define ZFOLD(Z, Y, X, T, TY, TX) \
	VEXTRACTF64X4 $1, Z, TY; \
	VADDPS        TY, Y, Y; \
	VEXTRACTF128  $1, Y, TX; \
	VADDPS        TX, X, X

// ZFOLD8 adds Z's upper half into its lower (Y), upper lanes cleared.
#define ZFOLD8(Z, Y, TY) \
	VEXTRACTF64X4 $1, Z, TY; \
	VADDPS        TY, Y, Y

// func affineReLUAVX512(y, x []float32, a, b float32)
TEXT ·affineReLUAVX512(SB), NOSPLIT, $0-56
	MOVQ y_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	VBROADCASTSS a+48(FP), Z14
	VBROADCASTSS b+52(FP), Z15
	VPXORD Z13, Z13, Z13
	MOVQ CX, DX
	SHRQ $5, DX
	JZ   zar16

zar32:
	VMOVUPS     (SI), Z0
	VMOVUPS     64(SI), Z1
	VFMADD213PS Z15, Z14, Z0
	VFMADD213PS Z15, Z14, Z1
	VMAXPS      Z0, Z13, Z0
	VMAXPS      Z1, Z13, Z1
	VMOVUPS     Z0, (DI)
	VMOVUPS     Z1, 64(DI)
	ADDQ        $128, SI
	ADDQ        $128, DI
	DECQ        DX
	JNZ         zar32

zar16:
	TESTQ       $16, CX
	JZ          zar8
	VMOVUPS     (SI), Z0
	VFMADD213PS Z15, Z14, Z0
	VMAXPS      Z0, Z13, Z0
	VMOVUPS     Z0, (DI)
	ADDQ        $64, SI
	ADDQ        $64, DI

zar8:
	TESTQ       $8, CX
	JZ          zardone
	VMOVUPS     (SI), Y0
	VFMADD213PS Y15, Y14, Y0
	VMAXPS      Y0, Y13, Y0
	VMOVUPS     Y0, (DI)

zardone:
	VZEROUPPER
	RET

// func sumSqAVX512(x []float32, s float32) (sum, sq float32)
TEXT ·sumSqAVX512(SB), NOSPLIT, $0-40
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	VBROADCASTSS s+24(FP), Z15
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	MOVQ CX, DX
	SHRQ $5, DX
	JZ   zss16

zss32:
	VMOVUPS     (SI), Z4
	VMOVUPS     64(SI), Z5
	VSUBPS      Z15, Z4, Z4
	VSUBPS      Z15, Z5, Z5
	VADDPS      Z4, Z0, Z0
	VADDPS      Z5, Z1, Z1
	VFMADD231PS Z4, Z4, Z2
	VFMADD231PS Z5, Z5, Z3
	ADDQ        $128, SI
	DECQ        DX
	JNZ         zss32

zss16:
	TESTQ       $16, CX
	JZ          zss8
	VMOVUPS     (SI), Z4
	VSUBPS      Z15, Z4, Z4
	VADDPS      Z4, Z0, Z0
	VFMADD231PS Z4, Z4, Z2
	ADDQ        $64, SI

zss8:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	ZFOLD8(Z0, Y0, Y1)
	ZFOLD8(Z2, Y2, Y3)
	TESTQ       $8, CX
	JZ          zssdone
	VMOVUPS     (SI), Y4
	VSUBPS      Y15, Y4, Y4
	VADDPS      Y4, Y0, Y0
	VFMADD231PS Y4, Y4, Y2

zssdone:
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VEXTRACTF128 $1, Y2, X3
	VADDPS       X3, X2, X2
	VHADDPS      X2, X2, X2
	VHADDPS      X2, X2, X2
	VZEROUPPER
	MOVSS        X0, sum+32(FP)
	MOVSS        X2, sq+36(FP)
	RET

// ZRSUM(off, S0, S1): g = dy at off where a·x+b > 0 (x at off(SI)); S0 += g,
// S1 += g·(x−m). Z14 = a, Z15 = b, Z12 = m, Z13 = 0.
#define ZRSUM(off, S0, S1) \
	VMOVUPS     off(SI), Z4; \
	VMOVAPS     Z15, Z6; \
	VFMADD231PS Z4, Z14, Z6; \
	VCMPPS      $0x1e, Z13, Z6, K1; \
	VMOVUPS.Z   off(DI), K1, Z6; \
	VADDPS      Z6, S0, S0; \
	VSUBPS      Z12, Z4, Z4; \
	VFMADD231PS Z6, Z4, S1

// func reluSumsAVX512(x, dy []float32, a, b, m float32) (s0, s1 float32)
TEXT ·reluSumsAVX512(SB), NOSPLIT, $0-72
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ dy_base+24(FP), DI
	VBROADCASTSS a+48(FP), Z14
	VBROADCASTSS b+52(FP), Z15
	VBROADCASTSS m+56(FP), Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	MOVQ CX, DX
	SHRQ $5, DX
	JZ   zrs16

zrs32:
	ZRSUM(0, Z0, Z2)
	ZRSUM(64, Z1, Z3)
	ADDQ $128, SI
	ADDQ $128, DI
	DECQ DX
	JNZ  zrs32

zrs16:
	TESTQ $16, CX
	JZ    zrs8
	ZRSUM(0, Z0, Z2)
	ADDQ  $64, SI
	ADDQ  $64, DI

zrs8:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	ZFOLD8(Z0, Y0, Y1)
	ZFOLD8(Z2, Y2, Y3)
	TESTQ       $8, CX
	JZ          zrsdone
	VMOVUPS     (SI), Y4
	VMOVAPS     Y15, Y6
	VFMADD231PS Y4, Y14, Y6
	VCMPPS      $0x1e, Y13, Y6, Y6
	VANDPS      (DI), Y6, Y6
	VADDPS      Y6, Y0, Y0
	VSUBPS      Y12, Y4, Y4
	VFMADD231PS Y6, Y4, Y2

zrsdone:
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VEXTRACTF128 $1, Y2, X3
	VADDPS       X3, X2, X2
	VHADDPS      X2, X2, X2
	VHADDPS      X2, X2, X2
	VZEROUPPER
	MOVSS        X0, s0+64(FP)
	MOVSS        X2, s1+68(FP)
	RET

// ZRAPPLY(off, STORE): dx = a·(g − k1 − (x−m)·k2) at off (x at SI, dy at
// R8, dx at DI), stored by STORE (VMOVUPS, or VMOVNTPS to 64-byte aligned
// dx). Z14 = a, Z15 = b, Z12 = m, Z11 = k1, Z10 = k2, Z13 = 0.
#define ZRAPPLY(off, STORE) \
	VMOVUPS      off(SI), Z4; \
	VMOVAPS      Z15, Z6; \
	VFMADD231PS  Z4, Z14, Z6; \
	VCMPPS       $0x1e, Z13, Z6, K1; \
	VMOVUPS.Z    off(R8), K1, Z6; \
	VSUBPS       Z11, Z6, Z6; \
	VSUBPS       Z12, Z4, Z4; \
	VFNMADD231PS Z10, Z4, Z6; \
	VMULPS       Z14, Z6, Z6; \
	STORE        Z6, off(DI)

// func reluApplyAVX512(dx, x, dy []float32, a, b, m, k1, k2 float32)
TEXT ·reluApplyAVX512(SB), NOSPLIT, $0-92
	MOVQ dx_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ dy_base+48(FP), R8
	VBROADCASTSS a+72(FP), Z14
	VBROADCASTSS b+76(FP), Z15
	VBROADCASTSS m+80(FP), Z12
	VBROADCASTSS k1+84(FP), Z11
	VBROADCASTSS k2+88(FP), Z10
	VPXORD Z13, Z13, Z13
	MOVQ CX, DX
	SHRQ $5, DX
	JZ   zra16

zra32:
	ZRAPPLY(0, VMOVUPS)
	ZRAPPLY(64, VMOVUPS)
	ADDQ $128, SI
	ADDQ $128, DI
	ADDQ $128, R8
	DECQ DX
	JNZ  zra32

zra16:
	TESTQ $16, CX
	JZ    zra8
	ZRAPPLY(0, VMOVUPS)
	ADDQ  $64, SI
	ADDQ  $64, DI
	ADDQ  $64, R8

zra8:
	TESTQ        $8, CX
	JZ           zradone
	VMOVUPS      (SI), Y4
	VMOVAPS      Y15, Y6
	VFMADD231PS  Y4, Y14, Y6
	VCMPPS       $0x1e, Y13, Y6, Y6
	VANDPS       (R8), Y6, Y6
	VSUBPS       Y11, Y6, Y6
	VSUBPS       Y12, Y4, Y4
	VFNMADD231PS Y10, Y4, Y6
	VMULPS       Y14, Y6, Y6
	VMOVUPS      Y6, (DI)

zradone:
	VZEROUPPER
	RET

// The many-planes kernels: R14 = inner/16 ZMM steps, R15 = (inner mod 16)/4
// XMM steps a plane.
#define PLANESTEPS(inner) \
	MOVQ inner, R14; \
	MOVQ R14, R15; \
	SHRQ $4, R14; \
	ANDQ $15, R15; \
	SHRQ $2, R15

// func sumSqPlanesAVX512(x, shift, s0, s1 []float32, inner, c0, c int)
TEXT ·sumSqPlanesAVX512(SB), NOSPLIT, $0-120
	MOVQ x_base+0(FP), SI
	MOVQ shift_base+24(FP), R8
	MOVQ s0_base+48(FP), DI
	MOVQ s0_len+56(FP), R9
	MOVQ s1_base+72(FP), R10
	PLANESTEPS(inner+96(FP))
	MOVQ c0+104(FP), BX
	MOVQ c+112(FP), AX
	TESTQ R9, R9
	JZ    zsqdone

zsqplane:
	VBROADCASTSS (R8)(BX*4), Z15
	VPXORD       Z0, Z0, Z0
	VPXORD       Z1, Z1, Z1
	MOVQ         R14, CX
	TESTQ        CX, CX
	JZ           zsqfold

zsqvec:
	VMOVUPS     (SI), Z2
	VSUBPS      Z15, Z2, Z2
	VADDPS      Z2, Z0, Z0
	VFMADD231PS Z2, Z2, Z1
	ADDQ        $64, SI
	DECQ        CX
	JNZ         zsqvec

zsqfold:
	ZFOLD(Z0, Y0, X0, Z3, Y3, X3)
	ZFOLD(Z1, Y1, X1, Z3, Y3, X3)
	MOVQ  R15, CX
	TESTQ CX, CX
	JZ    zsqsum

zsqv4:
	VMOVUPS     (SI), X2
	VSUBPS      X15, X2, X2
	VADDPS      X2, X0, X0
	VFMADD231PS X2, X2, X1
	ADDQ        $16, SI
	DECQ        CX
	JNZ         zsqv4

zsqsum:
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X1, X1, X1
	VHADDPS X1, X1, X1
	VMOVSS  X0, (DI)
	VMOVSS  X1, (R10)
	ADDQ    $4, DI
	ADDQ    $4, R10
	NEXTC(zsqnext)

zsqnext:
	DECQ R9
	JNZ  zsqplane

zsqdone:
	VZEROUPPER
	RET

// func affineReLUPlanesAVX512(y, x, a, b []float32, inner, c0, c, planes int, nt bool)
// nt: whole vectors stored non-temporally (y 64-byte aligned), fenced.
TEXT ·affineReLUPlanesAVX512(SB), NOSPLIT, $0-129
	MOVQ y_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ a_base+48(FP), R8
	MOVQ b_base+72(FP), R10
	PLANESTEPS(inner+96(FP))
	MOVQ c0+104(FP), BX
	MOVQ c+112(FP), AX
	MOVQ planes+120(FP), R9
	VPXORD Z13, Z13, Z13
	TESTQ R9, R9
	JZ    zafdone

zafplane:
	VBROADCASTSS (R8)(BX*4), Z14
	VBROADCASTSS (R10)(BX*4), Z15
	MOVQ         R14, CX
	TESTQ        CX, CX
	JZ           zaf4
	CMPB         nt+128(FP), $0
	JNE          zafnt

zafvec:
	VMOVUPS     (SI), Z0
	VFMADD213PS Z15, Z14, Z0
	VMAXPS      Z0, Z13, Z0
	VMOVUPS     Z0, (DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	DECQ        CX
	JNZ         zafvec
	JMP         zaf4

zafnt:
	VMOVUPS     (SI), Z0
	VFMADD213PS Z15, Z14, Z0
	VMAXPS      Z0, Z13, Z0
	VMOVNTPS    Z0, (DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	DECQ        CX
	JNZ         zafnt

zaf4:
	MOVQ  R15, CX
	TESTQ CX, CX
	JZ    zafnextc

zafv4:
	VMOVUPS     (SI), X0
	VFMADD213PS X15, X14, X0
	VMAXPS      X0, X13, X0
	VMOVUPS     X0, (DI)
	ADDQ        $16, SI
	ADDQ        $16, DI
	DECQ        CX
	JNZ         zafv4

zafnextc:
	NEXTC(zafnext)

zafnext:
	DECQ R9
	JNZ  zafplane

zafdone:
	CMPB nt+128(FP), $0
	JEQ  zafret
	SFENCE

zafret:
	VZEROUPPER
	RET

// func reluSumsPlanesAVX512(x, dy, a, b, m, s0, s1 []float32, inner, c0, c int)
TEXT ·reluSumsPlanesAVX512(SB), NOSPLIT, $0-192
	MOVQ x_base+0(FP), SI
	MOVQ dy_base+24(FP), DI
	MOVQ a_base+48(FP), R8
	MOVQ b_base+72(FP), R9
	MOVQ m_base+96(FP), R10
	MOVQ s0_base+120(FP), R11
	MOVQ s0_len+128(FP), R13
	MOVQ s1_base+144(FP), R12
	PLANESTEPS(inner+168(FP))
	MOVQ c0+176(FP), BX
	MOVQ c+184(FP), AX
	VPXORD Z13, Z13, Z13
	TESTQ R13, R13
	JZ    zrpdone

zrpplane:
	VBROADCASTSS (R8)(BX*4), Z14
	VBROADCASTSS (R9)(BX*4), Z15
	VBROADCASTSS (R10)(BX*4), Z12
	VPXORD       Z0, Z0, Z0
	VPXORD       Z1, Z1, Z1
	MOVQ         R14, CX
	TESTQ        CX, CX
	JZ           zrpfold

zrpvec:
	ZRSUM(0, Z0, Z1)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  zrpvec

zrpfold:
	ZFOLD(Z0, Y0, X0, Z3, Y3, X3)
	ZFOLD(Z1, Y1, X1, Z3, Y3, X3)
	MOVQ  R15, CX
	TESTQ CX, CX
	JZ    zrpsum

zrpv4:
	VMOVUPS     (SI), X4
	VMOVAPS     X15, X6
	VFMADD231PS X4, X14, X6
	VCMPPS      $0x1e, X13, X6, X6
	VANDPS      (DI), X6, X6
	VADDPS      X6, X0, X0
	VSUBPS      X12, X4, X4
	VFMADD231PS X6, X4, X1
	ADDQ        $16, SI
	ADDQ        $16, DI
	DECQ        CX
	JNZ         zrpv4

zrpsum:
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X1, X1, X1
	VHADDPS X1, X1, X1
	VMOVSS  X0, (R11)
	VMOVSS  X1, (R12)
	ADDQ    $4, R11
	ADDQ    $4, R12
	NEXTC(zrpnext)

zrpnext:
	DECQ R13
	JNZ  zrpplane

zrpdone:
	VZEROUPPER
	RET

// func reluApplyPlanesAVX512(dx, x, dy, a, b, m, k1, k2 []float32, inner, c0, c, planes int, nt bool)
// nt: whole vectors stored non-temporally (dx 64-byte aligned), fenced.
TEXT ·reluApplyPlanesAVX512(SB), NOSPLIT, $0-225
	MOVQ dx_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ dy_base+48(FP), R8
	MOVQ a_base+72(FP), R9
	MOVQ b_base+96(FP), R10
	MOVQ m_base+120(FP), R11
	MOVQ k1_base+144(FP), R12
	MOVQ k2_base+168(FP), R13
	PLANESTEPS(inner+192(FP))
	MOVQ c0+200(FP), BX
	MOVQ c+208(FP), AX
	VPXORD Z13, Z13, Z13
	CMPQ  planes+216(FP), $0
	JLE   zrqdone

zrqplane:
	VBROADCASTSS (R9)(BX*4), Z14
	VBROADCASTSS (R10)(BX*4), Z15
	VBROADCASTSS (R11)(BX*4), Z12
	VBROADCASTSS (R12)(BX*4), Z11
	VBROADCASTSS (R13)(BX*4), Z10
	MOVQ         R14, CX
	TESTQ        CX, CX
	JZ           zrq4
	CMPB         nt+224(FP), $0
	JNE          zrqnt

zrqvec:
	ZRAPPLY(0, VMOVUPS)
	ADDQ $64, SI
	ADDQ $64, R8
	ADDQ $64, DI
	DECQ CX
	JNZ  zrqvec
	JMP  zrq4

zrqnt:
	ZRAPPLY(0, VMOVNTPS)
	ADDQ $64, SI
	ADDQ $64, R8
	ADDQ $64, DI
	DECQ CX
	JNZ  zrqnt

zrq4:
	MOVQ  R15, CX
	TESTQ CX, CX
	JZ    zrqnextc

zrqv4:
	VMOVUPS      (SI), X4
	VMOVAPS      X15, X6
	VFMADD231PS  X4, X14, X6
	VCMPPS       $0x1e, X13, X6, X6
	VANDPS       (R8), X6, X6
	VSUBPS       X11, X6, X6
	VSUBPS       X12, X4, X4
	VFNMADD231PS X10, X4, X6
	VMULPS       X14, X6, X6
	VMOVUPS      X6, (DI)
	ADDQ         $16, SI
	ADDQ         $16, R8
	ADDQ         $16, DI
	DECQ         CX
	JNZ          zrqv4

zrqnextc:
	NEXTC(zrqnext)

zrqnext:
	DECQ planes+216(FP)
	JNZ  zrqplane

zrqdone:
	CMPB nt+224(FP), $0
	JEQ  zrqret
	SFENCE

zrqret:
	VZEROUPPER
	RET

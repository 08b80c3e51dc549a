//go:build amd64 && !purego

#include "textflag.h"

// AVX2 + FMA kernels of BatchNorm + ReLU (see relu_fast.go for the Go
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

//go:build amd64 && !purego

#include "textflag.h"

// Lane-major 3×3 depthwise kernels (lanes.go): for every output position,
// each vector of lanes gets its nine taps as one multiply and two
// multiply-adds per kernel row (three short chains), the bias, and the
// activation.

// func dwLanes3x3AVX512(y, x *float32, k *float32, b float32, act, ho, wo, s, xrow, xstep, yrow, ystep, lanes int)
TEXT ·dwLanes3x3AVX512(SB), NOSPLIT, $0-104
	MOVQ k+16(FP), AX
	VBROADCASTSS 0(AX), Z0
	VBROADCASTSS 4(AX), Z1
	VBROADCASTSS 8(AX), Z2
	VBROADCASTSS 12(AX), Z3
	VBROADCASTSS 16(AX), Z4
	VBROADCASTSS 20(AX), Z5
	VBROADCASTSS 24(AX), Z6
	VBROADCASTSS 28(AX), Z7
	VBROADCASTSS 32(AX), Z8
	VBROADCASTSS b+24(FP), Z9
	VXORPS Z10, Z10, Z10
	MOVQ $0x40c00000, DX
	MOVQ DX, X11
	VBROADCASTSS X11, Z11
	MOVQ act+32(FP), BX
	// byte strides: AX xrow, R8 xstep, SI s·xstep, DI ystep; s·xrow, yrow
	// and lanes/vector back in their argument slots
	MOVQ xrow+64(FP), AX
	SHLQ $2, AX
	MOVQ xstep+72(FP), R8
	SHLQ $2, R8
	MOVQ s+56(FP), DX
	MOVQ R8, SI
	IMULQ DX, SI
	MOVQ AX, CX
	IMULQ DX, CX
	MOVQ CX, xrow+64(FP)
	MOVQ ystep+88(FP), DI
	SHLQ $2, DI
	MOVQ yrow+80(FP), CX
	SHLQ $2, CX
	MOVQ CX, yrow+80(FP)
	MOVQ lanes+96(FP), CX
	SHRQ $4, CX
	MOVQ CX, lanes+96(FP)
	MOVQ x+8(FP), R10
	MOVQ y+0(FP), R11
	MOVQ ho+40(FP), R9
row:
	MOVQ wo+48(FP), R12
	MOVQ R10, R13
	MOVQ R11, R14
col:
	MOVQ lanes+96(FP), CX
	XORQ R15, R15
vec:
	LEAQ (R13)(R15*1), DX
	VMULPS (DX), Z0, Z12
	VFMADD231PS (DX)(R8*1), Z1, Z12
	VFMADD231PS (DX)(R8*2), Z2, Z12
	ADDQ AX, DX
	VMULPS (DX), Z3, Z13
	VFMADD231PS (DX)(R8*1), Z4, Z13
	VFMADD231PS (DX)(R8*2), Z5, Z13
	ADDQ AX, DX
	VMULPS (DX), Z6, Z14
	VFMADD231PS (DX)(R8*1), Z7, Z14
	VFMADD231PS (DX)(R8*2), Z8, Z14
	VADDPS Z13, Z12, Z12
	VADDPS Z9, Z14, Z14
	VADDPS Z14, Z12, Z12
	CMPQ BX, $0
	JEQ store
	VMAXPS Z10, Z12, Z12
	CMPQ BX, $2
	JNE store
	VMINPS Z11, Z12, Z12
store:
	VMOVUPS Z12, (R14)(R15*1)
	ADDQ $64, R15
	DECQ CX
	JNZ vec
	ADDQ SI, R13
	ADDQ DI, R14
	DECQ R12
	JNZ col
	ADDQ xrow+64(FP), R10
	ADDQ yrow+80(FP), R11
	DECQ R9
	JNZ row
	VZEROUPPER
	RET

// func dwLanes3x3AVX2(y, x *float32, k *float32, b float32, act, ho, wo, s, xrow, xstep, yrow, ystep, lanes int)
TEXT ·dwLanes3x3AVX2(SB), NOSPLIT, $0-104
	MOVQ k+16(FP), AX
	VBROADCASTSS 0(AX), Y0
	VBROADCASTSS 4(AX), Y1
	VBROADCASTSS 8(AX), Y2
	VBROADCASTSS 12(AX), Y3
	VBROADCASTSS 16(AX), Y4
	VBROADCASTSS 20(AX), Y5
	VBROADCASTSS 24(AX), Y6
	VBROADCASTSS 28(AX), Y7
	VBROADCASTSS 32(AX), Y8
	VBROADCASTSS b+24(FP), Y9
	VXORPS Y10, Y10, Y10
	MOVQ $0x40c00000, DX
	MOVQ DX, X11
	VBROADCASTSS X11, Y11
	MOVQ act+32(FP), BX
	// byte strides: AX xrow, R8 xstep, SI s·xstep, DI ystep; s·xrow, yrow
	// and lanes/vector back in their argument slots
	MOVQ xrow+64(FP), AX
	SHLQ $2, AX
	MOVQ xstep+72(FP), R8
	SHLQ $2, R8
	MOVQ s+56(FP), DX
	MOVQ R8, SI
	IMULQ DX, SI
	MOVQ AX, CX
	IMULQ DX, CX
	MOVQ CX, xrow+64(FP)
	MOVQ ystep+88(FP), DI
	SHLQ $2, DI
	MOVQ yrow+80(FP), CX
	SHLQ $2, CX
	MOVQ CX, yrow+80(FP)
	MOVQ lanes+96(FP), CX
	SHRQ $3, CX
	MOVQ CX, lanes+96(FP)
	MOVQ x+8(FP), R10
	MOVQ y+0(FP), R11
	MOVQ ho+40(FP), R9
row:
	MOVQ wo+48(FP), R12
	MOVQ R10, R13
	MOVQ R11, R14
col:
	MOVQ lanes+96(FP), CX
	XORQ R15, R15
vec:
	LEAQ (R13)(R15*1), DX
	VMULPS (DX), Y0, Y12
	VFMADD231PS (DX)(R8*1), Y1, Y12
	VFMADD231PS (DX)(R8*2), Y2, Y12
	ADDQ AX, DX
	VMULPS (DX), Y3, Y13
	VFMADD231PS (DX)(R8*1), Y4, Y13
	VFMADD231PS (DX)(R8*2), Y5, Y13
	ADDQ AX, DX
	VMULPS (DX), Y6, Y14
	VFMADD231PS (DX)(R8*1), Y7, Y14
	VFMADD231PS (DX)(R8*2), Y8, Y14
	VADDPS Y13, Y12, Y12
	VADDPS Y9, Y14, Y14
	VADDPS Y14, Y12, Y12
	CMPQ BX, $0
	JEQ store
	VMAXPS Y10, Y12, Y12
	CMPQ BX, $2
	JNE store
	VMINPS Y11, Y12, Y12
store:
	VMOVUPS Y12, (R14)(R15*1)
	ADDQ $32, R15
	DECQ CX
	JNZ vec
	ADDQ SI, R13
	ADDQ DI, R14
	DECQ R12
	JNZ col
	ADDQ xrow+64(FP), R10
	ADDQ yrow+80(FP), R11
	DECQ R9
	JNZ row
	VZEROUPPER
	RET

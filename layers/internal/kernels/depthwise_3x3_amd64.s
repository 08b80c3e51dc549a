//go:build amd64 && !purego

#include "textflag.h"
#include "depthwise_amd64.h"

// AVX2 + FMA kernels of the 3×3, stride-1, padding-1 depthwise convolution
// (see conv3x3s1 and dwPlaneBackwardKernel3s1 for the Go versions they must
// match). They cover the interior columns 1 … w−2 of every row of one plane;
// the Go callers add the two edge columns. Rows above and below the plane
// read the zero row. A row's last n mod 8 columns use masked loads and
// stores, so nothing outside the slices is touched.

LANES16

// func conv3x3s1AVX2(y, x []float32, k *[9]float32, h, w int, zero []float32)
// y[oy][ox] = Σ k[3ky+kx]·x[oy+ky−1][ox+kx−1] for 1 ≤ ox ≤ w−2.
TEXT ·conv3x3s1AVX2(SB), NOSPLIT, $0-96
	MOVQ y_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ k+48(FP), AX
	MOVQ h+56(FP), R8
	MOVQ w+64(FP), R12
	MOVQ zero_base+72(FP), R10
	BCAST9
	MOVQ R12, R11
	SHLQ $2, R11         // row stride in bytes
	SUBQ $2, R12         // n: interior columns
	MOVQ R12, R13
	ANDQ $-8, R13        // n rounded down to 8
	MOVQ R12, CX
	SUBQ R13, CX         // r = n mod 8
	MOVQ $8, DX
	SUBQ CX, DX
	LEAQ lanes16<>+32(SB), AX
	VMOVDQU (AX)(DX*4), Y12 // mask of r lanes
	ADDQ $4, DI          // output column 1
	XORQ BX, BX          // oy

crow:
	CMPQ BX, R8
	JGE  cdone
	MOVQ R10, AX         // row above, or zero
	TESTQ BX, BX
	JZ   cabove
	MOVQ SI, AX
	SUBQ R11, AX

cabove:
	LEAQ 1(BX), R9
	MOVQ R10, DX         // row below, or zero
	CMPQ R9, R8
	JGE  cbelow
	LEAQ (SI)(R11*1), DX

cbelow:
	XORQ CX, CX
	CMPQ R13, $0
	JE   ctail

cblock:
	VMULPS      (AX)(CX*4), Y0, Y9
	VFMADD231PS 4(AX)(CX*4), Y1, Y9
	VFMADD231PS 8(AX)(CX*4), Y2, Y9
	VMULPS      (SI)(CX*4), Y3, Y10
	VFMADD231PS 4(SI)(CX*4), Y4, Y10
	VFMADD231PS 8(SI)(CX*4), Y5, Y10
	VMULPS      (DX)(CX*4), Y6, Y11
	VFMADD231PS 4(DX)(CX*4), Y7, Y11
	VFMADD231PS 8(DX)(CX*4), Y8, Y11
	VADDPS      Y10, Y9, Y9
	VADDPS      Y11, Y9, Y9
	VMOVUPS     Y9, (DI)(CX*4)
	ADDQ        $8, CX
	CMPQ        CX, R13
	JL          cblock

ctail:
	CMPQ        CX, R12
	JGE         cnext
	VMASKMOVPS  (AX)(CX*4), Y12, Y13
	VMULPS      Y13, Y0, Y9
	VMASKMOVPS  4(AX)(CX*4), Y12, Y14
	VFMADD231PS Y14, Y1, Y9
	VMASKMOVPS  8(AX)(CX*4), Y12, Y15
	VFMADD231PS Y15, Y2, Y9
	VMASKMOVPS  (SI)(CX*4), Y12, Y13
	VMULPS      Y13, Y3, Y10
	VMASKMOVPS  4(SI)(CX*4), Y12, Y14
	VFMADD231PS Y14, Y4, Y10
	VMASKMOVPS  8(SI)(CX*4), Y12, Y15
	VFMADD231PS Y15, Y5, Y10
	VMASKMOVPS  (DX)(CX*4), Y12, Y13
	VMULPS      Y13, Y6, Y11
	VMASKMOVPS  4(DX)(CX*4), Y12, Y14
	VFMADD231PS Y14, Y7, Y11
	VMASKMOVPS  8(DX)(CX*4), Y12, Y15
	VFMADD231PS Y15, Y8, Y11
	VADDPS      Y10, Y9, Y9
	VADDPS      Y11, Y9, Y9
	VMASKMOVPS  Y9, Y12, (DI)(CX*4)

cnext:
	ADDQ R11, SI
	ADDQ R11, DI
	INCQ BX
	JMP  crow

cdone:
	VZEROUPPER
	RET

// func kgrad3x3s1AVX2(acc *[9]float32, dy, x []float32, h, w int, zero []float32)
// acc[3ky+kx] += Σ dy[oy][ox]·x[oy+ky−1][ox+kx−1] over 1 ≤ ox ≤ w−2.
TEXT ·kgrad3x3s1AVX2(SB), NOSPLIT, $0-96
	MOVQ dy_base+8(FP), DI
	MOVQ x_base+32(FP), SI
	MOVQ h+56(FP), R8
	MOVQ w+64(FP), R12
	MOVQ zero_base+72(FP), R10
	ZERO9
	MOVQ R12, R11
	SHLQ $2, R11
	SUBQ $2, R12
	MOVQ R12, R13
	ANDQ $-8, R13
	MOVQ R12, CX
	SUBQ R13, CX
	MOVQ $8, DX
	SUBQ CX, DX
	LEAQ lanes16<>+32(SB), AX
	VMOVDQU (AX)(DX*4), Y12
	ADDQ $4, DI          // dy column 1
	XORQ BX, BX

krow:
	CMPQ BX, R8
	JGE  kdone
	MOVQ R10, AX
	TESTQ BX, BX
	JZ   kabove
	MOVQ SI, AX
	SUBQ R11, AX

kabove:
	LEAQ 1(BX), R9
	MOVQ R10, DX
	CMPQ R9, R8
	JGE  kbelow
	LEAQ (SI)(R11*1), DX

kbelow:
	XORQ CX, CX
	CMPQ R13, $0
	JE   ktail

kblock:
	VMOVUPS     (DI)(CX*4), Y9
	VFMADD231PS (AX)(CX*4), Y9, Y0
	VFMADD231PS 4(AX)(CX*4), Y9, Y1
	VFMADD231PS 8(AX)(CX*4), Y9, Y2
	VFMADD231PS (SI)(CX*4), Y9, Y3
	VFMADD231PS 4(SI)(CX*4), Y9, Y4
	VFMADD231PS 8(SI)(CX*4), Y9, Y5
	VFMADD231PS (DX)(CX*4), Y9, Y6
	VFMADD231PS 4(DX)(CX*4), Y9, Y7
	VFMADD231PS 8(DX)(CX*4), Y9, Y8
	ADDQ        $8, CX
	CMPQ        CX, R13
	JL          kblock

ktail:
	CMPQ        CX, R12
	JGE         knext
	VMASKMOVPS  (DI)(CX*4), Y12, Y9
	VMASKMOVPS  (AX)(CX*4), Y12, Y13
	VFMADD231PS Y13, Y9, Y0
	VMASKMOVPS  4(AX)(CX*4), Y12, Y14
	VFMADD231PS Y14, Y9, Y1
	VMASKMOVPS  8(AX)(CX*4), Y12, Y15
	VFMADD231PS Y15, Y9, Y2
	VMASKMOVPS  (SI)(CX*4), Y12, Y13
	VFMADD231PS Y13, Y9, Y3
	VMASKMOVPS  4(SI)(CX*4), Y12, Y14
	VFMADD231PS Y14, Y9, Y4
	VMASKMOVPS  8(SI)(CX*4), Y12, Y15
	VFMADD231PS Y15, Y9, Y5
	VMASKMOVPS  (DX)(CX*4), Y12, Y13
	VFMADD231PS Y13, Y9, Y6
	VMASKMOVPS  4(DX)(CX*4), Y12, Y14
	VFMADD231PS Y14, Y9, Y7
	VMASKMOVPS  8(DX)(CX*4), Y12, Y15
	VFMADD231PS Y15, Y9, Y8

knext:
	ADDQ R11, SI
	ADDQ R11, DI
	INCQ BX
	JMP  krow

kdone:
	MOVQ acc+0(FP), AX
	REDUCE9
	VZEROUPPER
	RET

// AVX-512 twins (the AVX512 tier): sixteen columns a step, a row's last
// n mod 16 under a k-mask (AVX2's VMASKMOVPS is microcoded on AMD's Zen
// cores, and at MobileNet's 16- and 32-wide rows most columns are a tail).

// func conv3x3s1AVX512(y, x []float32, k *[9]float32, h, w int, zero []float32)
// y[oy][ox] = Σ k[3ky+kx]·x[oy+ky−1][ox+kx−1] for 1 ≤ ox ≤ w−2.
TEXT ·conv3x3s1AVX512(SB), NOSPLIT, $0-96
	MOVQ y_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ k+48(FP), AX
	MOVQ h+56(FP), R8
	MOVQ w+64(FP), R12
	MOVQ zero_base+72(FP), R10
	ZBCAST9
	MOVQ R12, R11
	SHLQ $2, R11         // row stride in bytes
	SUBQ $2, R12         // n: interior columns
	MOVQ R12, R13
	ANDQ $-16, R13       // n rounded down to 16
	MOVQ R12, CX
	SUBQ R13, CX         // r = n mod 16
	KLANES(K1)
	ADDQ $4, DI          // output column 1
	XORQ BX, BX          // oy

zcrow:
	CMPQ BX, R8
	JGE  zcdone
	MOVQ R10, AX         // row above, or zero
	TESTQ BX, BX
	JZ   zcabove
	MOVQ SI, AX
	SUBQ R11, AX

zcabove:
	LEAQ 1(BX), R9
	MOVQ R10, DX         // row below, or zero
	CMPQ R9, R8
	JGE  zcbelow
	LEAQ (SI)(R11*1), DX

zcbelow:
	XORQ CX, CX
	CMPQ R13, $0
	JE   zctail

zcblock:
	VMULPS      (AX)(CX*4), Z0, Z9
	VFMADD231PS 4(AX)(CX*4), Z1, Z9
	VFMADD231PS 8(AX)(CX*4), Z2, Z9
	VMULPS      (SI)(CX*4), Z3, Z10
	VFMADD231PS 4(SI)(CX*4), Z4, Z10
	VFMADD231PS 8(SI)(CX*4), Z5, Z10
	VMULPS      (DX)(CX*4), Z6, Z11
	VFMADD231PS 4(DX)(CX*4), Z7, Z11
	VFMADD231PS 8(DX)(CX*4), Z8, Z11
	VADDPS      Z10, Z9, Z9
	VADDPS      Z11, Z9, Z9
	VMOVUPS     Z9, (DI)(CX*4)
	ADDQ        $16, CX
	CMPQ        CX, R13
	JL          zcblock

zctail:
	CMPQ        CX, R12
	JGE         zcnext
	VMOVUPS.Z   (AX)(CX*4), K1, Z13
	VMULPS      Z13, Z0, Z9
	VMOVUPS.Z   4(AX)(CX*4), K1, Z14
	VFMADD231PS Z14, Z1, Z9
	VMOVUPS.Z   8(AX)(CX*4), K1, Z15
	VFMADD231PS Z15, Z2, Z9
	VMOVUPS.Z   (SI)(CX*4), K1, Z13
	VMULPS      Z13, Z3, Z10
	VMOVUPS.Z   4(SI)(CX*4), K1, Z14
	VFMADD231PS Z14, Z4, Z10
	VMOVUPS.Z   8(SI)(CX*4), K1, Z15
	VFMADD231PS Z15, Z5, Z10
	VMOVUPS.Z   (DX)(CX*4), K1, Z13
	VMULPS      Z13, Z6, Z11
	VMOVUPS.Z   4(DX)(CX*4), K1, Z14
	VFMADD231PS Z14, Z7, Z11
	VMOVUPS.Z   8(DX)(CX*4), K1, Z15
	VFMADD231PS Z15, Z8, Z11
	VADDPS      Z10, Z9, Z9
	VADDPS      Z11, Z9, Z9
	VMOVUPS     Z9, K1, (DI)(CX*4)

zcnext:
	ADDQ R11, SI
	ADDQ R11, DI
	INCQ BX
	JMP  zcrow

zcdone:
	VZEROUPPER
	RET

// func kgrad3x3s1AVX512(acc *[9]float32, dy, x []float32, h, w int, zero []float32)
// acc[3ky+kx] += Σ dy[oy][ox]·x[oy+ky−1][ox+kx−1] over 1 ≤ ox ≤ w−2.
TEXT ·kgrad3x3s1AVX512(SB), NOSPLIT, $0-96
	MOVQ dy_base+8(FP), DI
	MOVQ x_base+32(FP), SI
	MOVQ h+56(FP), R8
	MOVQ w+64(FP), R12
	MOVQ zero_base+72(FP), R10
	ZZERO9
	MOVQ R12, R11
	SHLQ $2, R11
	SUBQ $2, R12
	MOVQ R12, R13
	ANDQ $-16, R13
	MOVQ R12, CX
	SUBQ R13, CX
	KLANES(K1)
	ADDQ $4, DI          // dy column 1
	XORQ BX, BX

zkrow:
	CMPQ BX, R8
	JGE  zkdone
	MOVQ R10, AX
	TESTQ BX, BX
	JZ   zkabove
	MOVQ SI, AX
	SUBQ R11, AX

zkabove:
	LEAQ 1(BX), R9
	MOVQ R10, DX
	CMPQ R9, R8
	JGE  zkbelow
	LEAQ (SI)(R11*1), DX

zkbelow:
	XORQ CX, CX
	CMPQ R13, $0
	JE   zktail

zkblock:
	VMOVUPS     (DI)(CX*4), Z9
	VFMADD231PS (AX)(CX*4), Z9, Z0
	VFMADD231PS 4(AX)(CX*4), Z9, Z1
	VFMADD231PS 8(AX)(CX*4), Z9, Z2
	VFMADD231PS (SI)(CX*4), Z9, Z3
	VFMADD231PS 4(SI)(CX*4), Z9, Z4
	VFMADD231PS 8(SI)(CX*4), Z9, Z5
	VFMADD231PS (DX)(CX*4), Z9, Z6
	VFMADD231PS 4(DX)(CX*4), Z9, Z7
	VFMADD231PS 8(DX)(CX*4), Z9, Z8
	ADDQ        $16, CX
	CMPQ        CX, R13
	JL          zkblock

zktail:
	CMPQ        CX, R12
	JGE         zknext
	VMOVUPS.Z   (DI)(CX*4), K1, Z9
	VMOVUPS.Z   (AX)(CX*4), K1, Z13
	VFMADD231PS Z13, Z9, Z0
	VMOVUPS.Z   4(AX)(CX*4), K1, Z14
	VFMADD231PS Z14, Z9, Z1
	VMOVUPS.Z   8(AX)(CX*4), K1, Z15
	VFMADD231PS Z15, Z9, Z2
	VMOVUPS.Z   (SI)(CX*4), K1, Z13
	VFMADD231PS Z13, Z9, Z3
	VMOVUPS.Z   4(SI)(CX*4), K1, Z14
	VFMADD231PS Z14, Z9, Z4
	VMOVUPS.Z   8(SI)(CX*4), K1, Z15
	VFMADD231PS Z15, Z9, Z5
	VMOVUPS.Z   (DX)(CX*4), K1, Z13
	VFMADD231PS Z13, Z9, Z6
	VMOVUPS.Z   4(DX)(CX*4), K1, Z14
	VFMADD231PS Z14, Z9, Z7
	VMOVUPS.Z   8(DX)(CX*4), K1, Z15
	VFMADD231PS Z15, Z9, Z8

zknext:
	ADDQ R11, SI
	ADDQ R11, DI
	INCQ BX
	JMP  zkrow

zkdone:
	MOVQ acc+0(FP), AX
	ZREDUCE9
	VZEROUPPER
	RET

//go:build amd64 && !purego

#include "textflag.h"
#include "depthwise_amd64.h"

// AVX2 + FMA kernels of the 3×3, stride-2, padding-1 depthwise convolution
// (see dwPlaneForward3s2 and dwPlaneBackwardKernel3s2 for the Go versions
// they must match). Output column ox reads input columns 2ox−1, 2ox, 2ox+1;
// for eight outputs at once, 16 input floats from column 2ox split into even
// columns E (tap 1) and odd columns O (tap 2), and O moved up one lane with
// column 2ox−1 in front is tap 0 (L). The kernels cover output columns
// 1 … Wo−1 (the Go callers do column 0); a row's last block uses masked
// loads and stores, so nothing outside the slices is touched. Rows above
// and below the plane read the zero row. They need Wo = ⌈W/2⌉.

LANES16

// rot<>: VPERMPS indices moving lane i to lane i+1 (lane 7 to lane 0).
DATA rot<>+0(SB)/4, $7
DATA rot<>+4(SB)/4, $0
DATA rot<>+8(SB)/4, $1
DATA rot<>+12(SB)/4, $2
DATA rot<>+16(SB)/4, $3
DATA rot<>+20(SB)/4, $4
DATA rot<>+24(SB)/4, $5
DATA rot<>+28(SB)/4, $6
GLOBL rot<>(SB), RODATA|NOPTR, $32

// EOL splits the 16 floats in Y9, Y10 (columns 2ox …) of row R into
// E = Y11, O = Y10 and L = Y14 (Y13: column 2ox−1 in lane 0).
#define EOL(R) \
	VSHUFPS  $0x88, Y10, Y9, Y11; \
	VSHUFPS  $0xdd, Y10, Y9, Y10; \
	VPERMPD  $0xd8, Y11, Y11; \
	VPERMPD  $0xd8, Y10, Y10; \
	VMOVSS   -4(R)(CX*8), X13; \
	VPERMPS  Y10, Y15, Y14; \
	VBLENDPS $1, Y13, Y14, Y14

#define LOADFULL(R) \
	VMOVUPS (R)(CX*8), Y9; \
	VMOVUPS 32(R)(CX*8), Y10

// R13 holds the mask pair's address.
#define LOADMASKED(R) \
	VMOVDQU    (R13), Y9; \
	VMASKMOVPS (R)(CX*8), Y9, Y9; \
	VMOVDQU    32(R13), Y10; \
	VMASKMOVPS 32(R)(CX*8), Y10, Y10

#define FWDTAPS(W0, W1, W2) \
	VFMADD231PS Y14, W0, Y12; \
	VFMADD231PS Y11, W1, Y12; \
	VFMADD231PS Y10, W2, Y12

// Row set-up shared by both kernels: AX = row 2oy−1 (or zero), DX = row
// 2oy+1 (or zero), SI = row 2oy; R8 = Ho, R12 = H, R10 = zero, R11 = row
// stride in bytes, BX = oy.
#define ROWS(skip) \
	MOVQ  R10, AX; \
	TESTQ BX, BX; \
	JZ    skip; \
	MOVQ  SI, AX; \
	SUBQ  R11, AX

// func convS2AVX2(y, x []float32, k *[9]float32, h, w, ho, wo int, zero []float32)
TEXT ·convS2AVX2(SB), NOSPLIT, $0-112
	MOVQ y_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ k+48(FP), AX
	MOVQ h+56(FP), R12
	MOVQ w+64(FP), R11
	SHLQ $2, R11
	MOVQ ho+72(FP), R8
	MOVQ wo+80(FP), R9
	MOVQ zero_base+88(FP), R10
	BCAST9
	LEAQ rot<>(SB), AX
	VMOVDQU (AX), Y15
	XORQ BX, BX

frow:
	CMPQ BX, R8
	JGE  fdone
	ROWS(fabove)

fabove:
	LEAQ 1(BX)(BX*1), DX // 2oy+1
	CMPQ DX, R12
	MOVQ R10, DX
	JGE  fbelow
	LEAQ (SI)(R11*1), DX

fbelow:
	MOVQ $1, CX

fblock:
	LEAQ 8(CX), R13
	CMPQ R13, R9
	JGE  flast
	VXORPS Y12, Y12, Y12
	LOADFULL(AX)
	EOL(AX)
	FWDTAPS(Y0, Y1, Y2)
	LOADFULL(SI)
	EOL(SI)
	FWDTAPS(Y3, Y4, Y5)
	LOADFULL(DX)
	EOL(DX)
	FWDTAPS(Y6, Y7, Y8)
	VMOVUPS Y12, (DI)(CX*4)
	ADDQ    $8, CX
	JMP     fblock

flast:
	CMPQ CX, R9
	JGE  fnext
	// R13 = lanes16 + 4·(16 − (W − 2ox)) = lanes16 + 64 − 4W + 8ox
	LEAQ lanes16<>(SB), R13
	ADDQ $64, R13
	SUBQ R11, R13
	LEAQ (R13)(CX*8), R13
	VXORPS Y12, Y12, Y12
	LOADMASKED(AX)
	EOL(AX)
	FWDTAPS(Y0, Y1, Y2)
	LOADMASKED(SI)
	EOL(SI)
	FWDTAPS(Y3, Y4, Y5)
	LOADMASKED(DX)
	EOL(DX)
	FWDTAPS(Y6, Y7, Y8)
	// store mask: r = Wo − ox lanes: lanes16 + 64 − 4r
	MOVQ R9, R13
	SUBQ CX, R13
	SHLQ $2, R13
	NEGQ R13
	LEAQ lanes16<>(SB), AX
	LEAQ 64(AX)(R13*1), R13
	VMOVDQU    (R13), Y9
	VMASKMOVPS Y12, Y9, (DI)(CX*4)

fnext:
	LEAQ (SI)(R11*2), SI
	LEAQ (DI)(R9*4), DI
	INCQ BX
	JMP  frow

fdone:
	VZEROUPPER
	RET

#define KTAPS(A0, A1, A2) \
	VFMADD231PS Y14, Y12, A0; \
	VFMADD231PS Y11, Y12, A1; \
	VFMADD231PS Y10, Y12, A2


// func kgradS2AVX2(acc *[9]float32, dy, x []float32, h, w, ho, wo int, zero []float32)
TEXT ·kgradS2AVX2(SB), NOSPLIT, $0-112
	MOVQ dy_base+8(FP), DI
	MOVQ x_base+32(FP), SI
	MOVQ h+56(FP), R12
	MOVQ w+64(FP), R11
	SHLQ $2, R11
	MOVQ ho+72(FP), R8
	MOVQ wo+80(FP), R9
	MOVQ zero_base+88(FP), R10
	ZERO9
	LEAQ rot<>(SB), AX
	VMOVDQU (AX), Y15
	XORQ BX, BX

krow:
	CMPQ BX, R8
	JGE  kdone
	ROWS(kabove)

kabove:
	LEAQ 1(BX)(BX*1), DX
	CMPQ DX, R12
	MOVQ R10, DX
	JGE  kbelow
	LEAQ (SI)(R11*1), DX

kbelow:
	MOVQ $1, CX

kblock:
	LEAQ 8(CX), R13
	CMPQ R13, R9
	JGE  klast
	VMOVUPS (DI)(CX*4), Y12
	LOADFULL(AX)
	EOL(AX)
	KTAPS(Y0, Y1, Y2)
	LOADFULL(SI)
	EOL(SI)
	KTAPS(Y3, Y4, Y5)
	LOADFULL(DX)
	EOL(DX)
	KTAPS(Y6, Y7, Y8)
	ADDQ $8, CX
	JMP  kblock

klast:
	CMPQ CX, R9
	JGE  knext
	// dy mask: r = Wo − ox lanes
	MOVQ R9, R13
	SUBQ CX, R13
	SHLQ $2, R13
	NEGQ R13
	LEAQ lanes16<>(SB), AX
	LEAQ 64(AX)(R13*1), R13
	VMOVDQU    (R13), Y12
	VMASKMOVPS (DI)(CX*4), Y12, Y12
	// restore AX (row above) and set the input masks
	MOVQ  R10, AX
	TESTQ BX, BX
	JZ    kmasks
	MOVQ  SI, AX
	SUBQ  R11, AX

kmasks:
	LEAQ lanes16<>(SB), R13
	ADDQ $64, R13
	SUBQ R11, R13
	LEAQ (R13)(CX*8), R13
	LOADMASKED(AX)
	EOL(AX)
	KTAPS(Y0, Y1, Y2)
	LOADMASKED(SI)
	EOL(SI)
	KTAPS(Y3, Y4, Y5)
	LOADMASKED(DX)
	EOL(DX)
	KTAPS(Y6, Y7, Y8)

knext:
	LEAQ (SI)(R11*2), SI
	LEAQ (DI)(R9*4), DI
	INCQ BX
	JMP  krow

kdone:
	MOVQ acc+0(FP), AX
	REDUCE9
	VZEROUPPER
	RET

// The input gradient, gathered: dx row 2i takes dy row i through kernel
// row 1; dx row 2i+1 takes dy row i through kernel row 2 and dy row i+1
// (zero past the end) through kernel row 0. Within a row, even column 2j is
// k[·][1]·dy[j] and odd column 2j+1 is k[·][2]·dy[j] + k[·][0]·dy[j+1];
// the two halves are interleaved into 16 dx floats per block.

// IL interleaves E = Y13 and O = Y14 into Y11, Y12 (dx columns 2j …).
#define IL \
	VUNPCKLPS  Y14, Y13, Y9; \
	VUNPCKHPS  Y14, Y13, Y10; \
	VPERM2F128 $0x20, Y10, Y9, Y11; \
	VPERM2F128 $0x31, Y10, Y9, Y12

#define EVENEO \
	VMULPS      Y9, Y4, Y13; \
	VMULPS      Y9, Y5, Y14; \
	VFMADD231PS Y10, Y3, Y14

#define ODDEO \
	VMULPS      Y9, Y7, Y13; \
	VFMADD231PS Y11, Y1, Y13; \
	VMULPS      Y9, Y8, Y14; \
	VFMADD231PS Y10, Y6, Y14; \
	VFMADD231PS Y11, Y2, Y14; \
	VFMADD231PS Y12, Y0, Y14

// DYMASK: R13 = lanes16 + 64 − 4·(Wo − j), the mask of the r = Wo − j
// valid dy lanes (4(R13): r − 1 lanes, for dy[j+1 …]).
#define DYMASK \
	LEAQ lanes16<>(SB), R13; \
	ADDQ $64, R13; \
	LEAQ (R13)(CX*4), R13; \
	SUBQ R9, R13; \
	SUBQ R9, R13; \
	SUBQ R9, R13; \
	SUBQ R9, R13

// DXMASK: R13 = lanes16 + 64 − 4·(W − 2j), the masks of the valid dx floats.
#define DXMASK \
	LEAQ lanes16<>(SB), R13; \
	ADDQ $64, R13; \
	LEAQ (R13)(CX*8), R13; \
	SUBQ R12, R13; \
	SUBQ R12, R13; \
	SUBQ R12, R13; \
	SUBQ R12, R13

#define STOREMASKED \
	DXMASK; \
	VMOVDQU    (R13), Y15; \
	VMASKMOVPS Y11, Y15, (DI)(CX*8); \
	VMOVDQU    32(R13), Y15; \
	VMASKMOVPS Y12, Y15, 32(DI)(CX*8)

// func dxS2AVX2(dx, dy []float32, k *[9]float32, h, w, ho, wo int, zero []float32)
TEXT ·dxS2AVX2(SB), NOSPLIT, $0-112
	MOVQ dx_base+0(FP), DI
	MOVQ dy_base+24(FP), SI
	MOVQ k+48(FP), AX
	MOVQ h+56(FP), R8
	MOVQ w+64(FP), R12
	MOVQ ho+72(FP), R11
	MOVQ wo+80(FP), R9
	MOVQ zero_base+88(FP), R10
	BCAST9
	XORQ BX, BX

xrow:
	CMPQ  BX, R8
	JGE   xdone
	MOVQ  BX, AX
	SHRQ  $1, AX          // i
	MOVQ  AX, DX
	IMULQ R9, AX
	LEAQ  (SI)(AX*4), AX  // dy row i
	XORQ  CX, CX
	TESTQ $1, BX
	JNZ   xodd

xeven:
	LEAQ 8(CX), R13
	CMPQ R13, R9
	JGE  xevenlast
	VMOVUPS (AX)(CX*4), Y9
	VMOVUPS 4(AX)(CX*4), Y10
	EVENEO
	IL
	VMOVUPS Y11, (DI)(CX*8)
	VMOVUPS Y12, 32(DI)(CX*8)
	ADDQ    $8, CX
	JMP     xeven

xevenlast:
	CMPQ CX, R9
	JGE  xnext
	DYMASK
	VMOVDQU    (R13), Y15
	VMASKMOVPS (AX)(CX*4), Y15, Y9
	VMOVDQU    4(R13), Y15
	VMASKMOVPS 4(AX)(CX*4), Y15, Y10
	EVENEO
	IL
	STOREMASKED
	JMP xnext

xodd:
	INCQ DX               // i+1
	CMPQ DX, R11
	MOVQ R10, DX
	JGE  xoddblock
	MOVQ R9, DX
	LEAQ (AX)(DX*4), DX   // dy row i+1

xoddblock:
	LEAQ 8(CX), R13
	CMPQ R13, R9
	JGE  xoddlast
	VMOVUPS (AX)(CX*4), Y9
	VMOVUPS 4(AX)(CX*4), Y10
	VMOVUPS (DX)(CX*4), Y11
	VMOVUPS 4(DX)(CX*4), Y12
	ODDEO
	IL
	VMOVUPS Y11, (DI)(CX*8)
	VMOVUPS Y12, 32(DI)(CX*8)
	ADDQ    $8, CX
	JMP     xoddblock

xoddlast:
	CMPQ CX, R9
	JGE  xnext
	DYMASK
	VMOVDQU    (R13), Y15
	VMASKMOVPS (AX)(CX*4), Y15, Y9
	VMASKMOVPS (DX)(CX*4), Y15, Y11
	VMOVDQU    4(R13), Y15
	VMASKMOVPS 4(AX)(CX*4), Y15, Y10
	VMASKMOVPS 4(DX)(CX*4), Y15, Y12
	ODDEO
	IL
	STOREMASKED

xnext:
	LEAQ (DI)(R12*4), DI
	INCQ BX
	JMP  xrow

xdone:
	VZEROUPPER
	RET

// AVX-512 twins (the AVX512 tier): sixteen outputs a block. The 32 input
// floats from column 2ox split by two-table permutes (VPERMT2PS) into even
// columns E (tap 1) and odd columns O (tap 2); the 32 from column 2ox−1
// give L (tap 0) the same way. A row's last block loads and stores under
// k-masks (BZHI of the valid count), so nothing outside the slices is
// touched and AVX2's microcoded VMASKMOVPS is avoided.

// s2idx<>: the permute indices — even lanes 0, 2, … 30 at 0; odd lanes
// 1, 3, … 31 at 64; the interleave of two vectors' low halves (0, 16, 1,
// 17, … 7, 23) at 128 and of their high halves (8, 24, … 15, 31) at 192.
DATA s2idx<>+0(SB)/4, $0
DATA s2idx<>+4(SB)/4, $2
DATA s2idx<>+8(SB)/4, $4
DATA s2idx<>+12(SB)/4, $6
DATA s2idx<>+16(SB)/4, $8
DATA s2idx<>+20(SB)/4, $10
DATA s2idx<>+24(SB)/4, $12
DATA s2idx<>+28(SB)/4, $14
DATA s2idx<>+32(SB)/4, $16
DATA s2idx<>+36(SB)/4, $18
DATA s2idx<>+40(SB)/4, $20
DATA s2idx<>+44(SB)/4, $22
DATA s2idx<>+48(SB)/4, $24
DATA s2idx<>+52(SB)/4, $26
DATA s2idx<>+56(SB)/4, $28
DATA s2idx<>+60(SB)/4, $30
DATA s2idx<>+64(SB)/4, $1
DATA s2idx<>+68(SB)/4, $3
DATA s2idx<>+72(SB)/4, $5
DATA s2idx<>+76(SB)/4, $7
DATA s2idx<>+80(SB)/4, $9
DATA s2idx<>+84(SB)/4, $11
DATA s2idx<>+88(SB)/4, $13
DATA s2idx<>+92(SB)/4, $15
DATA s2idx<>+96(SB)/4, $17
DATA s2idx<>+100(SB)/4, $19
DATA s2idx<>+104(SB)/4, $21
DATA s2idx<>+108(SB)/4, $23
DATA s2idx<>+112(SB)/4, $25
DATA s2idx<>+116(SB)/4, $27
DATA s2idx<>+120(SB)/4, $29
DATA s2idx<>+124(SB)/4, $31
DATA s2idx<>+128(SB)/4, $0
DATA s2idx<>+132(SB)/4, $16
DATA s2idx<>+136(SB)/4, $1
DATA s2idx<>+140(SB)/4, $17
DATA s2idx<>+144(SB)/4, $2
DATA s2idx<>+148(SB)/4, $18
DATA s2idx<>+152(SB)/4, $3
DATA s2idx<>+156(SB)/4, $19
DATA s2idx<>+160(SB)/4, $4
DATA s2idx<>+164(SB)/4, $20
DATA s2idx<>+168(SB)/4, $5
DATA s2idx<>+172(SB)/4, $21
DATA s2idx<>+176(SB)/4, $6
DATA s2idx<>+180(SB)/4, $22
DATA s2idx<>+184(SB)/4, $7
DATA s2idx<>+188(SB)/4, $23
DATA s2idx<>+192(SB)/4, $8
DATA s2idx<>+196(SB)/4, $24
DATA s2idx<>+200(SB)/4, $9
DATA s2idx<>+204(SB)/4, $25
DATA s2idx<>+208(SB)/4, $10
DATA s2idx<>+212(SB)/4, $26
DATA s2idx<>+216(SB)/4, $11
DATA s2idx<>+220(SB)/4, $27
DATA s2idx<>+224(SB)/4, $12
DATA s2idx<>+228(SB)/4, $28
DATA s2idx<>+232(SB)/4, $13
DATA s2idx<>+236(SB)/4, $29
DATA s2idx<>+240(SB)/4, $14
DATA s2idx<>+244(SB)/4, $30
DATA s2idx<>+248(SB)/4, $15
DATA s2idx<>+252(SB)/4, $31
GLOBL s2idx<>(SB), RODATA|NOPTR, $256

// ZIDX loads the permute indices into Z28 (even), Z29 (odd), Z30 and Z31
// (interleave low and high); it clobbers R13.
#define ZIDX \
	LEAQ    s2idx<>(SB), R13; \
	VMOVUPS (R13), Z28; \
	VMOVUPS 64(R13), Z29; \
	VMOVUPS 128(R13), Z30; \
	VMOVUPS 192(R13), Z31

// ZSPLIT forms L = Z11, E = Z12, O = Z13 from A, B = Z11, Z14 (32 floats
// from column 2ox−1) and C, D = Z12, Z15 (32 from column 2ox).
#define ZSPLIT \
	VMOVAPS   Z12, Z13; \
	VPERMT2PS Z14, Z28, Z11; \
	VPERMT2PS Z15, Z28, Z12; \
	VPERMT2PS Z15, Z29, Z13

#define ZLOADFULL(R) \
	VMOVUPS -4(R)(CX*8), Z11; \
	VMOVUPS 60(R)(CX*8), Z14; \
	VMOVUPS (R)(CX*8), Z12; \
	VMOVUPS 64(R)(CX*8), Z15; \
	ZSPLIT

// K2, K3 mask the valid lanes of A, B; K4, K5 those of C, D.
#define ZLOADMASKED(R) \
	VMOVUPS.Z -4(R)(CX*8), K2, Z11; \
	VMOVUPS.Z 60(R)(CX*8), K3, Z14; \
	VMOVUPS.Z (R)(CX*8), K4, Z12; \
	VMOVUPS.Z 64(R)(CX*8), K5, Z15; \
	ZSPLIT

// KPAIR sets Klo, Khi to the masks of the first n (in N) of 32 lanes
// (n ≥ 32: all); it clobbers R15.
#define KPAIR(N, Klo, Khi) \
	MOVL  $0xffffffff, R15; \
	BZHIQ N, R15, R15; \
	KMOVW R15, Klo; \
	SHRQ  $16, R15; \
	KMOVW R15, Khi

// ZINMASKS sets K2 … K5 for the input block at output column ox = CX:
// W − 2ox + 1 valid floats from column 2ox−1, W − 2ox from 2ox (R11 = row
// stride in bytes); it clobbers R13, R14, R15.
#define ZINMASKS \
	MOVQ R11, R13; \
	SHRQ $2, R13; \
	SUBQ CX, R13; \
	SUBQ CX, R13; \
	LEAQ 1(R13), R14; \
	KPAIR(R14, K2, K3); \
	KPAIR(R13, K4, K5)

// ZOUTMASK sets K1 to the first Wo − ox (R9 − CX) lanes; it clobbers R13,
// R15.
#define ZOUTMASK \
	MOVQ  R9, R13; \
	SUBQ  CX, R13; \
	MOVL  $0xffff, R15; \
	BZHIQ R13, R15, R15; \
	KMOVW R15, K1

#define ZFWDTAPS(W0, W1, W2) \
	VFMADD231PS Z11, W0, Z16; \
	VFMADD231PS Z12, W1, Z16; \
	VFMADD231PS Z13, W2, Z16

// func convS2AVX512(y, x []float32, k *[9]float32, h, w, ho, wo int, zero []float32)
TEXT ·convS2AVX512(SB), NOSPLIT, $0-112
	MOVQ y_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ k+48(FP), AX
	MOVQ h+56(FP), R12
	MOVQ w+64(FP), R11
	SHLQ $2, R11
	MOVQ ho+72(FP), R8
	MOVQ wo+80(FP), R9
	MOVQ zero_base+88(FP), R10
	ZBCAST9
	ZIDX
	XORQ BX, BX

zfrow:
	CMPQ BX, R8
	JGE  zfdone
	ROWS(zfabove)

zfabove:
	LEAQ 1(BX)(BX*1), DX // 2oy+1
	CMPQ DX, R12
	MOVQ R10, DX
	JGE  zfbelow
	LEAQ (SI)(R11*1), DX

zfbelow:
	MOVQ $1, CX

zfblock:
	LEAQ 16(CX), R13
	CMPQ R13, R9
	JGE  zflast
	VPXORD  Z16, Z16, Z16
	ZLOADFULL(AX)
	ZFWDTAPS(Z0, Z1, Z2)
	ZLOADFULL(SI)
	ZFWDTAPS(Z3, Z4, Z5)
	ZLOADFULL(DX)
	ZFWDTAPS(Z6, Z7, Z8)
	VMOVUPS Z16, (DI)(CX*4)
	ADDQ    $16, CX
	JMP     zfblock

zflast:
	CMPQ CX, R9
	JGE  zfnext
	ZINMASKS
	ZOUTMASK
	VPXORD  Z16, Z16, Z16
	ZLOADMASKED(AX)
	ZFWDTAPS(Z0, Z1, Z2)
	ZLOADMASKED(SI)
	ZFWDTAPS(Z3, Z4, Z5)
	ZLOADMASKED(DX)
	ZFWDTAPS(Z6, Z7, Z8)
	VMOVUPS Z16, K1, (DI)(CX*4)

zfnext:
	LEAQ (SI)(R11*2), SI
	LEAQ (DI)(R9*4), DI
	INCQ BX
	JMP  zfrow

zfdone:
	VZEROUPPER
	RET

#define ZKTAPS(A0, A1, A2) \
	VFMADD231PS Z11, Z16, A0; \
	VFMADD231PS Z12, Z16, A1; \
	VFMADD231PS Z13, Z16, A2

// func kgradS2AVX512(acc *[9]float32, dy, x []float32, h, w, ho, wo int, zero []float32)
TEXT ·kgradS2AVX512(SB), NOSPLIT, $0-112
	MOVQ dy_base+8(FP), DI
	MOVQ x_base+32(FP), SI
	MOVQ h+56(FP), R12
	MOVQ w+64(FP), R11
	SHLQ $2, R11
	MOVQ ho+72(FP), R8
	MOVQ wo+80(FP), R9
	MOVQ zero_base+88(FP), R10
	ZZERO9
	ZIDX
	XORQ BX, BX

zkrow:
	CMPQ BX, R8
	JGE  zkdone
	ROWS(zkabove)

zkabove:
	LEAQ 1(BX)(BX*1), DX
	CMPQ DX, R12
	MOVQ R10, DX
	JGE  zkbelow
	LEAQ (SI)(R11*1), DX

zkbelow:
	MOVQ $1, CX

zkblock:
	LEAQ 16(CX), R13
	CMPQ R13, R9
	JGE  zklast
	VMOVUPS (DI)(CX*4), Z16
	ZLOADFULL(AX)
	ZKTAPS(Z0, Z1, Z2)
	ZLOADFULL(SI)
	ZKTAPS(Z3, Z4, Z5)
	ZLOADFULL(DX)
	ZKTAPS(Z6, Z7, Z8)
	ADDQ $16, CX
	JMP  zkblock

zklast:
	CMPQ CX, R9
	JGE  zknext
	ZINMASKS
	ZOUTMASK
	VMOVUPS.Z (DI)(CX*4), K1, Z16
	ZLOADMASKED(AX)
	ZKTAPS(Z0, Z1, Z2)
	ZLOADMASKED(SI)
	ZKTAPS(Z3, Z4, Z5)
	ZLOADMASKED(DX)
	ZKTAPS(Z6, Z7, Z8)

zknext:
	LEAQ (SI)(R11*2), SI
	LEAQ (DI)(R9*4), DI
	INCQ BX
	JMP  zkrow

zkdone:
	MOVQ acc+0(FP), AX
	ZREDUCE9
	VZEROUPPER
	RET

// The input gradient, gathered as dxS2AVX2 does, sixteen dy columns (32 dx
// floats) a block; E = Z13 and O = Z14 are interleaved into Z11, Z12.
#define ZIL \
	VMOVAPS   Z13, Z11; \
	VPERMT2PS Z14, Z30, Z11; \
	VMOVAPS   Z13, Z12; \
	VPERMT2PS Z14, Z31, Z12

#define ZEVENEO \
	VMULPS      Z9, Z4, Z13; \
	VMULPS      Z9, Z5, Z14; \
	VFMADD231PS Z10, Z3, Z14

#define ZODDEO \
	VMULPS      Z9, Z7, Z13; \
	VFMADD231PS Z11, Z1, Z13; \
	VMULPS      Z9, Z8, Z14; \
	VFMADD231PS Z10, Z6, Z14; \
	VFMADD231PS Z11, Z2, Z14; \
	VFMADD231PS Z12, Z0, Z14

// ZDYMASKS: K1 = the r = Wo − j valid dy lanes at column j = CX, K2 = the
// r − 1 at j+1; K3, K4 = the W − 2j valid dx floats (R12 = W). Clobbers
// R13, R15.
#define ZDYMASKS \
	MOVQ  R9, R13; \
	SUBQ  CX, R13; \
	MOVL  $0xffff, R15; \
	BZHIQ R13, R15, R15; \
	KMOVW R15, K1; \
	DECQ  R13; \
	MOVL  $0xffff, R15; \
	BZHIQ R13, R15, R15; \
	KMOVW R15, K2; \
	MOVQ  R12, R13; \
	SUBQ  CX, R13; \
	SUBQ  CX, R13; \
	KPAIR(R13, K3, K4)

#define ZSTOREMASKED \
	VMOVUPS Z11, K3, (DI)(CX*8); \
	VMOVUPS Z12, K4, 64(DI)(CX*8)

// func dxS2AVX512(dx, dy []float32, k *[9]float32, h, w, ho, wo int, zero []float32)
TEXT ·dxS2AVX512(SB), NOSPLIT, $0-112
	MOVQ dx_base+0(FP), DI
	MOVQ dy_base+24(FP), SI
	MOVQ k+48(FP), AX
	MOVQ h+56(FP), R8
	MOVQ w+64(FP), R12
	MOVQ ho+72(FP), R11
	MOVQ wo+80(FP), R9
	MOVQ zero_base+88(FP), R10
	ZBCAST9
	ZIDX
	XORQ BX, BX

zxrow:
	CMPQ  BX, R8
	JGE   zxdone
	MOVQ  BX, AX
	SHRQ  $1, AX          // i
	MOVQ  AX, DX
	IMULQ R9, AX
	LEAQ  (SI)(AX*4), AX  // dy row i
	XORQ  CX, CX
	TESTQ $1, BX
	JNZ   zxodd

zxeven:
	LEAQ 16(CX), R13
	CMPQ R13, R9
	JGE  zxevenlast
	VMOVUPS (AX)(CX*4), Z9
	VMOVUPS 4(AX)(CX*4), Z10
	ZEVENEO
	ZIL
	VMOVUPS Z11, (DI)(CX*8)
	VMOVUPS Z12, 64(DI)(CX*8)
	ADDQ    $16, CX
	JMP     zxeven

zxevenlast:
	CMPQ CX, R9
	JGE  zxnext
	ZDYMASKS
	VMOVUPS.Z (AX)(CX*4), K1, Z9
	VMOVUPS.Z 4(AX)(CX*4), K2, Z10
	ZEVENEO
	ZIL
	ZSTOREMASKED
	JMP zxnext

zxodd:
	INCQ DX               // i+1
	CMPQ DX, R11
	MOVQ R10, DX
	JGE  zxoddblock
	MOVQ R9, DX
	LEAQ (AX)(DX*4), DX   // dy row i+1

zxoddblock:
	LEAQ 16(CX), R13
	CMPQ R13, R9
	JGE  zxoddlast
	VMOVUPS (AX)(CX*4), Z9
	VMOVUPS 4(AX)(CX*4), Z10
	VMOVUPS (DX)(CX*4), Z11
	VMOVUPS 4(DX)(CX*4), Z12
	ZODDEO
	ZIL
	VMOVUPS Z11, (DI)(CX*8)
	VMOVUPS Z12, 64(DI)(CX*8)
	ADDQ    $16, CX
	JMP     zxoddblock

zxoddlast:
	CMPQ CX, R9
	JGE  zxnext
	ZDYMASKS
	VMOVUPS.Z (AX)(CX*4), K1, Z9
	VMOVUPS.Z (DX)(CX*4), K1, Z11
	VMOVUPS.Z 4(AX)(CX*4), K2, Z10
	VMOVUPS.Z 4(DX)(CX*4), K2, Z12
	ZODDEO
	ZIL
	ZSTOREMASKED

zxnext:
	LEAQ (DI)(R12*4), DI
	INCQ BX
	JMP  zxrow

zxdone:
	VZEROUPPER
	RET

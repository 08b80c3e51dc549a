// Shared by the depthwise AVX2 and AVX-512 kernels (#include "depthwise_amd64.h").

// HSUMADD adds the sum of Y's eight lanes (X is Y's low half) to the
// float32 at off(AX); it clobbers X9.
#define HSUMADD(Y, X, off) \
	VEXTRACTF128 $1, Y, X9; \
	VADDPS       X9, X, X; \
	VHADDPS      X, X, X; \
	VHADDPS      X, X, X; \
	VADDSS       off(AX), X, X; \
	VMOVSS       X, off(AX)

// REDUCE9 adds the lane sums of Y0 … Y8 to the nine float32s at AX (the
// kernel-gradient accumulators of a 3×3 tap).
#define REDUCE9 \
	HSUMADD(Y0, X0, 0); \
	HSUMADD(Y1, X1, 4); \
	HSUMADD(Y2, X2, 8); \
	HSUMADD(Y3, X3, 12); \
	HSUMADD(Y4, X4, 16); \
	HSUMADD(Y5, X5, 20); \
	HSUMADD(Y6, X6, 24); \
	HSUMADD(Y7, X7, 28); \
	HSUMADD(Y8, X8, 32)

// ZERO9 clears Y0 … Y8.
#define ZERO9 \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y1, Y1, Y1; \
	VXORPS Y2, Y2, Y2; \
	VXORPS Y3, Y3, Y3; \
	VXORPS Y4, Y4, Y4; \
	VXORPS Y5, Y5, Y5; \
	VXORPS Y6, Y6, Y6; \
	VXORPS Y7, Y7, Y7; \
	VXORPS Y8, Y8, Y8

// BCAST9 broadcasts the nine float32s at AX into Y0 … Y8 (a 3×3 kernel).
#define BCAST9 \
	VBROADCASTSS 0(AX), Y0; \
	VBROADCASTSS 4(AX), Y1; \
	VBROADCASTSS 8(AX), Y2; \
	VBROADCASTSS 12(AX), Y3; \
	VBROADCASTSS 16(AX), Y4; \
	VBROADCASTSS 20(AX), Y5; \
	VBROADCASTSS 24(AX), Y6; \
	VBROADCASTSS 28(AX), Y7; \
	VBROADCASTSS 32(AX), Y8

// LANES16 defines the file's lanes16<>: sixteen −1 then sixteen 0, so the
// 32 bytes at lanes16<>+4·(16−r) mask r leading lanes (0 ≤ r ≤ 8), and the
// 64 bytes there mask r leading lanes of a register pair (0 ≤ r ≤ 16).
#define LANES16 \
	DATA lanes16<>+0(SB)/8, $-1; \
	DATA lanes16<>+8(SB)/8, $-1; \
	DATA lanes16<>+16(SB)/8, $-1; \
	DATA lanes16<>+24(SB)/8, $-1; \
	DATA lanes16<>+32(SB)/8, $-1; \
	DATA lanes16<>+40(SB)/8, $-1; \
	DATA lanes16<>+48(SB)/8, $-1; \
	DATA lanes16<>+56(SB)/8, $-1; \
	DATA lanes16<>+64(SB)/8, $0; \
	DATA lanes16<>+72(SB)/8, $0; \
	DATA lanes16<>+80(SB)/8, $0; \
	DATA lanes16<>+88(SB)/8, $0; \
	DATA lanes16<>+96(SB)/8, $0; \
	DATA lanes16<>+104(SB)/8, $0; \
	DATA lanes16<>+112(SB)/8, $0; \
	DATA lanes16<>+120(SB)/8, $0; \
	GLOBL lanes16<>(SB), RODATA|NOPTR, $128

// ZHSUMADD adds the sum of Z's sixteen lanes (Y, X its low halves) to the
// float32 at off(AX); it clobbers Y9 and X9.
#define ZHSUMADD(Z, Y, X, off) \
	VEXTRACTF64X4 $1, Z, Y9; \
	VADDPS        Y9, Y, Y; \
	HSUMADD(Y, X, off)

// ZREDUCE9 is REDUCE9 for Z0 … Z8.
#define ZREDUCE9 \
	ZHSUMADD(Z0, Y0, X0, 0); \
	ZHSUMADD(Z1, Y1, X1, 4); \
	ZHSUMADD(Z2, Y2, X2, 8); \
	ZHSUMADD(Z3, Y3, X3, 12); \
	ZHSUMADD(Z4, Y4, X4, 16); \
	ZHSUMADD(Z5, Y5, X5, 20); \
	ZHSUMADD(Z6, Y6, X6, 24); \
	ZHSUMADD(Z7, Y7, X7, 28); \
	ZHSUMADD(Z8, Y8, X8, 32)

// ZZERO9 clears Z0 … Z8.
#define ZZERO9 \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z1, Z1, Z1; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; \
	VPXORD Z5, Z5, Z5; \
	VPXORD Z6, Z6, Z6; \
	VPXORD Z7, Z7, Z7; \
	VPXORD Z8, Z8, Z8

// ZBCAST9 is BCAST9 into Z0 … Z8.
#define ZBCAST9 \
	VBROADCASTSS 0(AX), Z0; \
	VBROADCASTSS 4(AX), Z1; \
	VBROADCASTSS 8(AX), Z2; \
	VBROADCASTSS 12(AX), Z3; \
	VBROADCASTSS 16(AX), Z4; \
	VBROADCASTSS 20(AX), Z5; \
	VBROADCASTSS 24(AX), Z6; \
	VBROADCASTSS 28(AX), Z7; \
	VBROADCASTSS 32(AX), Z8

// KLANES sets K to the mask of the low R lanes (0 ≤ R ≤ 16, R in CX); it
// clobbers DX.
#define KLANES(K) \
	MOVL  $1, DX; \
	SHLL  CX, DX; \
	DECL  DX; \
	KMOVW DX, K

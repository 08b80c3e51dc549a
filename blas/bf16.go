package blas

import (
	"math"
	"runtime"
)

// bf16 products: mixed precision as PyTorch's autocast and Keras's
// mixed_bfloat16 run them. The inputs of a product are rounded to bfloat16
// (8 bits of mantissa, float32's exponent) to nearest even, products and
// sums are float32, and so is the result. A bf16 product is exact in
// float32 (8 × 8 bits of mantissa), so the only new error is the rounding
// of the inputs: each by at most 2⁻⁹ relative.

// RoundBF16 returns x rounded to the nearest bfloat16 (ties to even), as a
// float32; NaN stays NaN and ±Inf stays infinite; values beyond bf16's
// largest finite value round to ±Inf, as in hardware.
func RoundBF16(x float32) float32 { return math.Float32frombits(uint32(toBF16(x)) << 16) }

// RoundBF16Slice rounds every element of x to bfloat16 in place (as
// RoundBF16).
func RoundBF16Slice(x []float32) {
	for i, v := range x {
		x[i] = RoundBF16(v)
	}
}

// toBF16 is x's bfloat16 bits.
func toBF16(x float32) uint16 {
	b := math.Float32bits(x)
	if x != x {
		return uint16(b>>16) | 0x40 // quiet NaN, sign kept
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// HaveBF16 reports whether the active kernel tier runs bf16 products in
// hardware: AMX tiles (avx512-amx) or VDPBF16PS (avx512-bf16). Elsewhere
// GemmBF16 emulates them (rounded copies through the float32 GEMM): right,
// and slower than float32.
func HaveBF16() bool { return bf16Kernel != nil }

// GemmBF16 is Gemm in mixed precision: C = alpha·op(A)·op(B) + beta·C with
// op(A) and op(B) rounded to bfloat16 and float32 sums (see RoundBF16).
// Large products are split over the cores, as by Gemm.
func GemmBF16(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	workers := runtime.GOMAXPROCS(0)
	if workers == 1 || 2*m*n*k < 1<<22 {
		GemmBF16x1(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// Parts of C on multiples of 32 columns or rows (the kernels' blocks).
	split(workers, 32, tA, tB, m, n, a, lda, b, ldb, c, ldc, func(m, n int, a, b, c []float32) {
		GemmBF16x1(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	})
}

// GemmBF16x1 is GemmBF16 on the calling goroutine only.
func GemmBF16x1(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleRows(c, m, n, ldc, beta)
		return
	}
	if HaveBF16() {
		bf16Kernel(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gemmBF16Emulated(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmBF16Emulated rounds copies of op(A) and op(B) to bf16 and multiplies
// them with the float32 GEMM: the same products (exact in float32), summed
// in another order.
func gemmBF16Emulated(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ra := roundOp(nil, tA, m, k, a, lda)
	rb := roundOp(nil, tB, k, n, b, ldb)
	Gemm1(false, false, m, n, k, alpha, ra, max(k, 1), rb, max(n, 1), beta, c, ldc)
}

// roundOp returns op(X) (rows×cols; X itself, or Xᵀ when t) rounded to
// bf16, row-major, in dst's memory when it has room.
func roundOp(dst []float32, t bool, rows, cols int, x []float32, ld int) []float32 {
	if cap(dst) < rows*cols {
		dst = make([]float32, rows*cols)
	}
	dst = dst[:rows*cols]
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			if t {
				dst[i*cols+j] = RoundBF16(x[j*ld+i])
			} else {
				dst[i*cols+j] = RoundBF16(x[i*ld+j])
			}
		}
	}
	return dst
}

// PackedBF16 is op(A) rounded to bf16 and laid out for GemmPackedBF16, so
// that a left operand used by many products (a convolution's weights, for
// every sample) is rounded and packed once.
type PackedBF16 struct {
	m, k   int
	packed []uint16  // 32-row bf16 panels (the bf16 tiers)
	r32    []float32 // op(A) rounded, m×k (other tiers: the emulation)
}

// PackBF16 packs op(A) (m×k) into p (reusing its memory; nil: a new one)
// and returns it.
func PackBF16(p *PackedBF16, tA bool, m, k int, a []float32, lda int) *PackedBF16 {
	if p == nil {
		p = new(PackedBF16)
	}
	p.m, p.k = m, k
	if HaveBF16() && k > 0 {
		p.packed = packedA16(p.packed, tA, m, k, a, lda)
		return p
	}
	p.r32 = roundOp(p.r32, tA, m, k, a, lda)
	return p
}

// GemmPackedBF16 is GemmBF16x1 with alpha 1 and op(A) from p: C = op(A)·op(B)
// + beta·C, C m×n.
func GemmPackedBF16(p *PackedBF16, tB bool, n int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	m, k := p.m, p.k
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scaleRows(c, m, n, ldc, beta)
		return
	}
	if HaveBF16() {
		productPackedA16(p.packed, m, k, tB, n, b, ldb, beta, c, ldc)
		return
	}
	rb := roundOp(nil, tB, k, n, b, ldb)
	Gemm1(false, false, m, n, k, 1, p.r32, k, rb, n, beta, c, ldc)
}

// GemmNTBatchBF16 is GemmNTBatch in bf16 products with float32 sums, alpha
// 1 and beta 0: C (m×n, rows ldc apart) = Σ_(s<ns) A_s·B_sᵀ for A_s =
// a[s·sa:] (m×k, rows lda apart) and B_s = b[s·sb:] (n×k, rows ldb apart),
// on up to GOMAXPROCS goroutines. It is the product of [A_0 … A_ns−1] and
// [B_0 … B_ns−1]ᵀ, depth ns·k in that order, read in place: a
// convolution's weight gradient over a batch of small maps (k positions a
// sample) runs as one product of depth ns·k without first copying the
// batch into those two matrices.
func GemmNTBatchBF16(m, n, k, ns int, a []float32, lda, sa int, b []float32, ldb, sb int, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || ns == 0 {
		scaleRows(c, m, n, ldc, 0)
		return
	}
	if HaveBF16() {
		gemmNTBatchBF16(m, n, k, ns, a, lda, sa, b, ldb, sb, c, ldc)
		return
	}
	ga, gb := make([]float32, m*ns*k), make([]float32, n*ns*k)
	gatherRows(ga, m, k, ns, a, lda, sa)
	gatherRows(gb, n, k, ns, b, ldb, sb)
	GemmBF16(false, true, m, n, ns*k, 1, ga, ns*k, gb, ns*k, 0, c, ldc)
}

// gatherRows writes [X_0 … X_ns−1] (rows×ns·k) into dst, X_s = x[s·sx:]
// (rows×k, rows ld apart).
func gatherRows(dst []float32, rows, k, ns int, x []float32, ld, sx int) {
	for i := 0; i < rows; i++ {
		gatherRow(dst[i*ns*k:(i+1)*ns*k], i, k, ns, x, ld, sx)
	}
}

// gatherRow writes row i of [X_0 … X_ns−1] into dst (ns·k values).
func gatherRow(dst []float32, i, k, ns int, x []float32, ld, sx int) {
	for s := 0; s < ns; s++ {
		d, src := dst[s*k:][:k], x[s*sx+i*ld:][:k]
		for q := range d { // a loop: copy's call costs more than a map's 4 values
			d[q] = src[q]
		}
	}
}

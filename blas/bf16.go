package blas

import (
	"math"
	"runtime"

	"github.com/gomobilenet/mobilenet/internal/cpu"
	"github.com/gomobilenet/mobilenet/internal/parallel"
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
func HaveBF16() bool { return cpu.Active().BF16() && bf16Kernel != nil }

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
	// Split C's columns in multiples of 32 (the kernels' panels), or its
	// rows when it is tall.
	if n >= m {
		parallel.Chunks(workers, 1, func(_, w, _ int) {
			j0, j1 := split32(n, w, workers), split32(n, w+1, workers)
			if j0 == j1 {
				return
			}
			bs := b[j0:]
			if tB {
				bs = b[j0*ldb:]
			}
			GemmBF16x1(tA, tB, m, j1-j0, k, alpha, a, lda, bs, ldb, beta, c[j0:], ldc)
		})
		return
	}
	parallel.Chunks(workers, 1, func(_, w, _ int) {
		i0, i1 := split32(m, w, workers), split32(m, w+1, workers)
		if i0 == i1 {
			return
		}
		as := a[i0*lda:]
		if tA {
			as = a[i0:]
		}
		GemmBF16x1(tA, tB, i1-i0, n, k, alpha, as, lda, b, ldb, beta, c[i0*ldc:], ldc)
	})
}

// split32 is the start of part w of n split in parts, on a multiple of 32.
func split32(n, w, parts int) int {
	if w >= parts {
		return n
	}
	return min(n, (n/32*w/parts)*32)
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
	ra, rb := make([]float32, m*k), make([]float32, k*n)
	for i := 0; i < m; i++ {
		for p := 0; p < k; p++ {
			if tA {
				ra[i*k+p] = RoundBF16(a[p*lda+i])
			} else {
				ra[i*k+p] = RoundBF16(a[i*lda+p])
			}
		}
	}
	for p := 0; p < k; p++ {
		for j := 0; j < n; j++ {
			if tB {
				rb[p*n+j] = RoundBF16(b[j*ldb+p])
			} else {
				rb[p*n+j] = RoundBF16(b[p*ldb+j])
			}
		}
	}
	Gemm1(false, false, m, n, k, alpha, ra, max(k, 1), rb, max(n, 1), beta, c, ldc)
}

// PackedBF16 is op(A) rounded to bf16 and laid out for GemmPackedBF16, so
// that a left operand used by many products (a convolution's weights, for
// every sample) is rounded and packed once.
type PackedBF16 struct {
	m, k int
	amx  []uint16  // AMX panels (the avx512-amx tier)
	r32  []float32 // op(A) rounded, m×k (other tiers: the emulation)
}

// PackBF16 packs op(A) (m×k) into p (reusing its memory; nil: a new one)
// and returns it.
func PackBF16(p *PackedBF16, tA bool, m, k int, a []float32, lda int) *PackedBF16 {
	if p == nil {
		p = new(PackedBF16)
	}
	p.m, p.k = m, k
	if HaveBF16() && k > 0 {
		p.amx = packedA16(p.amx, tA, m, k, a, lda)
		return p
	}
	if cap(p.r32) < m*k {
		p.r32 = make([]float32, m*k)
	}
	p.r32 = p.r32[:m*k]
	for i := 0; i < m; i++ {
		for q := 0; q < k; q++ {
			if tA {
				p.r32[i*k+q] = RoundBF16(a[q*lda+i])
			} else {
				p.r32[i*k+q] = RoundBF16(a[i*lda+q])
			}
		}
	}
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
		productPackedA16(p.amx, m, k, tB, n, b, ldb, beta, c, ldc)
		return
	}
	rb := make([]float32, k*n)
	for q := 0; q < k; q++ {
		for j := 0; j < n; j++ {
			if tB {
				rb[q*n+j] = RoundBF16(b[j*ldb+q])
			} else {
				rb[q*n+j] = RoundBF16(b[q*ldb+j])
			}
		}
	}
	Gemm1(false, false, m, n, k, 1, p.r32, k, rb, n, beta, c, ldc)
}

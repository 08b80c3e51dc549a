package blas

import "math"

// Tolerances of float32 GEMMs against the float64 definition on the same
// (float32) inputs.
//
// Each element of C is alpha·Σₚ aᵢₚbₚⱼ + beta·cᵢⱼ computed in float32 with
// FMAs: every step rounds a partial sum with a relative error of at most
// u = 2⁻²⁴. Over a depth of k the error is at most γ(k+2)·S with
// γ(n) = n·u/(1−n·u) and S = |alpha|·Σ|aᵢₚbₚⱼ| + |beta·cᵢⱼ| (Higham,
// Accuracy and Stability of Numerical Algorithms, §3.1) — a bound that
// grows with k. The roundings of a sum of random-sign terms are
// independent with mean zero, so the error is of the order of √(k+2)·u·S;
// Higham and Mary (SIAM J. Sci. Comput. 41(5), 2019) bound it by
// λ·√(k+2)·u·S with probability at least 1 − 2·exp(−λ²/2) per element.
// The tests use λ = 8: per element a false failure has probability below
// 3e-14, and the data are fixed (seeded), so a test that passes once
// passes always. Measured on these tests: at most 1.6·√(k+2)·u·S. A GEMM
// that loses precision — bf16 inputs (u = 2⁻⁹), a float16 or a Kahan-less
// long accumulation at the wrong place — or that drops a term exceeds it
// (TestTolerancesCatchBreaks).
const lambda = 8

// u32 is float32's unit roundoff.
var u32 = math.Ldexp(1, -24)

// sumScale returns S for each element of C: |alpha|·|op(A)|·|op(B)| +
// |beta|·|C|, computed by the float64 definition on absolute values.
func sumScale(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) []float64 {
	abs := func(v []float64) []float64 {
		o := make([]float64, len(v))
		for i, x := range v {
			o[i] = math.Abs(x)
		}
		return o
	}
	s := abs(c)
	naiveGemm(tA, tB, m, n, k, math.Abs(alpha), abs(a), lda, abs(b), ldb, math.Abs(beta), s, ldc)
	return s
}

// tol32 is the tolerance of an element whose sum has depth k and scale s.
func tol32(k int, s float64) float64 {
	return lambda*math.Sqrt(float64(k+2))*u32*s + math.SmallestNonzeroFloat32
}

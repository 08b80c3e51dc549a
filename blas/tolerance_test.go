package blas

import (
	"math"
	"math/rand/v2"
	"testing"
)

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
// passes always. Measured: at most 0.62·√(k+2)·u·S under every backend and
// tier (TestTolerancesCatchBreaks logs it; Intel Xeon 6/167). A GEMM that
// loses precision — bf16 inputs (u = 2⁻⁹) — or drops a product exceeds it
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

// TestTolerancesCatchBreaks: the tolerance above is tight enough to fail
// the GEMMs a regression would give — inputs rounded to bf16 (what a
// mixed-precision path must not do where float32 is asked for), and one
// product of the depth dropped — and loose enough for the real one, by a
// margin this test prints (the largest error seen, in units of √(k+2)·u·S).
func TestTolerancesCatchBreaks(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	bf16 := func(v []float32) []float32 {
		o := make([]float32, len(v))
		for i, x := range v {
			b := math.Float32bits(x)
			b += 0x7fff + (b>>16)&1 // round to nearest even
			o[i] = math.Float32frombits(b &^ 0xffff)
		}
		return o
	}
	worst := 0.0
	for _, s := range [][3]int{{7, 17, 9}, {13, 33, 64}, {97, 40, 257}, {24, 48, 1024}} {
		m, n, k := s[0], s[1], s[2]
		rnd := func(l int) []float64 {
			v := make([]float64, l)
			for i := range v {
				v[i] = rng.NormFloat64()
			}
			return v
		}
		a, b, c := rnd(m*k), rnd(k*n), rnd(m*n)
		want := f64(to32(c))
		naiveGemm(false, false, m, n, k, 1, f64(to32(a)), k, f64(to32(b)), n, 0.5, want, n)
		scale := sumScale(false, false, m, n, k, 1, a, k, b, n, 0.5, c, n)
		exceeds := func(got []float32) bool {
			for i := range got {
				if math.Abs(float64(got[i])-want[i]) > tol32(k, scale[i]) {
					return true
				}
			}
			return false
		}
		good := to32(c)
		Gemm(false, false, m, n, k, float32(1), to32(a), k, to32(b), n, float32(0.5), good, n)
		for i := range good {
			worst = math.Max(worst, math.Abs(float64(good[i])-want[i])/(math.Sqrt(float64(k+2))*u32*scale[i]))
		}
		if exceeds(good) {
			t.Errorf("%v: the %s GEMM exceeds the tolerance", s, Name())
		}
		rounded := to32(c)
		Gemm(false, false, m, n, k, float32(1), bf16(to32(a)), k, bf16(to32(b)), n, float32(0.5), rounded, n)
		if !exceeds(rounded) {
			t.Errorf("%v: a GEMM on bf16-rounded inputs passes the tolerance", s)
		}
		dropped := to32(c)
		Gemm(false, false, m, n, k-1, float32(1), to32(a), k, to32(b), n, float32(0.5), dropped, n) // the last product of each sum left out
		if !exceeds(dropped) {
			t.Errorf("%v: a GEMM that drops a product passes the tolerance", s)
		}
	}
	t.Logf("largest error of the %s GEMM: %.2f·√(k+2)·u·S (tolerance %d)", Name(), worst, lambda)
}

package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestGemmThreadSweep: Gemm splits products above 2²¹ flops over the cores
// (C's columns when n ≥ m, its rows otherwise). Under each backend, at 1,
// 2, 3, 7 and 64 threads, every transpose, and alpha and beta ≠ 0 (a part
// applied twice or missed shows), the project's float32 GEMM gives the
// same bits: each element of C is one part's dot product with its depth
// summed in the same order whatever the split (every tile runs the k loop
// in order). The others promise no such thing: OpenBLAS's kernels for a
// part's edge columns sum in another order (seen: 1 ulp at 7 threads), and
// gonum's float64 splits products itself. They are held to the rigorous
// bound of two orders of one sum, |Δ| ≤ 2·γ(k)·|alpha|·Σ|aᵢbᵢ| with
// γ(k) = k·u/(1−k·u), u = 2⁻²⁴ or 2⁻⁵³ (Higham, Accuracy and Stability of
// Numerical Algorithms, §3.1).
func TestGemmThreadSweep(t *testing.T) {
	defer Use(Backend())
	rng := rand.New(rand.NewPCG(9, 10))
	shapes := [][3]int{{96, 1031, 33}, {517, 60, 70}, {64, 4096, 16}, {2053, 9, 64}, {130, 130, 65}}
	for _, be := range backends(t) {
		if _, err := Use(be); err != nil {
			t.Fatal(err)
		}
		_, ownGEMM := get().(goAsm) // the project's float32 GEMM (not gonum's, as with -tags purego)
		for _, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			if 2*m*n*k < 1<<21 {
				t.Fatalf("%v: below the split threshold", s)
			}
			for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				tA, tB := tr[0], tr[1]
				lda, ldb, ldc := k+1, n+2, n+3
				if tA {
					lda = m + 1
				}
				if tB {
					ldb = k + 2
				}
				rnd := func(r, ld int) []float64 { return randNormal(rng, r, ld) }
				a, b, c := rnd(max(m, k), lda), rnd(max(k, n), ldb), rnd(m, ldc)
				absAB := make([]float64, len(c))
				abs := func(v []float64) []float64 {
					o := make([]float64, len(v))
					for i, x := range v {
						o[i] = math.Abs(x)
					}
					return o
				}
				naiveGemm(tA, tB, m, n, k, 1, abs(a), lda, abs(b), ldb, 0, absAB, ldc)
				gamma := func(bits int) float64 {
					u := math.Ldexp(1, -bits)
					return float64(k) * u / (1 - float64(k)*u)
				}
				var ref32 []float32
				var ref64 []float64
				for _, procs := range []int{1, 2, 3, 7, 64} {
					prev := runtime.GOMAXPROCS(procs)
					c32, c64 := to32(c), append([]float64(nil), c...)
					Gemm(tA, tB, m, n, k, float32(0.5), to32(a), lda, to32(b), ldb, float32(-0.75), c32, ldc)
					Gemm(tA, tB, m, n, k, 0.5, a, lda, b, ldb, -0.75, c64, ldc)
					runtime.GOMAXPROCS(prev)
					if procs == 1 {
						ref32, ref64 = c32, c64
						continue
					}
					name := fmt.Sprintf("%s %v tA=%v tB=%v, %d threads", be, s, tA, tB, procs)
					for i := range c32 {
						if i%ldc >= n {
							if c32[i] != float32(c[i]) || c64[i] != c[i] {
								t.Fatalf("%s: c[%d] outside the matrix written", name, i)
							}
							continue
						}
						if d := math.Abs(float64(c32[i] - ref32[i])); ownGEMM && d != 0 || d > 2*gamma(24)*0.5*absAB[i] {
							t.Fatalf("%s: float32 c[%d] = %v, %v on one thread", name, i, c32[i], ref32[i])
						}
						if math.Abs(c64[i]-ref64[i]) > 2*gamma(53)*0.5*absAB[i] {
							t.Fatalf("%s: float64 c[%d] = %v, %v on one thread", name, i, c64[i], ref64[i])
						}
					}
				}
			}
		}
	}
}

package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemmNTBatch holds GemmNTBatch to the float64 definition under every
// backend, in float32 and float64: segments from none to many (the kernel's
// blocks of segments and of depth split them), depths around the 16-float
// vectors and above one block, edge rows and columns around the 6×4 tile,
// strides above the minimum, alpha and beta including 0 and 1.
func TestGemmNTBatch(t *testing.T) {
	defer Use(Backend())
	rng := rand.New(rand.NewPCG(7, 8))
	cases := []struct{ m, n, k, ns int }{
		{1, 1, 1, 1}, {6, 4, 16, 2}, {7, 5, 17, 3}, {48, 24, 1024, 3}, {24, 27, 1024, 2}, {96, 48, 256, 5},
		{30, 20, 64, 9}, {60, 52, 32, 3}, {13, 11, 16, 40}, {12, 8, 4, 130}, {5, 3, 600, 2}, {6, 4, 9, 0}, {1, 9, 1100, 1},
	}
	for _, be := range backends(t) {
		if _, err := Use(be); err != nil {
			t.Fatal(err)
		}
		for _, tc := range cases {
			for _, ab := range [][2]float64{{1, 0}, {0.5, 1}, {-1.5, 0.25}} {
				lda, ldb, ldc := tc.k+1, tc.k+3, tc.n+2
				sa, sb := tc.m*lda+5, tc.n*ldb+2
				vec := func(n int) []float64 {
					v := make([]float64, n)
					for i := range v {
						v[i] = rng.NormFloat64()
					}
					return v
				}
				a, b, c := vec(max(tc.ns, 1)*sa), vec(max(tc.ns, 1)*sb), vec(tc.m*ldc)
				a, b = f64(to32(a)), f64(to32(b))
				want := append([]float64(nil), c...)
				for i := 0; i < tc.m; i++ {
					for j := 0; j < tc.n; j++ {
						var s float64
						for q := 0; q < tc.ns; q++ {
							for p := 0; p < tc.k; p++ {
								s += a[q*sa+i*lda+p] * b[q*sb+j*ldb+p]
							}
						}
						want[i*ldc+j] = ab[0]*s + ab[1]*c[i*ldc+j]
					}
				}
				name := fmt.Sprintf("%s %+v alpha,beta=%v", be, tc, ab)
				got64 := append([]float64(nil), c...)
				GemmNTBatch(tc.m, tc.n, tc.k, tc.ns, ab[0], a, lda, sa, b, ldb, sb, ab[1], got64, ldc)
				got32 := to32(c)
				GemmNTBatch(tc.m, tc.n, tc.k, tc.ns, float32(ab[0]), to32(a), lda, sa, to32(b), ldb, sb, float32(ab[1]), got32, ldc)
				depth := float64(tc.k*tc.ns + 1)
				// S of each element: the definition on absolute values.
				scale := make([]float64, len(c))
				for i := 0; i < tc.m; i++ {
					for j := 0; j < tc.n; j++ {
						var s float64
						for q := 0; q < tc.ns; q++ {
							for p := 0; p < tc.k; p++ {
								s += math.Abs(a[q*sa+i*lda+p] * b[q*sb+j*ldb+p])
							}
						}
						scale[i*ldc+j] = math.Abs(ab[0])*s + math.Abs(ab[1]*c[i*ldc+j])
					}
				}
				for i := range want {
					if i%ldc >= tc.n {
						if got32[i] != float32(c[i]) || got64[i] != c[i] {
							t.Fatalf("%s: wrote c[%d] outside the matrix", name, i)
						}
						continue
					}
					if d := math.Abs(got64[i] - want[i]); d > 1e-10*depth*(1+math.Abs(want[i])) {
						t.Fatalf("%s float64: c[%d]=%v want %v", name, i, got64[i], want[i])
					}
					if d := math.Abs(float64(got32[i]) - want[i]); d > tol32(tc.k*tc.ns, scale[i]) {
						t.Fatalf("%s float32: c[%d]=%v want %v", name, i, got32[i], want[i])
					}
				}
			}
		}
	}
}

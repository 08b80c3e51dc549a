//go:build amd64 && !purego

package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomobilenet/mobilenet/internal/testenv"
)

// TestSgemmNT holds the dot-product GEMM to the float64 definition: sizes
// around its 6×4 tile and 16-float vectors (edge rows and columns, depth
// tails of every length mod 16, a depth over one block of ntKC), leading
// dimensions above the minimum, alpha and beta including 0 and 1; elements
// outside C stay untouched.
func TestSgemmNT(t *testing.T) {
	testenv.Need(t, "avx512", haveAVX512, "no AVX-512 tier on this CPU (or MOBILENET_KERNELS below it)")
	rng := rand.New(rand.NewPCG(5, 6))
	shapes := [][3]int{{1, 1, 1}, {6, 4, 16}, {6, 4, 17}, {5, 3, 15}, {7, 5, 33}, {12, 8, 64}, {13, 9, 100},
		{48, 24, 1024}, {24, 27, 1024}, {1, 7, 2500}, {17, 1, 1031}, {96, 48, 256}, {6, 4, 0}}
	for k := 1; k <= 16; k++ {
		shapes = append(shapes, [3]int{7, 6, 16 + k})
	}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		for _, ab := range [][2]float32{{1, 0}, {0.5, 1}, {-1.5, 0.25}, {0, 2}} {
			lda, ldb, ldc := k+3, k+5, n+2
			rows := func(r, ld int) []float64 { return randNormal(rng, r, ld) }
			a, b, c := rows(m, lda), rows(n, ldb), rows(m, ldc)
			want := f64(to32(c))
			naiveGemm(false, true, m, n, k, float64(ab[0]), f64(to32(a)), lda, f64(to32(b)), ldb, float64(ab[1]), want, ldc)
			scale := sumScale(false, true, m, n, k, float64(ab[0]), a, lda, b, ldb, float64(ab[1]), c, ldc)
			got := to32(c)
			sgemmNT(m, n, k, ab[0], to32(a), lda, to32(b), ldb, ab[1], got, ldc)
			for i := range want {
				if i%ldc >= n {
					if got[i] != float32(c[i]) {
						t.Fatalf("%v: wrote c[%d] outside the matrix", s, i)
					}
					continue
				}
				if d := math.Abs(float64(got[i]) - want[i]); d > tol32(k, scale[i]) {
					t.Fatalf("%v alpha,beta=%v: c[%d]=%v want %v", s, ab, i, got[i], want[i])
				}
			}
		}
	}
}

// BenchmarkNT times the weight-gradient products of MobileNet-0.75's
// pointwise convolutions (dW = Σ_n dY_n·X_nᵀ: O × C, depth H·W per sample)
// over 64 samples, one core's share of a batch of 128: per sample on the
// blocked GEMM (both operands transposed into panels, as before the
// dot-product kernel) and batched on the dot-product kernel.
func BenchmarkNT(b *testing.B) {
	if !haveAVX512 {
		b.Skip("no AVX-512 tier")
	}
	const ns = 64
	for _, s := range [][3]int{{48, 24, 1024}, {24, 27, 1024}, {96, 48, 256}, {96, 96, 256}, {192, 96, 64}, {192, 192, 64}, {384, 192, 16}, {384, 384, 16}} {
		m, n, k := s[0], s[1], s[2]
		x, y := randMatrix(ns*m*k, 1), randMatrix(ns*n*k, 2)
		c := make([]float32, m*n)
		report := func(b *testing.B) {
			b.ReportMetric(2*float64(ns*m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		}
		b.Run(fmt.Sprintf("%dx%dx%d/blocked", m, n, k), func(b *testing.B) {
			mk := kernelFor(bestKernel(), m, n)
			for b.Loop() {
				for i := 0; i < ns; i++ {
					sgemmBlocked(mk, false, true, m, n, k, 1, x[i*m*k:], k, y[i*n*k:], k, 1, c, n)
				}
			}
			report(b)
		})
		b.Run(fmt.Sprintf("%dx%dx%d/nt", m, n, k), func(b *testing.B) {
			for b.Loop() {
				sgemmNTBatch(m, n, k, ns, 1, x, k, m*k, y, k, n*k, 1, c, n)
			}
			report(b)
		})
	}
}

// BenchmarkNTParallel is BenchmarkNT with both cores busy, each on its own
// 64 samples, as in a training step.
func BenchmarkNTParallel(b *testing.B) {
	if !haveAVX512 {
		b.Skip("no AVX-512 tier")
	}
	const ns, workers = 64, 2
	for _, s := range [][3]int{{48, 24, 1024}, {24, 27, 1024}, {96, 48, 256}, {96, 96, 256}, {192, 96, 64}, {192, 192, 64}, {384, 192, 16}, {384, 384, 16}} {
		m, n, k := s[0], s[1], s[2]
		var xs, ys, cs [workers][]float32
		for w := range workers {
			xs[w], ys[w], cs[w] = randMatrix(ns*m*k, uint64(w+1)), randMatrix(ns*n*k, uint64(w+7)), make([]float32, m*n)
		}
		run := func(b *testing.B, f func(x, y, c []float32)) {
			for b.Loop() {
				done := make(chan bool)
				for w := range workers {
					go func() { f(xs[w], ys[w], cs[w]); done <- true }()
				}
				for range workers {
					<-done
				}
			}
			b.ReportMetric(2*float64(workers*ns*m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		}
		b.Run(fmt.Sprintf("%dx%dx%d/blocked", m, n, k), func(b *testing.B) {
			mk := kernelFor(bestKernel(), m, n)
			run(b, func(x, y, c []float32) {
				for i := 0; i < ns; i++ {
					sgemmBlocked(mk, false, true, m, n, k, 1, x[i*m*k:], k, y[i*n*k:], k, 1, c, n)
				}
			})
		})
		b.Run(fmt.Sprintf("%dx%dx%d/nt", m, n, k), func(b *testing.B) {
			run(b, func(x, y, c []float32) { sgemmNTBatch(m, n, k, ns, 1, x, k, m*k, y, k, n*k, 1, c, n) })
		})
	}
}

//go:build amd64 && !purego

package blas

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func randMatrix(n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 7))
	m := make([]float32, n)
	for i := range m {
		m[i] = rng.Float32()*2 - 1
	}
	return m
}

// BenchmarkSmallMaps times a pointwise convolution's forward product on
// 4×4 maps (MobileNet's 384-channel blocks at alpha 0.75, batch 128) two
// ways on one thread: batched (the batch packed to C × N·16, one GEMM,
// unpacked) and per sample (weights packed once, 128 products of 16
// columns, B and C in place) with each micro-kernel.
func BenchmarkSmallMaps(b *testing.B) {
	const n, c, o, hw = 128, 384, 384, 16
	x, w := randMatrix(n*c*hw, 1), randMatrix(o*c, 2)
	y := make([]float32, n*o*hw)
	xp, yp := make([]float32, c*n*hw), make([]float32, o*n*hw)
	flops := 2.0 * n * c * o * hw
	report := func(b *testing.B) {
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	}
	if ob, err := loadOpenBLAS(); err == nil {
		b.Run("batched/openblas "+ob.core, func(b *testing.B) {
			for b.Loop() {
				packBatch(xp, x, n, c, hw)
				ob.sgemm(false, false, o, n*hw, c, 1, w, c, xp, n*hw, 0, yp, n*hw)
				unpackBatch(y, yp, n, o, hw)
			}
			report(b)
		})
		b.Run("per-sample/openblas "+ob.core, func(b *testing.B) {
			for b.Loop() {
				for i := 0; i < n; i++ {
					ob.sgemm(false, false, o, hw, c, 1, w, c, x[i*c*hw:], hw, 0, y[i*o*hw:], hw)
				}
			}
			report(b)
		})
	}
	for _, mk := range allKernels() {
		b.Run("batched/"+mk.name, func(b *testing.B) {
			for b.Loop() {
				packBatch(xp, x, n, c, hw)
				sgemmBlocked(mk, false, false, o, n*hw, c, 1, w, c, xp, n*hw, 0, yp, n*hw)
				unpackBatch(y, yp, n, o, hw)
			}
			report(b)
		})
		b.Run(fmt.Sprintf("per-sample/%s", mk.name), func(b *testing.B) {
			p := &Packed{m: o, k: c, lda: c, a32: w}
			for b.Loop() {
				p.packWith(mk)
				for i := 0; i < n; i++ {
					sgemmPanels(mk, p, false, false, o, hw, c, 1, w, c, x[i*c*hw:], hw, 0, y[i*o*hw:], hw)
				}
			}
			report(b)
		})
	}
}

// BenchmarkSmallMapsWeight times the same convolution's weight gradient,
// dW (O × C) = Σ_n dY[n]·X[n]ᵀ: batched (both packed to rows of N·16, one
// GEMM of depth 2048) or per sample (128 products of depth 16 added up).
func BenchmarkSmallMapsWeight(b *testing.B) {
	const n, c, o, hw = 128, 384, 384, 16
	x, dy := randMatrix(n*c*hw, 1), randMatrix(n*o*hw, 2)
	dw := make([]float32, o*c)
	xp, dyp := make([]float32, c*n*hw), make([]float32, o*n*hw)
	flops := 2.0 * n * c * o * hw
	report := func(b *testing.B) {
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	}
	for _, mk := range allKernels() {
		b.Run("batched/"+mk.name, func(b *testing.B) {
			for b.Loop() {
				packBatch(xp, x, n, c, hw)
				packBatch(dyp, dy, n, o, hw)
				sgemmBlocked(mk, false, true, o, c, n*hw, 1, dyp, n*hw, xp, n*hw, 0, dw, c)
			}
			report(b)
		})
		b.Run("per-sample/"+mk.name, func(b *testing.B) {
			for b.Loop() {
				clear(dw)
				for i := 0; i < n; i++ {
					sgemmBlocked(mk, false, true, o, c, hw, 1, dy[i*o*hw:], hw, x[i*c*hw:], hw, 1, dw, c)
				}
			}
			report(b)
		})
	}
}

// packBatch copies x (n, c, hw) to c × n·hw, as package layers batches
// small maps; unpackBatch is the inverse.
func packBatch(dst, x []float32, n, c, hw int) {
	for ci := 0; ci < c; ci++ {
		for i := 0; i < n; i++ {
			copy(dst[ci*n*hw+i*hw:ci*n*hw+(i+1)*hw], x[(i*c+ci)*hw:])
		}
	}
}

func unpackBatch(dst, xp []float32, n, c, hw int) {
	for ci := 0; ci < c; ci++ {
		for i := 0; i < n; i++ {
			copy(dst[(i*c+ci)*hw:(i*c+ci+1)*hw], xp[ci*n*hw+i*hw:])
		}
	}
}

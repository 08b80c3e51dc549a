//go:build amd64 && !purego

package blas

// The micro-kernels of the pure-Go float32 GEMM (sgemm.go), by tier.
var (
	kernel6x16AVX2    = &microKernel{name: "avx2 6x16", mr: 6, nr: 16, mc: 96, nc: 2048, fn: sgemm6x16, set: sgemm6x16Set}
	kernel12x32AVX512 = &microKernel{name: "avx512 12x32", mr: 12, nr: 32, mc: 96, nc: 2048, fn: sgemm12x32AVX512, set: sgemm12x32AVX512Set}
	kernel8x32AVX512  = &microKernel{name: "avx512 8x32", mr: 8, nr: 32, mc: 96, nc: 2048, fn: sgemm8x32AVX512, set: sgemm8x32AVX512Set}
	kernel6x64AVX512  = &microKernel{name: "avx512 6x64", mr: 6, nr: 64, mc: 96, nc: 2048, fn: sgemm6x64AVX512, set: sgemm6x64AVX512Set}
	kernel14x32AVX512 = &microKernel{name: "avx512 14x32", mr: 14, nr: 32, mc: 98, nc: 2048, fn: sgemm14x32AVX512, set: sgemm14x32AVX512Set}
	kernel8x48AVX512  = &microKernel{name: "avx512 8x48", mr: 8, nr: 48, mc: 96, nc: 2016, fn: sgemm8x48AVX512, set: sgemm8x48AVX512Set}
	kernel16x16AVX512 = &microKernel{name: "avx512 16x16", mr: 16, nr: 16, mc: 96, nc: 2048, fn: sgemm16x16AVX512, set: sgemm16x16AVX512Set}
)

// allKernels lists every micro-kernel this CPU runs (for tests and
// benchmarks).
func allKernels() []*microKernel {
	var ks []*microKernel
	if haveAVX2 {
		ks = append(ks, kernel6x16AVX2)
	}
	if haveAVX512 {
		ks = append(ks, kernel12x32AVX512, kernel8x32AVX512, kernel6x64AVX512, kernel14x32AVX512, kernel8x48AVX512, kernel16x16AVX512)
	}
	return ks
}

// bestKernel is the micro-kernel of the active tier (nil: none); with
// AVX-512, kernelFor chooses between it and 12×32 by shape.
func bestKernel() *microKernel {
	switch {
	case haveAVX512:
		return kernel6x64AVX512
	case haveAVX2:
		return kernel6x16AVX2
	}
	return nil
}

// kernelFor is the micro-kernel for an m×n product (n ≤ 0: unknown, taken
// as wide): with AVX-512, 16×16 for products of at most 16 columns (a
// pointwise convolution per sample on 4×4 maps: BenchmarkSmallMaps, 101
// GFLOP/s on one Zen 4 core against 24–42 for the wider kernels, whose
// tiles are then mostly padding), otherwise whichever of 6×64, 12×32 and
// 8×48 does the least padded work, weighted by their speed on MobileNet's
// pointwise products (BenchmarkLadder: 6×64 prepacked 35.5 ms, 12×32 39.9
// ms on the Zen 5; 8×48 as fast as 6×64 at equal padding on the Xeon
// 6/167), ties to 6×64. The weight gradients' narrow products (n = 24
// input channels) take 12×32; products of 16, 32 or 128 rows (alpha 0.5
// and 1.0's channel counts, which 6 does not divide) 8×48 — at 224×224
// one image's pointwise products of 16–128 rows ran 4–17% faster on it
// (the shapes of TestKernelFor, one core); the rest mostly 6×64. Every
// kernel sums each output's products in the same order, so the choice
// changes speed, never results.
func kernelFor(def *microKernel, m, n int) *microKernel {
	if def != kernel6x64AVX512 {
		return def
	}
	if n <= 0 {
		n = 1 << 12
	}
	if n <= 16 {
		return kernel16x16AVX512
	}
	up := func(x, r int) float64 { return float64((x + r - 1) / r * r) }
	work64 := up(m, 6) * up(n, 64)
	if up(m, 12)*up(n, 32)*1.0 < work64*0.89 {
		return kernel12x32AVX512
	}
	if up(m, 8)*up(n, 48) < work64 {
		return kernel8x48AVX512
	}
	return def
}

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
)

// allKernels lists every micro-kernel this CPU runs (for tests and
// benchmarks).
func allKernels() []*microKernel {
	var ks []*microKernel
	if haveAVX2 {
		ks = append(ks, kernel6x16AVX2)
	}
	if haveAVX512 {
		ks = append(ks, kernel12x32AVX512, kernel8x32AVX512, kernel6x64AVX512, kernel14x32AVX512, kernel8x48AVX512)
	}
	return ks
}

// bestKernel is the micro-kernel of the active tier (nil: none).
func bestKernel() *microKernel {
	switch {
	case haveAVX512:
		return kernel12x32AVX512
	case haveAVX2:
		return kernel6x16AVX2
	}
	return nil
}

//go:build !amd64 || purego

package blas

import "unsafe"

// No assembly off amd64 (or with -tags purego): gonum's GEMM runs.
const (
	haveAVX2   = false
	haveAVX512 = false
)

func allKernels() []*microKernel { return nil }

func bestKernel() *microKernel { return nil }

func kernelFor(def *microKernel, m, n int) *microKernel { return def }

// transpose16 is never called without the AVX-512 tier (haveAVX512 is
// false here); it exists for the compiler.
func transpose16(dst *float32, ldd int, src *float32, lds int, n, w int) {
	transposeRows(unsafe.Slice(dst, 15*ldd+w), ldd, unsafe.Slice(src, (n-1)*lds+16), lds, 0, 16, n, w)
}

// useNT: the dot-product GEMM needs the AVX-512 kernel.
func useNT(tA, tB bool, m, n, k int) bool { return false }

func sgemmNT(m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	panic("blas: sgemmNT without AVX-512")
}

func canBatchNT(m, n int) bool { return false }

func sgemmNTBatch(m, n, k, ns int, alpha float32, a []float32, lda, sa int, b []float32, ldb, sb int, beta float32, c []float32, ldc int) {
	panic("blas: sgemmNTBatch without AVX-512")
}

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

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
	d := unsafe.Slice(dst, 15*ldd+w)
	s := unsafe.Slice(src, (n-1)*lds+16)
	for r := 0; r < 16; r++ {
		for i := 0; i < w; i++ {
			d[r*ldd+i] = 0
			if i < n {
				d[r*ldd+i] = s[i*lds+r]
			}
		}
	}
}

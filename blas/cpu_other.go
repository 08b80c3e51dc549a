//go:build !amd64 || purego

package blas

// No assembly off amd64 (or with -tags purego): gonum's GEMM runs.
const (
	haveAVX2   = false
	haveAVX512 = false
)

func allKernels() []*microKernel { return nil }

func bestKernel() *microKernel { return nil }

func kernelFor(def *microKernel, m, n int) *microKernel { return def }

//go:build !amd64 || purego

package blas

// haveAVX2 is false off amd64 (or with -tags purego): gonum's GEMM runs.
const haveAVX2 = false

func sgemm6x16(k int, a, b, c *float32, ldc int, alpha float32) { panic("no AVX2 kernel") }

//go:build !amd64 || purego

package blas

import "testing"

func checkConversionKernels(t *testing.T, vals []float32) {}

// poisonBF16Pool: no pooled packing buffers without the bf16 kernels.
func poisonBF16Pool() {}

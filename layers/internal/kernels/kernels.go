// Package kernels holds the numerical kernels of package layers: loops
// over plain slices (NCHW float32 or float64) that know nothing of
// Gorgonia — convolution as im2col + GEMM (grouped too), the depthwise
// convolution, BatchNorm with a fused activation, activations, pooling,
// bias, dropout masks and the softmax cross-entropy — with their AVX2
// assembly, the parallel helpers and the scratch buffers the ops of one
// graph share. dispatch.go says which kernel runs for which shape and CPU
// tier.
package kernels

// Float is the element type of the kernels.
type Float interface{ ~float32 | ~float64 }

// Act is an element-wise activation (layers.Activation has the same
// values).
type Act uint8

// The activations.
const (
	Linear Act = iota // identity
	ReLU              // max(x, 0)
	ReLU6             // min(max(x, 0), 6)
)

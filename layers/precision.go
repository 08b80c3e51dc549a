package layers

import (
	"fmt"
	"strings"
)

// Precision is the arithmetic of a model's matrix products (the dense and
// pointwise convolutions, the standard and grouped convolutions' im2col
// products, the dense layer; forward and both backward products).
//
// FP32 is float32 throughout. BF16 is mixed precision as PyTorch's
// autocast(bfloat16) and Keras's mixed_bfloat16 run it: each product's
// inputs are rounded to bfloat16 (8-bit mantissa, nearest even) and the
// products summed in float32, with float32 results; weights, gradients,
// optimizer state, BatchNorm and its statistics, depthwise convolutions,
// the loss and checkpoints stay float32. On CPUs with AMX or AVX512-BF16
// (blas.HaveBF16) the products run on those units; elsewhere they are
// emulated (correct, and slower than FP32). float64 Stores ignore it.
type Precision int

// The precisions.
const (
	FP32 Precision = iota
	BF16
)

// String is the precision's flag spelling: fp32 or bf16.
func (p Precision) String() string {
	if p == BF16 {
		return "bf16"
	}
	return "fp32"
}

// ParsePrecision reads fp32 or bf16.
func ParsePrecision(s string) (Precision, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "fp32", "float32":
		return FP32, nil
	case "bf16", "bfloat16":
		return BF16, nil
	}
	return FP32, fmt.Errorf("precision %q: want fp32 or bf16", s)
}

// SetPrecision sets the precision of the matrix products of every graph
// built over the Store, from their next run on.
func (s *Store) SetPrecision(p Precision) { s.bf16.Store(p == BF16) }

// Precision is the Store's precision (FP32 unless SetPrecision said
// otherwise).
func (s *Store) Precision() Precision {
	if s.bf16.Load() {
		return BF16
	}
	return FP32
}

package model

import (
	"fmt"
	"math"
)

// MaxResolution bounds Config.Resolution: 8 times ImageNet's 224 and more
// than any MobileNet was trained at. MemoryEstimate says whether a size
// below it fits a given machine.
const MaxResolution = 2048

// MaxClasses bounds Config.Classes (ImageNet-21k has 21,841).
const MaxClasses = 1 << 20

// Copies of the activations a graph holds at its peak, measured with
// cmd/bench (peak RSS at alpha 0.25 and 0.75, CIFAR-10, float32): a training
// step keeps every op's output and its gradient (2.2 copies, rounded up for
// the optimizer's and the runtime's share), inference every op's output
// (1.05).
const (
	trainCopies = 2.6
	inferCopies = 1.25
	baseBytes   = 64 << 20 // the Go runtime, the program and its data structures
)

// MemoryEstimate is the memory, in bytes, that one graph of the model needs
// for the given batch size, training (forward and backward) or inference:
// its activations (the outputs of every layer in the summary), plus the
// parameters with their gradients and momentum, plus a fixed base. It is a
// deliberately high estimate (25–40% above the peak RSS measured on
// CIFAR-10 networks, model/memory_test.go), for refusing what cannot fit
// before allocating it.
func (c Config) MemoryEstimate(batch int, training bool) (int64, error) {
	rows, err := c.Summary()
	if err != nil {
		return 0, err
	}
	if batch <= 0 {
		return 0, fmt.Errorf("batch size %d: must be positive", batch)
	}
	elem := 4.0                                     // float32
	act := float64(3 * c.Resolution * c.Resolution) // the input
	for _, r := range rows {
		act += float64(r.Output[0]) * float64(r.Output[1]) * float64(r.Output[2])
	}
	params, _ := Totals(rows)
	copies, pcopies := inferCopies, 1.0
	if training {
		copies, pcopies = trainCopies, 3 // weights, gradients, momentum
	}
	b := copies*act*float64(batch)*elem + pcopies*float64(params)*elem + baseBytes
	if b > math.MaxInt64/2 {
		return math.MaxInt64 / 2, nil
	}
	return int64(b), nil
}

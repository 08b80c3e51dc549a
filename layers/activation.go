package layers

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Activation is an element-wise non-linearity, applied by the Activate layer
// or fused into BatchNorm.
type Activation int

const (
	Linear Activation = iota // identity
	ReLU                     // max(x, 0)
	ReLU6                    // min(max(x, 0), 6)
)

// String names the activation.
func (a Activation) String() string {
	switch a {
	case Linear:
		return "linear"
	case ReLU:
		return "relu"
	case ReLU6:
		return "relu6"
	}
	return fmt.Sprintf("Activation(%d)", int(a))
}

func (a Activation) valid() bool { return a >= Linear && a <= ReLU6 }

// apply computes the activation of z.
func activate[T Float](a Activation, z T) T {
	switch a {
	case ReLU:
		return max(z, 0)
	case ReLU6:
		return min(max(z, 0), 6)
	}
	return z
}

// passes reports whether the gradient flows through at pre-activation z.
func passes[T Float](a Activation, z T) bool {
	switch a {
	case ReLU:
		return z > 0
	case ReLU6:
		return z > 0 && z < 6
	}
	return true
}

// Activate applies an activation to x (any shape); its gradient is taken from
// x, so no output needs to be kept.
func Activate(x *G.Node, a Activation) (*G.Node, error) {
	if !a.valid() {
		return nil, fmt.Errorf("activation: unknown %v", a)
	}
	if a == Linear {
		return x, nil
	}
	xs := x.Shape().Clone()
	d := &opSpec{name: a.String() + "Grad", params: fmt.Sprint(xs), in: []tensor.Shape{xs, xs}, out: xs, overwrite: 2,
		f32: func(o []float32, in [][]float32) { actGrad(a, o, in[0], in[1]) },
		f64: func(o []float64, in [][]float64) { actGrad(a, o, in[0], in[1]) }}
	op := &opSpec{name: a.String(), params: fmt.Sprint(xs), in: []tensor.Shape{xs}, out: xs,
		f32:     func(o []float32, in [][]float32) { actForward(a, o, in[0]) },
		f64:     func(o []float64, in [][]float64) { actForward(a, o, in[0]) },
		diffWRT: []bool{true},
		symDiff: func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
			g, err := d.apply(in[0], grad)
			return G.Nodes{g}, err
		}}
	return op.apply(x)
}

func actForward[T Float](a Activation, y, x []T) {
	parallelFor(len(x), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] = activate(a, x[i])
		}
	})
}

func actGrad[T Float](a Activation, dx, x, dy []T) {
	parallelFor(len(x), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if passes(a, x[i]) {
				dx[i] = dy[i]
			} else {
				dx[i] = 0
			}
		}
	})
}

package layers

import (
	"fmt"
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Activation is an element-wise non-linearity, applied by Activate, fused
// into BatchNorm, or as a layer of its own: an Activation is a Layer, so
// that ReLU and ReLU6 stand in a Sequential as they do in Keras and
// PyTorch.
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

// Fwd applies the activation to x (Activate).
func (a Activation) Fwd(x *G.Node) (*G.Node, error) { return Activate(x, a) }

// Learnables: an activation has none.
func (Activation) Learnables() G.Nodes { return nil }

// Activate applies an activation to x (any shape); its gradient is taken from
// x, so no output needs to be kept.
func Activate(x *G.Node, a Activation) (*G.Node, error) {
	if !a.valid() {
		return nil, fmt.Errorf("activation: unknown %v", a)
	}
	if err := checkInput("activation", x); err != nil {
		return nil, err
	}
	if a == Linear {
		return x, nil
	}
	xs := x.Shape().Clone()
	d := &opSpec{name: a.String() + "Grad", params: fmt.Sprint(xs), in: []tensor.Shape{xs, xs}, out: xs, overwrite: 2,
		f32: func(o []float32, in [][]float32) { kernels.ActGrad(kernels.Act(a), o, in[0], in[1]) },
		f64: func(o []float64, in [][]float64) { kernels.ActGrad(kernels.Act(a), o, in[0], in[1]) }}
	op := &opSpec{name: a.String(), params: fmt.Sprint(xs), in: []tensor.Shape{xs}, out: xs,
		f32:     func(o []float32, in [][]float32) { kernels.ActForward(kernels.Act(a), o, in[0]) },
		f64:     func(o []float64, in [][]float64) { kernels.ActForward(kernels.Act(a), o, in[0]) },
		diffWRT: []bool{true},
		symDiff: func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
			g, err := d.apply(in[0], grad)
			return G.Nodes{g}, err
		}}
	return op.apply(x)
}

package layers

import (
	"fmt"
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GlobalAvgPool averages each channel of x (N, C, H, W) over H×W, giving
// (N, C). Unlike gorgonia.GlobalAveragePool2D it has a gradient.
func GlobalAvgPool(x *G.Node) (*G.Node, error) {
	if err := checkInput("global average pool", x); err != nil {
		return nil, err
	}
	xs := x.Shape().Clone()
	if len(xs) != 4 {
		return nil, fmt.Errorf("global average pool: input shape %v: want 4-D (N, C, H, W)", xs)
	}
	n, c, hw := xs[0], xs[1], xs[2]*xs[3]
	ys := tensor.Shape{n, c}
	d := &opSpec{name: "avgpoolGrad", params: fmt.Sprint(xs), in: []tensor.Shape{ys}, out: xs,
		f32: func(o []float32, in [][]float32) { kernels.PoolGrad(o, in[0], hw) },
		f64: func(o []float64, in [][]float64) { kernels.PoolGrad(o, in[0], hw) }}
	op := &opSpec{name: "avgpool", params: fmt.Sprint(xs), in: []tensor.Shape{xs}, out: ys,
		f32:     func(o []float32, in [][]float32) { kernels.PoolForward(o, in[0], hw) },
		f64:     func(o []float64, in [][]float64) { kernels.PoolForward(o, in[0], hw) },
		diffWRT: []bool{true},
		symDiff: func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
			g, err := d.apply(grad)
			return G.Nodes{g}, err
		}}
	return op.apply(x)
}

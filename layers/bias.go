package layers

import (
	"fmt"
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// channelBias adds b[c] to channel c of x, which is (N, C) or (N, C, H, W).
func channelBias(x, b *G.Node) (*G.Node, error) {
	xs, bs := x.Shape().Clone(), b.Shape().Clone()
	if len(xs) < 2 || len(bs) != 1 || bs[0] != xs[1] {
		return nil, fmt.Errorf("bias: input shape %v and bias shape %v do not match", xs, bs)
	}
	n, c := xs[0], xs[1]
	inner := xs.TotalSize() / (n * c)
	db := &opSpec{name: "biasGrad", params: fmt.Sprint(xs), in: []tensor.Shape{xs}, out: bs,
		f32: func(o []float32, in [][]float32) { kernels.BiasGrad(o, in[0], n, c, inner) },
		f64: func(o []float64, in [][]float64) { kernels.BiasGrad(o, in[0], n, c, inner) }}
	op := &opSpec{name: "bias", params: fmt.Sprint(xs), in: []tensor.Shape{xs, bs}, out: xs,
		f32:     func(o []float32, in [][]float32) { kernels.BiasForward(o, in[0], in[1], n, c, inner) },
		f64:     func(o []float64, in [][]float64) { kernels.BiasForward(o, in[0], in[1], n, c, inner) },
		diffWRT: []bool{true, true},
		symDiff: func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
			g, err := db.apply(grad)
			if err != nil {
				return nil, err
			}
			return G.Nodes{grad, g}, nil
		}}
	return op.apply(x, b)
}

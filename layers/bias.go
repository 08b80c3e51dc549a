package layers

import (
	"fmt"

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
		f32: func(o []float32, in [][]float32) { biasGrad(o, in[0], n, c, inner) },
		f64: func(o []float64, in [][]float64) { biasGrad(o, in[0], n, c, inner) }}
	op := &opSpec{name: "bias", params: fmt.Sprint(xs), in: []tensor.Shape{xs, bs}, out: xs,
		f32:     func(o []float32, in [][]float32) { biasForward(o, in[0], in[1], n, c, inner) },
		f64:     func(o []float64, in [][]float64) { biasForward(o, in[0], in[1], n, c, inner) },
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

func biasForward[T Float](y, x, b []T, n, c, inner int) {
	for i := 0; i < n; i++ {
		for j := 0; j < c; j++ {
			o := (i*c + j) * inner
			v := b[j]
			ys, xs := y[o:o+inner], x[o:o+inner]
			for p := range ys {
				ys[p] = xs[p] + v
			}
		}
	}
}

func biasGrad[T Float](db, dy []T, n, c, inner int) {
	clear(db)
	for i := 0; i < n; i++ {
		for j := 0; j < c; j++ {
			o := (i*c + j) * inner
			var s T
			for _, v := range dy[o : o+inner] {
				s += v
			}
			db[j] += s
		}
	}
}

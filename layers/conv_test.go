package layers

import (
	"fmt"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestConvGradients(t *testing.T) {
	cases := []struct {
		n, c, h, w, o, k, s int
		pad                 Padding
		bias                bool
	}{
		{1, 3, 5, 5, 4, 3, 1, Same(), false},
		{2, 2, 7, 6, 3, 3, 2, Pad(1), true},
		{2, 3, 6, 5, 2, 2, 1, Same(), false},
		{3, 2, 5, 7, 3, 3, 2, Pad4(0, 1, 2, 0), false},
		{1, 1, 3, 3, 2, 3, 1, Pad(0), false},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%+v", c)
		checkGrad(t, gradCase{name: "conv " + name, xShape: []int{c.n, c.c, c.h, c.w}, build: func(b *Builder, x *G.Node) (*G.Node, error) {
			l, err := NewConv2D(b.In("conv"), Conv2DConfig{In: c.c, Out: c.o, Kernel: c.k, Stride: c.s, Padding: c.pad, Bias: c.bias})
			if err != nil {
				return nil, err
			}
			return l.Fwd(x)
		}}, 25)
	}
}

func TestPointwiseGradients(t *testing.T) {
	cases := []struct {
		n, c, h, w, o int
		bias          bool
	}{
		{1, 3, 5, 5, 4, false},   // batch 1: per sample
		{3, 4, 3, 5, 6, true},    // small spatial: packed
		{2, 5, 12, 11, 3, false}, // per sample
	}
	for _, c := range cases {
		name := fmt.Sprintf("%+v", c)
		checkGrad(t, gradCase{name: "pointwise " + name, xShape: []int{c.n, c.c, c.h, c.w}, build: func(b *Builder, x *G.Node) (*G.Node, error) {
			l, err := NewPointwiseConv2D(b.In("pw"), PointwiseConfig{In: c.c, Out: c.o, Bias: c.bias})
			if err != nil {
				return nil, err
			}
			return l.Fwd(x)
		}}, 25)
	}
}

// TestConvMatchesGorgonia checks the forward of Conv2D against
// gorgonia.Conv2d on the same weights.
func TestConvMatchesGorgonia(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, c := range []struct{ n, c, h, w, o, k, s, p int }{{2, 3, 7, 6, 4, 3, 1, 1}, {1, 2, 9, 9, 3, 3, 2, 1}, {3, 4, 5, 5, 2, 1, 1, 0}} {
		s, _ := NewStore(tensor.Float64, 1)
		xv := randDense(r, c.n, c.c, c.h, c.w)
		var l *Conv2D
		ours := evalGraph(t, s, xv, func(b *Builder, x *G.Node) (*G.Node, error) {
			var err error
			l, err = NewConv2D(b.In("conv"), Conv2DConfig{In: c.c, Out: c.o, Kernel: c.k, Stride: c.s, Padding: Pad(c.p)})
			if err != nil {
				return nil, err
			}
			return l.Fwd(x)
		})
		w := s.Var("conv/weight").Value
		stock := evalGraph(t, s, xv, func(b *Builder, x *G.Node) (*G.Node, error) {
			wn := G.NewTensor(b.Graph(), tensor.Float64, 4, G.WithShape(w.Shape()...), G.WithValue(w))
			return G.Conv2d(x, wn, tensor.Shape{c.k, c.k}, []int{c.p, c.p}, []int{c.s, c.s}, []int{1, 1})
		})
		if d := maxAbsDiff(ours, stock); d > 1e-10 {
			t.Errorf("%+v: differs from gorgonia.Conv2d by %g", c, d)
		}
	}
}

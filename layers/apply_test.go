package layers

import (
	"slices"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestApplyInfersInputSizes: each Apply function builds the layer its
// constructor builds given the input's size (the same variables, names
// and shapes, the same output), and refuses a config that contradicts
// the input or an input of the wrong rank.
func TestApplyInfersInputSizes(t *testing.T) {
	x4 := func(g *G.ExprGraph) *G.Node {
		return G.NewTensor(g, tensor.Float64, 4, G.WithShape(2, 6, 5, 5), G.WithName("x"))
	}
	x2 := func(g *G.ExprGraph) *G.Node {
		return G.NewMatrix(g, tensor.Float64, G.WithShape(2, 6), G.WithName("x"))
	}
	cases := []struct {
		name     string
		input    func(*G.ExprGraph) *G.Node
		apply    func(b *Builder, x *G.Node) (*G.Node, error)
		explicit func(b *Builder, x *G.Node) (*G.Node, error)
		wrong    func(b *Builder, x *G.Node) (*G.Node, error) // a contradicting size
	}{
		{"conv", x4,
			func(b *Builder, x *G.Node) (*G.Node, error) {
				return ApplyConv2D(b, x, Conv2DConfig{Out: 4, Kernel: 3, Stride: 2})
			},
			func(b *Builder, x *G.Node) (*G.Node, error) {
				l, err := NewConv2D(b, Conv2DConfig{In: 6, Out: 4, Kernel: 3, Stride: 2})
				if err != nil {
					return nil, err
				}
				return l.Fwd(x)
			},
			func(b *Builder, x *G.Node) (*G.Node, error) {
				return ApplyConv2D(b, x, Conv2DConfig{In: 5, Out: 4})
			}},
		{"pointwise", x4,
			func(b *Builder, x *G.Node) (*G.Node, error) { return ApplyPointwise(b, x, PointwiseConfig{Out: 3}) },
			func(b *Builder, x *G.Node) (*G.Node, error) {
				l, err := NewPointwiseConv2D(b, PointwiseConfig{In: 6, Out: 3})
				if err != nil {
					return nil, err
				}
				return l.Fwd(x)
			},
			func(b *Builder, x *G.Node) (*G.Node, error) {
				return ApplyPointwise(b, x2(b.Graph()), PointwiseConfig{Out: 3})
			}},
		{"depthwise", x4,
			func(b *Builder, x *G.Node) (*G.Node, error) { return ApplyDepthwise(b, x, DepthwiseConfig{Stride: 2}) },
			func(b *Builder, x *G.Node) (*G.Node, error) {
				l, err := NewDepthwiseConv2D(b, DepthwiseConfig{Channels: 6, Stride: 2})
				if err != nil {
					return nil, err
				}
				return l.Fwd(x)
			},
			func(b *Builder, x *G.Node) (*G.Node, error) {
				return ApplyDepthwise(b, x, DepthwiseConfig{Channels: 7})
			}},
		{"batchnorm", x4,
			func(b *Builder, x *G.Node) (*G.Node, error) {
				return ApplyBatchNorm(b, x, BatchNormConfig{Activation: ReLU})
			},
			func(b *Builder, x *G.Node) (*G.Node, error) {
				cfg := DefaultBatchNormConfig(6)
				cfg.Activation = ReLU
				l, err := NewBatchNorm(b, cfg)
				if err != nil {
					return nil, err
				}
				return l.Fwd(x)
			},
			func(b *Builder, x *G.Node) (*G.Node, error) {
				return ApplyBatchNorm(b, x, BatchNormConfig{Channels: 3})
			}},
		{"dense", x2,
			func(b *Builder, x *G.Node) (*G.Node, error) { return ApplyDense(b, x, DefaultDenseConfig(0, 4)) },
			func(b *Builder, x *G.Node) (*G.Node, error) {
				l, err := NewDense(b, DefaultDenseConfig(6, 4))
				if err != nil {
					return nil, err
				}
				return l.Fwd(x)
			},
			func(b *Builder, x *G.Node) (*G.Node, error) {
				return ApplyDense(b, x4(b.Graph()), DefaultDenseConfig(0, 4))
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run := func(f func(*Builder, *G.Node) (*G.Node, error)) ([]float64, *Store) {
				s, _ := NewStore(tensor.Float64, 5)
				g := G.NewGraph()
				x := c.input(g)
				xv := tensor.New(tensor.WithShape(x.Shape()...), tensor.WithBacking(make([]float64, x.Shape().TotalSize())))
				for i, d := 0, xv.Data().([]float64); i < len(d); i++ {
					d[i] = float64(i%7) - 3
				}
				G.Let(x, xv)
				y, err := f(NewBuilder(g, s).In(c.name), x)
				if err != nil {
					t.Fatal(err)
				}
				vm := G.NewTapeMachine(g)
				defer vm.Close()
				if err := vm.RunAll(); err != nil {
					t.Fatal(err)
				}
				return append([]float64(nil), y.Value().Data().([]float64)...), s
			}
			a, sa := run(c.apply)
			b, sb := run(c.explicit)
			if !slices.Equal(a, b) || len(sa.Vars()) != len(sb.Vars()) {
				t.Fatalf("Apply and the constructor differ: %d and %d variables", len(sa.Vars()), len(sb.Vars()))
			}
			for i, v := range sa.Vars() {
				if w := sb.Vars()[i]; v.Name != w.Name || !v.Value.Shape().Eq(w.Value.Shape()) {
					t.Errorf("variable %s %v, the constructor's %s %v", v.Name, v.Value.Shape(), w.Name, w.Value.Shape())
				}
			}
			s, _ := NewStore(tensor.Float64, 5)
			g := G.NewGraph()
			if _, err := c.wrong(NewBuilder(g, s), c.input(g)); err == nil || strings.Contains(err.Error(), "\n") {
				t.Errorf("a contradicting size or rank: %v", err)
			}
			if _, err := c.apply(NewBuilder(g, s).In("nil"), nil); err == nil {
				t.Error("a nil input: no error")
			}
		})
	}
}

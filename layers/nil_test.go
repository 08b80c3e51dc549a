package layers

import (
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestNilBuilder: a layer built with a Builder that NewBuilder did not make
// over a graph and a Store is a one-line error, not a crash.
func TestNilBuilder(t *testing.T) {
	s, err := NewStore(tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	builders := []struct {
		name string
		b    *Builder
		want string
	}{
		{"nil", nil, "no Builder"},
		{"zero value", &Builder{}, "no Builder"},
		{"no graph", NewBuilder(nil, s), "no graph"},
		{"no store", NewBuilder(G.NewGraph(), nil), "no Store"},
	}
	layers := []struct {
		name  string
		build func(b *Builder) error
	}{
		{"batchnorm", func(b *Builder) error { _, err := NewBatchNorm(b, DefaultBatchNormConfig(3)); return err }},
		{"conv", func(b *Builder) error { _, err := NewConv2D(b, Conv2DConfig{In: 3, Out: 4}); return err }},
		{"pointwise conv", func(b *Builder) error { _, err := NewPointwiseConv2D(b, PointwiseConfig{In: 3, Out: 4}); return err }},
		{"depthwise conv", func(b *Builder) error { _, err := NewDepthwiseConv2D(b, DepthwiseConfig{Channels: 3}); return err }},
		{"dense", func(b *Builder) error { _, err := NewDense(b, DefaultDenseConfig(3, 4)); return err }},
		{"dropout", func(b *Builder) error { _, err := NewDropout(b, DropoutConfig{Rate: 0.5}); return err }},
		{"separable block", func(b *Builder) error { _, err := NewSeparableBlock(b, DefaultSeparableConfig(3, 4)); return err }},
	}
	for _, bc := range builders {
		for _, lc := range layers {
			err := lc.build(bc.b)
			if err == nil || !strings.HasPrefix(err.Error(), lc.name+": ") || !strings.Contains(err.Error(), bc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s with a %s Builder: error %v, want one line %q… naming %q", lc.name, bc.name, err, lc.name+": ", bc.want)
			}
		}
	}
}

// TestNilInput: every layer and op given a nil node returns a one-line error
// naming itself.
func TestNilInput(t *testing.T) {
	s, err := NewStore(tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	g := G.NewGraph()
	b := NewBuilder(g, s)
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(2, 3, 5, 5), G.WithName("x"))
	must := func(l Layer, err error) Layer {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	bn := must(NewBatchNorm(b.In("bn"), DefaultBatchNormConfig(3))).(*BatchNorm)
	conv := must(NewConv2D(b.In("conv"), Conv2DConfig{In: 3, Out: 4}))
	fwd := []struct {
		name string
		l    Layer
	}{
		{"batchnorm", bn},
		{"conv", conv},
		{"pointwise conv", must(NewPointwiseConv2D(b.In("pw"), PointwiseConfig{In: 3, Out: 4}))},
		{"depthwise conv", must(NewDepthwiseConv2D(b.In("dw"), DepthwiseConfig{Channels: 3}))},
		{"dense", must(NewDense(b.In("fc"), DefaultDenseConfig(3, 4)))},
		{"dropout", must(NewDropout(b.In("drop"), DropoutConfig{Rate: 0.5}))},
		{"separable block", must(NewSeparableBlock(b.In("sep"), DefaultSeparableConfig(3, 4)))},
		{"layer 0: conv", must(NewSequential(conv))}, // Sequential names the position
		{"global average pool", GlobalAvgPooling{}},
	}
	type op struct {
		name string
		f    func() error
	}
	ops := []op{
		{"activation", func() error { _, err := Activate(nil, ReLU6); return err }},
		{"softmax", func() error { _, err := Softmax(nil); return err }},
		{"softmax cross-entropy", func() error { _, err := SoftmaxCrossEntropy(nil, nil); return err }},
		{"fold batchnorm", func() error { _, err := FoldBatchNorm(conv, bn, nil); return err }},
		{"fold batchnorm", func() error { _, err := FoldBatchNorm(conv, nil, x); return err }},
	}
	for _, c := range fwd {
		ops = append(ops, op{c.name, func() error { _, err := c.l.Fwd(nil); return err }})
	}
	for _, c := range ops {
		err := c.f()
		if err == nil || !strings.Contains(err.Error(), c.name) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s of nil: error %v, want one line naming %q", c.name, err, c.name)
		}
	}
}

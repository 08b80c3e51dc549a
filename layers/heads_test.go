package layers

import (
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestHeadGradients(t *testing.T) {
	checkGrad(t, gradCase{name: "avgpool", xShape: []int{2, 3, 4, 5}, build: func(b *Builder, x *G.Node) (*G.Node, error) {
		return GlobalAvgPool(x)
	}}, 30)
	checkGrad(t, gradCase{name: "dense", xShape: []int{3, 5}, build: func(b *Builder, x *G.Node) (*G.Node, error) {
		l, err := NewDense(b.In("fc"), DefaultDenseConfig(5, 4))
		if err != nil {
			return nil, err
		}
		return l.Fwd(x)
	}}, 30)
	checkGrad(t, gradCase{name: "xent", xShape: []int{4, 3}, build: func(b *Builder, x *G.Node) (*G.Node, error) {
		oh := tensor.New(tensor.WithShape(4, 3), tensor.WithBacking([]float64{1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1}))
		tg := G.NewTensor(b.Graph(), tensor.Float64, 2, G.WithShape(4, 3), G.WithName("t"), G.WithValue(oh))
		l, err := SoftmaxCrossEntropy(x, tg)
		if err != nil {
			return nil, err
		}
		return G.Reshape(l, tensor.Shape{1}) // checkGrad multiplies by R
	}}, 12)
	checkGrad(t, gradCase{name: "separable", xShape: []int{2, 3, 6, 5}, build: func(b *Builder, x *G.Node) (*G.Node, error) {
		l, err := NewSeparableBlock(b.In("block"), stridedSeparable(3, 4, 2))
		if err != nil {
			return nil, err
		}
		return l.Fwd(x)
	}}, 20)
}

func TestDropout(t *testing.T) {
	s, _ := NewStore(tensor.Float64, 1)
	xv := tensor.New(tensor.WithShape(1000), tensor.WithBacking(make([]float64, 1000)))
	for i := range xv.Data().([]float64) {
		xv.Data().([]float64)[i] = 1
	}
	build := func(b *Builder, x *G.Node) (*G.Node, error) {
		d, err := NewDropout(b.In("drop"), DropoutConfig{Rate: 0.25})
		if err != nil {
			return nil, err
		}
		return d.Fwd(x)
	}
	y := evalGraph(t, s, xv, build)
	zeros := 0
	for _, v := range y {
		switch v {
		case 0:
			zeros++
		case 1 / 0.75:
		default:
			t.Fatalf("dropout output %v, want 0 or 1/0.75", v)
		}
	}
	if zeros < 200 || zeros > 300 {
		t.Errorf("dropout zeroed %d of 1000 at rate 0.25", zeros)
	}
	s.Mode().SetTraining(false)
	for _, v := range evalGraph(t, s, xv, build) {
		if v != 1 {
			t.Fatal("inference dropout is not the identity")
		}
	}
	if _, err := NewDropout(NewBuilder(G.NewGraph(), s).In("bad"), DropoutConfig{Rate: 1}); err == nil {
		t.Error("rate 1: no error")
	}
}

// stridedSeparable is MobileNet's block at a stride.
func stridedSeparable(in, out, stride int) SeparableConfig {
	c := DefaultSeparableConfig(in, out)
	c.Stride = stride
	return c
}

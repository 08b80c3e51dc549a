package layers

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Conv2DConfig configures a standard convolution. Zero fields take the
// defaults shown.
type Conv2DConfig struct {
	In, Out int     // channels (required)
	Kernel  int     // square kernel size (default 3)
	Stride  int     // default 1
	Padding Padding // default Same()
	Bias    bool    // learnable per-channel bias (default none)
	// NoInputGrad skips the gradient with respect to the input: set it on a
	// first layer, whose input is the data, to save one GEMM per step.
	NoInputGrad bool
}

// Conv2D is a standard 2-D convolution over NCHW tensors (cross-correlation,
// as in PyTorch), computed per sample as im2col + GEMM. Its weight has shape
// (Out, In, K, K), named "<scope>/weight"; its bias (Out), "<scope>/bias".
type Conv2D struct {
	name         string
	cfg          Conv2DConfig
	weight, bias *G.Node
	sc           *scratch
}

// NewConv2D creates the layer's variables in the Builder's scope.
func NewConv2D(b *Builder, cfg Conv2DConfig) (*Conv2D, error) {
	if cfg.Kernel == 0 {
		cfg.Kernel = 3
	}
	if cfg.Stride == 0 {
		cfg.Stride = 1
	}
	return newConv(b, "conv "+b.Scope(), cfg)
}

func newConv(b *Builder, name string, cfg Conv2DConfig) (*Conv2D, error) {
	if err := checkConvConfig(name, cfg.In, cfg.Out, cfg.Kernel, cfg.Kernel, cfg.Stride, cfg.Stride, cfg.Padding); err != nil {
		return nil, err
	}
	l := &Conv2D{name: name, cfg: cfg, sc: b.reg.scratch}
	k := cfg.Kernel
	var err error
	if l.weight, err = b.param("weight", tensor.Shape{cfg.Out, cfg.In, k, k}, true, heNormal(cfg.Out*k*k)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if cfg.Bias {
		if l.bias, err = b.param("bias", tensor.Shape{cfg.Out}, false, constInit(0)); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return l, nil
}

// Learnables returns the weight and, when enabled, the bias.
func (l *Conv2D) Learnables() G.Nodes { return nonNil(l.weight, l.bias) }

func (l *Conv2D) geom(in tensor.Shape) (geom, error) {
	c := l.cfg
	return resolveGeom(l.name, in, c.In, c.Out, c.Kernel, c.Kernel, c.Stride, c.Stride, c.Padding)
}

// OutShape is the output shape for an input of shape in.
func (l *Conv2D) OutShape(in tensor.Shape) (tensor.Shape, error) {
	g, err := l.geom(in)
	if err != nil {
		return nil, err
	}
	return tensor.Shape{g.N, g.O, g.Ho, g.Wo}, nil
}

// Fwd applies the layer to x of shape (N, In, H, W).
func (l *Conv2D) Fwd(x *G.Node) (*G.Node, error) {
	g, err := l.geom(x.Shape())
	if err != nil {
		return nil, err
	}
	y, err := convOp(x, l.weight, g, !l.cfg.NoInputGrad, l.sc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	if l.bias != nil {
		return channelBias(y, l.bias)
	}
	return y, nil
}

// PointwiseConfig configures a PointwiseConv2D.
type PointwiseConfig struct {
	In, Out     int  // channels (required)
	Bias        bool // learnable per-channel bias (default none)
	NoInputGrad bool // as in Conv2DConfig
}

// PointwiseConv2D is a 1×1 convolution, In → Out channels, computed as a
// matrix product per sample (or one batched product for small spatial
// sizes), without im2col. Its weight has shape (Out, In, 1, 1), named
// "<scope>/weight"; its bias (Out), "<scope>/bias".
type PointwiseConv2D struct{ Conv2D }

// NewPointwiseConv2D creates the layer's variables in the Builder's scope.
func NewPointwiseConv2D(b *Builder, cfg PointwiseConfig) (*PointwiseConv2D, error) {
	c, err := newConv(b, "pointwise conv "+b.Scope(), Conv2DConfig{In: cfg.In, Out: cfg.Out, Kernel: 1, Stride: 1, Padding: Pad(0), Bias: cfg.Bias, NoInputGrad: cfg.NoInputGrad})
	if err != nil {
		return nil, err
	}
	return &PointwiseConv2D{*c}, nil
}

// convOp applies the convolution op: x (N,C,H,W), w (O,C,KH,KW).
func convOp(x, w *G.Node, g geom, inputGrad bool, sc *scratch) (*G.Node, error) {
	xs, ws, ys := x.Shape().Clone(), w.Shape().Clone(), tensor.Shape{g.N, g.O, g.Ho, g.Wo}
	params := g.String()
	dx := &opSpec{name: "convDx", params: params, in: []tensor.Shape{ws, ys}, out: xs,
		f32: func(o []float32, in [][]float32) { convBackwardInput(sc, g, o, in[1], in[0]) },
		f64: func(o []float64, in [][]float64) { convBackwardInput(sc, g, o, in[1], in[0]) }}
	dw := &opSpec{name: "convDw", params: params, in: []tensor.Shape{xs, ys}, out: ws,
		f32: func(o []float32, in [][]float32) { convBackwardWeight(sc, g, o, in[0], in[1]) },
		f64: func(o []float64, in [][]float64) { convBackwardWeight(sc, g, o, in[0], in[1]) }}
	name := "conv"
	if g.pointwise() {
		name = "pointwise"
	}
	fwd := &opSpec{name: name, params: params, in: []tensor.Shape{xs, ws}, out: ys,
		f32:     func(o []float32, in [][]float32) { convForward(sc, g, o, in[0], in[1]) },
		f64:     func(o []float64, in [][]float64) { convForward(sc, g, o, in[0], in[1]) },
		diffWRT: []bool{inputGrad, true},
		symDiff: func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
			gw, err := dw.apply(in[0], grad)
			if err != nil {
				return nil, err
			}
			if !inputGrad {
				return G.Nodes{nil, gw}, nil
			}
			gx, err := dx.apply(in[1], grad)
			if err != nil {
				return nil, err
			}
			return G.Nodes{gx, gw}, nil
		}}
	return fwd.apply(x, w)
}

package layers

import (
	"fmt"
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// DepthwiseImpl chooses how DepthwiseConv2D is computed.
type DepthwiseImpl int

const (
	// Fused computes the layer with one custom Gorgonia op (and two backward
	// ops), parallel over batch × channels. The default.
	Fused DepthwiseImpl = iota
	// PerChannel builds the layer from Gorgonia's own graph ops: each input
	// channel sliced out, convolved with its own kernels by gorgonia.Conv2d,
	// and the results concatenated; autodiff differentiates those ops. It is
	// the reference the fused op is tested against, and slow.
	PerChannel
)

// String names the implementation as the --depthwise flag does.
func (i DepthwiseImpl) String() string {
	switch i {
	case Fused:
		return "fused"
	case PerChannel:
		return "perchannel"
	}
	return fmt.Sprintf("DepthwiseImpl(%d)", int(i))
}

// ParseDepthwiseImpl parses "fused" or "perchannel".
func ParseDepthwiseImpl(s string) (DepthwiseImpl, error) {
	switch s {
	case "fused":
		return Fused, nil
	case "perchannel":
		return PerChannel, nil
	}
	return 0, fmt.Errorf("unknown depthwise implementation %q (want fused or perchannel)", s)
}

// DepthwiseConfig configures a DepthwiseConv2D. Multiplier, Kernel and
// Stride take the defaults shown when zero (zero is not a size); the other
// fields mean what their zero value says.
type DepthwiseConfig struct {
	Channels   int           // input channels C (required)
	Multiplier int           // depth multiplier M: output channels are C·M (0: 1)
	Kernel     int           // square kernel size (0: DefaultKernel)
	Stride     int           // stride in both directions (0: 1)
	Padding    Padding       // the zero value is Same()
	Bias       bool          // add a learnable per-channel bias
	Impl       DepthwiseImpl // the zero value is Fused
	Init       Init          // the zero value is UniformFanIn
}

func (c *DepthwiseConfig) defaults() {
	c.Multiplier = oneIfZero(c.Multiplier)
	c.Kernel = kernelOrDefault(c.Kernel)
	c.Stride = oneIfZero(c.Stride)
}

// DepthwiseConv2D is a grouped convolution with one group per input channel:
// input channel c is convolved with its own M kernels, giving output channels
// c·M … c·M+M-1 (PyTorch's Conv2d with groups = C). Its weight has shape
// (C·M, 1, K, K), named "<scope>/weight"; its bias, when enabled, (C·M),
// named "<scope>/bias".
type DepthwiseConv2D struct {
	name         string
	cfg          DepthwiseConfig
	weight, bias *G.Node
	reg          *registry
	s            *Store
}

// NewDepthwiseConv2D creates the layer's variables in the Builder's scope.
func NewDepthwiseConv2D(b *Builder, cfg DepthwiseConfig) (*DepthwiseConv2D, error) {
	if err := b.check("depthwise conv"); err != nil {
		return nil, err
	}
	cfg.defaults()
	name := "depthwise conv " + b.Scope()
	if cfg.Multiplier < 0 {
		return nil, fmt.Errorf("%s: depth multiplier %d: must be positive", name, cfg.Multiplier)
	}
	if err := checkConvConfig(name, cfg.Channels, cfg.Channels*cfg.Multiplier, cfg.Kernel, cfg.Kernel, cfg.Stride, cfg.Stride, cfg.Padding); err != nil {
		return nil, err
	}
	if cfg.Impl != Fused && cfg.Impl != PerChannel {
		return nil, fmt.Errorf("%s: unknown implementation %v", name, cfg.Impl)
	}
	if !cfg.Init.valid() {
		return nil, fmt.Errorf("%s: unknown initialisation %v", name, cfg.Init)
	}
	l := &DepthwiseConv2D{name: name, cfg: cfg, reg: b.reg, s: b.s}
	o, k := cfg.Channels*cfg.Multiplier, cfg.Kernel
	var err error
	// fan_in of a depthwise kernel is K·K, fan_out M·K·K (one group per channel).
	// No weight decay: the paper (Howard et al., 2017, section 4) puts "very
	// little or no weight decay" on depthwise filters, which have few parameters.
	if l.weight, err = b.param("weight", tensor.Shape{o, 1, k, k}, false, cfg.Init.convWeight(k*k, cfg.Multiplier*k*k)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if cfg.Bias {
		if l.bias, err = b.param("bias", tensor.Shape{o}, false, cfg.Init.bias(k*k)); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return l, nil
}

// Learnables returns the weight and, when enabled, the bias.
func (l *DepthwiseConv2D) Learnables() G.Nodes { return trainable(l.s, l.weight, l.bias) }

// OutShape is the output shape for an input of shape in.
func (l *DepthwiseConv2D) OutShape(in tensor.Shape) (tensor.Shape, error) {
	g, err := l.resolve(in)
	if err != nil {
		return nil, err
	}
	return tensor.Shape{g.N, g.O, g.Ho, g.Wo}, nil
}

func (l *DepthwiseConv2D) resolve(in tensor.Shape) (kernels.Geom, error) {
	c := l.cfg
	g, err := resolveGeom(l.name, in, c.Channels, c.Channels*c.Multiplier, c.Kernel, c.Kernel, c.Stride, c.Stride, c.Padding)
	g.G = c.Channels
	return g, err
}

// Fwd applies the layer to x of shape (N, C, H, W).
func (l *DepthwiseConv2D) Fwd(x *G.Node) (*G.Node, error) {
	if err := checkInput(l.name, x); err != nil {
		return nil, err
	}
	g, err := l.resolve(x.Shape())
	if err != nil {
		return nil, err
	}
	var y *G.Node
	switch l.cfg.Impl {
	case PerChannel:
		y, err = depthwisePerChannel(x, l.weight, g)
	default:
		y, err = depthwiseFused(x, l.weight, g, l.reg)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	if l.bias != nil {
		return channelBias(y, l.bias)
	}
	return y, nil
}

// depthwiseFused applies the fused depthwise op: x (N,C,H,W), k (C·M,1,KH,KW).
func depthwiseFused(x, k *G.Node, g kernels.Geom, reg *registry) (*G.Node, error) {
	link := &sumsLink{}
	xs, ks, ys := x.Shape().Clone(), k.Shape().Clone(), tensor.Shape{g.N, g.O, g.Ho, g.Wo}
	params := g.String()
	dx := &opSpec{name: "depthwiseDx", params: params, in: []tensor.Shape{ks, ys}, out: xs,
		f32: func(o []float32, in [][]float32) { kernels.DWBackwardInput(g, o, in[1], in[0]) },
		f64: func(o []float64, in [][]float64) { kernels.DWBackwardInput(g, o, in[1], in[0]) }}
	dk := &opSpec{name: "depthwiseDk", params: params, in: []tensor.Shape{xs, ys}, out: ks,
		f32: func(o []float32, in [][]float32) { kernels.DWBackwardKernel(g, o, in[0], in[1]) },
		f64: func(o []float64, in [][]float64) { kernels.DWBackwardKernel(g, o, in[0], in[1]) }}
	fwd := &opSpec{name: "depthwise", params: params, in: []tensor.Shape{xs, ks}, out: ys,
		f32: func(o []float32, in [][]float32) {
			kernels.DWForwardEp(g, o, in[0], in[1], sumsEpilogue[float32](link, g.Ho*g.Wo))
		},
		f64: func(o []float64, in [][]float64) {
			kernels.DWForwardEp(g, o, in[0], in[1], sumsEpilogue[float64](link, g.Ho*g.Wo))
		},
		diffWRT: []bool{true, true},
		symDiff: func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
			gx, err := dx.apply(in[1], grad)
			if err != nil {
				return nil, err
			}
			gk, err := dk.apply(in[0], grad)
			if err != nil {
				return nil, err
			}
			return G.Nodes{gx, gk}, nil
		}}
	y, err := fwd.apply(x, k)
	if err == nil {
		reg.link(y, link)
	}
	return y, err
}

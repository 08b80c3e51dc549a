package layers

import (
	"fmt"
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Conv2DConfig configures a standard or grouped convolution. Kernel, Stride
// and Groups take the defaults shown when zero (zero is not a size); the
// other fields mean what their zero value says.
type Conv2DConfig struct {
	In, Out int     // channels (required)
	Kernel  int     // square kernel size (0: DefaultKernel)
	Stride  int     // 0: 1
	Padding Padding // the zero value is Same()
	// Groups splits the channels into groups convolved separately (PyTorch's
	// groups; 0: 1): input channels g·In/Groups … and output channels
	// g·Out/Groups … form group g, and the weight is (Out, In/Groups, K, K).
	// Groups must divide In and Out. Groups = In is a depthwise convolution
	// and runs DepthwiseConv2D's fused kernels.
	Groups int
	Bias   bool // learnable per-channel bias
	Init   Init // weight and bias initialisation (the zero value is UniformFanIn)
	// NoInputGrad skips the gradient with respect to the input: set it on a
	// first layer, whose input is the data, to save one GEMM per step.
	NoInputGrad bool
}

// DefaultKernel is the kernel size of convolutions configured with Kernel 0.
const DefaultKernel = 3

func kernelOrDefault(k int) int {
	if k == 0 {
		return DefaultKernel
	}
	return k
}

func oneIfZero(n int) int {
	if n == 0 {
		return 1
	}
	return n
}

// Conv2D is a standard 2-D convolution over NCHW tensors (cross-correlation,
// as in PyTorch), computed per sample as im2col + GEMM. Its weight has shape
// (Out, In, K, K), named "<scope>/weight"; its bias (Out), "<scope>/bias".
type Conv2D struct {
	name         string
	cfg          Conv2DConfig
	weight, bias *G.Node
	sc           *kernels.Scratch
	reg          *registry
	s            *Store
}

// NewConv2D creates the layer's variables in the Builder's scope.
func NewConv2D(b *Builder, cfg Conv2DConfig) (*Conv2D, error) {
	cfg.Kernel = kernelOrDefault(cfg.Kernel)
	cfg.Stride = oneIfZero(cfg.Stride)
	if err := b.check("conv"); err != nil {
		return nil, err
	}
	return newConv(b, "conv "+b.Scope(), cfg)
}

func newConv(b *Builder, name string, cfg Conv2DConfig) (*Conv2D, error) {
	cfg.Groups = oneIfZero(cfg.Groups)
	if err := checkConvConfig(name, cfg.In, cfg.Out, cfg.Kernel, cfg.Kernel, cfg.Stride, cfg.Stride, cfg.Padding); err != nil {
		return nil, err
	}
	if gr := cfg.Groups; gr < 0 || cfg.In%gr != 0 || cfg.Out%gr != 0 {
		return nil, fmt.Errorf("%s: %d groups: must divide both channel counts (%d -> %d)", name, gr, cfg.In, cfg.Out)
	}
	if !cfg.Init.valid() {
		return nil, fmt.Errorf("%s: unknown initialisation %v", name, cfg.Init)
	}
	l := &Conv2D{name: name, cfg: cfg, sc: b.reg.scratch, reg: b.reg, s: b.s}
	// No weight decay on depthwise filters, as DepthwiseConv2D.
	k, gr := cfg.Kernel, cfg.Groups
	fanIn, fanOut := cfg.In/gr*k*k, cfg.Out/gr*k*k
	var err error
	if l.weight, err = b.param("weight", tensor.Shape{cfg.Out, cfg.In / gr, k, k}, !l.depthwise(), cfg.Init.convWeight(fanIn, fanOut)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if cfg.Bias {
		if l.bias, err = b.param("bias", tensor.Shape{cfg.Out}, false, cfg.Init.bias(fanIn)); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return l, nil
}

// Learnables returns the weight and, when enabled, the bias.
func (l *Conv2D) Learnables() G.Nodes { return trainable(l.s, l.weight, l.bias) }

func (l *Conv2D) resolve(in tensor.Shape) (kernels.Geom, error) {
	c := l.cfg
	g, err := resolveGeom(l.name, in, c.In, c.Out, c.Kernel, c.Kernel, c.Stride, c.Stride, c.Padding)
	g.G = c.Groups
	return g, err
}

// depthwise reports whether the convolution is depthwise (one group per
// input channel), computed by the depthwise kernels.
func (l *Conv2D) depthwise() bool { return l.cfg.Groups > 1 && l.cfg.Groups == l.cfg.In }

// OutShape is the output shape for an input of shape in.
func (l *Conv2D) OutShape(in tensor.Shape) (tensor.Shape, error) {
	g, err := l.resolve(in)
	if err != nil {
		return nil, err
	}
	return tensor.Shape{g.N, g.O, g.Ho, g.Wo}, nil
}

// Fwd applies the layer to x of shape (N, In, H, W).
func (l *Conv2D) Fwd(x *G.Node) (*G.Node, error) {
	if err := checkInput(l.name, x); err != nil {
		return nil, err
	}
	g, err := l.resolve(x.Shape())
	if err != nil {
		return nil, err
	}
	var y *G.Node
	if l.depthwise() {
		y, err = depthwiseFused(x, l.weight, g, l.reg)
	} else {
		y, err = convOp(x, l.weight, g, !l.cfg.NoInputGrad, l.sc, l.reg)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	if l.bias != nil {
		return channelBias(y, l.bias)
	}
	return y, nil
}

// PointwiseConfig configures a PointwiseConv2D; the fields are
// Conv2DConfig's.
type PointwiseConfig struct {
	In, Out     int  // channels (required)
	Groups      int  // 0: 1 (ShuffleNet's grouped 1×1 convolutions use more)
	Bias        bool // learnable per-channel bias
	Init        Init // the zero value is UniformFanIn
	NoInputGrad bool
}

// PointwiseConv2D is a 1×1 convolution, In → Out channels, computed as a
// matrix product per sample (or one batched product for small spatial
// sizes), without im2col. Its weight has shape (Out, In, 1, 1), named
// "<scope>/weight"; its bias (Out), "<scope>/bias".
type PointwiseConv2D struct{ Conv2D }

// NewPointwiseConv2D creates the layer's variables in the Builder's scope.
func NewPointwiseConv2D(b *Builder, cfg PointwiseConfig) (*PointwiseConv2D, error) {
	if err := b.check("pointwise conv"); err != nil {
		return nil, err
	}
	c, err := newConv(b, "pointwise conv "+b.Scope(), Conv2DConfig{In: cfg.In, Out: cfg.Out, Kernel: 1, Stride: 1, Padding: Pad(0), Groups: cfg.Groups, Bias: cfg.Bias, Init: cfg.Init, NoInputGrad: cfg.NoInputGrad})
	if err != nil {
		return nil, err
	}
	return &PointwiseConv2D{*c}, nil
}

// convOp applies the convolution op: x (N,C,H,W), w (O,C,KH,KW).
func convOp(x, w *G.Node, g kernels.Geom, inputGrad bool, sc *kernels.Scratch, reg *registry) (*G.Node, error) {
	link := &sumsLink{}
	xs, ws, ys := x.Shape().Clone(), w.Shape().Clone(), tensor.Shape{g.N, g.O, g.Ho, g.Wo}
	params := g.String()
	dx := &opSpec{name: "convDx", params: params, in: []tensor.Shape{ws, ys}, out: xs,
		f32: func(o []float32, in [][]float32) { kernels.ConvBackwardInput(sc, g, o, in[1], in[0]) },
		f64: func(o []float64, in [][]float64) { kernels.ConvBackwardInput(sc, g, o, in[1], in[0]) }}
	dw := &opSpec{name: "convDw", params: params, in: []tensor.Shape{xs, ys}, out: ws,
		f32: func(o []float32, in [][]float32) { kernels.ConvBackwardWeight(sc, g, o, in[0], in[1]) },
		f64: func(o []float64, in [][]float64) { kernels.ConvBackwardWeight(sc, g, o, in[0], in[1]) }}
	name := "conv"
	if g.Pointwise() {
		name = "pointwise"
	}
	fwd := &opSpec{name: name, params: params, in: []tensor.Shape{xs, ws}, out: ys,
		f32: func(o []float32, in [][]float32) {
			kernels.ConvForwardEp(sc, g, o, in[0], in[1], sumsEpilogue[float32](link, g.Ho*g.Wo))
		},
		f64: func(o []float64, in [][]float64) {
			kernels.ConvForwardEp(sc, g, o, in[0], in[1], sumsEpilogue[float64](link, g.Ho*g.Wo))
		},
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
	y, err := fwd.apply(x, w)
	if err == nil {
		reg.link(y, link)
	}
	return y, err
}

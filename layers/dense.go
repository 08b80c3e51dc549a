package layers

import (
	"fmt"

	"github.com/gomobilenet/mobilenet/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// DenseConfig configures a Dense layer; DefaultDenseConfig adds the bias.
type DenseConfig struct {
	In, Out int  // features (required)
	Bias    bool // learnable bias
	Init    Init // weight initialisation (the zero value is UniformFanIn)
}

// DefaultDenseConfig is PyTorch's Linear: with a bias.
func DefaultDenseConfig(in, out int) DenseConfig { return DenseConfig{In: in, Out: out, Bias: true} }

// Dense is a fully connected layer: y = x·Wᵀ + b for x (N, In). Its weight
// has shape (Out, In) (PyTorch's layout), named "<scope>/weight"; its bias
// (Out), "<scope>/bias".
type Dense struct {
	name         string
	cfg          DenseConfig
	weight, bias *G.Node
	s            *Store // its Precision and frozen variables
}

// NewDense creates the layer's variables in the Builder's scope, initialised
// as cfg.Init says.
func NewDense(b *Builder, cfg DenseConfig) (*Dense, error) {
	if err := b.check("dense"); err != nil {
		return nil, err
	}
	name := "dense " + b.Scope()
	if cfg.In <= 0 || cfg.Out <= 0 {
		return nil, fmt.Errorf("%s: features %d -> %d: must be positive", name, cfg.In, cfg.Out)
	}
	if !cfg.Init.valid() {
		return nil, fmt.Errorf("%s: unknown initialisation %v", name, cfg.Init)
	}
	l := &Dense{name: name, cfg: cfg, s: b.s}
	var err error
	if l.weight, err = b.param("weight", tensor.Shape{cfg.Out, cfg.In}, true, cfg.Init.denseWeight(cfg.In)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if cfg.Bias {
		if l.bias, err = b.param("bias", tensor.Shape{cfg.Out}, false, cfg.Init.bias(cfg.In)); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return l, nil
}

// Learnables returns the weight and the bias.
func (l *Dense) Learnables() G.Nodes { return trainable(l.s, l.weight, l.bias) }

// gemm is C = op(A)·op(B) in the Store's precision.
func (l *Dense) gemm(tA, tB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if l.s != nil && l.s.Precision() == BF16 {
		blas.GemmBF16(tA, tB, m, n, k, 1, a, lda, b, ldb, 0, c, ldc)
		return
	}
	blas.Gemm(tA, tB, m, n, k, float32(1), a, lda, b, ldb, 0, c, ldc)
}

// Fwd applies the layer to x of shape (N, In).
func (l *Dense) Fwd(x *G.Node) (*G.Node, error) {
	if err := checkInput(l.name, x); err != nil {
		return nil, err
	}
	xs := x.Shape().Clone()
	if len(xs) != 2 || xs[1] != l.cfg.In {
		return nil, fmt.Errorf("%s: input shape %v: want (N, %d)", l.name, xs, l.cfg.In)
	}
	n, in, out := xs[0], l.cfg.In, l.cfg.Out
	ws, ys := tensor.Shape{out, in}, tensor.Shape{n, out}
	params := fmt.Sprint(xs, ws)
	dx := &opSpec{name: "denseDx", params: params, in: []tensor.Shape{ws, ys}, out: xs,
		f32: func(o []float32, v [][]float32) {
			l.gemm(false, false, n, in, out, v[1], out, v[0], in, o, in)
		},
		f64: func(o []float64, v [][]float64) {
			blas.Gemm(false, false, n, in, out, 1, v[1], out, v[0], in, 0, o, in)
		}}
	dw := &opSpec{name: "denseDw", params: params, in: []tensor.Shape{xs, ys}, out: ws,
		f32: func(o []float32, v [][]float32) { l.gemm(true, false, out, in, n, v[1], out, v[0], in, o, in) },
		f64: func(o []float64, v [][]float64) { blas.Gemm(true, false, out, in, n, 1, v[1], out, v[0], in, 0, o, in) }}
	op := &opSpec{name: "dense", params: params, in: []tensor.Shape{xs, ws}, out: ys,
		f32:     func(o []float32, v [][]float32) { l.gemm(false, true, n, out, in, v[0], in, v[1], in, o, out) },
		f64:     func(o []float64, v [][]float64) { blas.Gemm(false, true, n, out, in, 1, v[0], in, v[1], in, 0, o, out) },
		diffWRT: []bool{true, true},
		symDiff: func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
			gx, err := dx.apply(in[1], grad)
			if err != nil {
				return nil, err
			}
			gw, err := dw.apply(in[0], grad)
			return G.Nodes{gx, gw}, err
		}}
	y, err := op.apply(x, l.weight)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	if l.bias != nil {
		return channelBias(y, l.bias)
	}
	return y, nil
}

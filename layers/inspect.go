package layers

import (
	"fmt"
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Accessors for exporters (package onnx) and other code that reads a layer's
// configuration and variables. The nodes' values are the Store's variables:
// reading them gives the current weights.

// Pads resolves the padding for an input of h×w and a kh×kw kernel at
// stride sh×sw: explicit paddings as given, Same() as TensorFlow's "SAME".
func (p Padding) Pads(h, w, kh, kw, sh, sw int) (top, bottom, left, right int) {
	if p.explicit {
		return p.top, p.bottom, p.left, p.right
	}
	top, bottom = samePad(h, kh, sh)
	left, right = samePad(w, kw, sw)
	return
}

// Name is the layer's name, e.g. "conv stem".
func (l *Conv2D) Name() string { return l.name }

// Config is the layer's configuration, defaults applied.
func (l *Conv2D) Config() Conv2DConfig { return l.cfg }

// Weight is the (Out, In, K, K) weight; Bias the (Out) bias or nil.
func (l *Conv2D) Weight() *G.Node { return l.weight }

// Bias is the (Out) bias, or nil without one.
func (l *Conv2D) Bias() *G.Node { return l.bias }

// Name is the layer's name.
func (l *DepthwiseConv2D) Name() string { return l.name }

// Config is the layer's configuration, defaults applied.
func (l *DepthwiseConv2D) Config() DepthwiseConfig { return l.cfg }

// Weight is the (C·M, 1, K, K) weight.
func (l *DepthwiseConv2D) Weight() *G.Node { return l.weight }

// Bias is the (C·M) bias, or nil without one.
func (l *DepthwiseConv2D) Bias() *G.Node { return l.bias }

// Name is the layer's name.
func (l *BatchNorm) Name() string { return l.name }

// Config is the layer's configuration, defaults applied.
func (l *BatchNorm) Config() BatchNormConfig { return l.cfg }

// Scale is the learnable per-channel scale (γ).
func (l *BatchNorm) Scale() *G.Node { return l.scale }

// Shift is the learnable per-channel bias (β).
func (l *BatchNorm) Shift() *G.Node { return l.bias }

// RunningMean is the running mean (state).
func (l *BatchNorm) RunningMean() *Var { return l.runMean }

// RunningVar is the running variance (state).
func (l *BatchNorm) RunningVar() *Var { return l.runVar }

// Name is the layer's name.
func (l *Dense) Name() string { return l.name }

// Config is the layer's configuration.
func (l *Dense) Config() DenseConfig { return l.cfg }

// Weight is the (Out, In) weight.
func (l *Dense) Weight() *G.Node { return l.weight }

// Bias is the (Out) bias, or nil without one.
func (l *Dense) Bias() *G.Node { return l.bias }

// Rate is the dropout rate.
func (l *Dropout) Rate() float64 { return l.rate }

// GlobalAvgPooling is GlobalAvgPool as a Layer, for sequences of layers.
type GlobalAvgPooling struct{}

// Fwd averages each channel over its plane: (N, C, H, W) → (N, C).
func (GlobalAvgPooling) Fwd(x *G.Node) (*G.Node, error) { return GlobalAvgPool(x) }

// Learnables is empty.
func (GlobalAvgPooling) Learnables() G.Nodes { return nil }

// Float32s returns a node's value as float32s (a copy for float64 values),
// for code that reads the weights.
func Float32s(n *G.Node) ([]float32, tensor.Shape, error) {
	if n == nil || n.Value() == nil {
		return nil, nil, fmt.Errorf("node %v has no value", n)
	}
	v := n.Value()
	d, ok := float32s(v.Data())
	if !ok {
		return nil, nil, fmt.Errorf("node %s: value of type %T", n.Name(), v.Data())
	}
	return d, v.Shape().Clone(), nil
}

// Float32s returns the variable's values as float32s (a copy for float64
// variables).
func (v *Var) Float32s() []float32 {
	d, _ := float32s(v.Value.Data())
	return d
}

func float32s(data any) ([]float32, bool) {
	switch d := data.(type) {
	case []float32:
		return d, true
	case []float64:
		r := make([]float32, len(d))
		for i, x := range d {
			r[i] = float32(x)
		}
		return r, true
	}
	return nil, false
}

// FoldCoefficients is, per channel, the affine map the layer applies in
// inference mode (running statistics) to the output z of a convolution
// without its bias convBias (nil: none): act(a·z + b), from the current
// variables, with a = scale/√(var+ε) and b = shift + a·(convBias − mean).
// FoldBatchNorm and the ONNX exporter fold BatchNorms with it.
func (l *BatchNorm) FoldCoefficients(convBias []float32) (a, b []float64, err error) {
	scale, _, err := Float32s(l.scale)
	if err != nil {
		return nil, nil, err
	}
	shift, _, err := Float32s(l.bias)
	if err != nil {
		return nil, nil, err
	}
	c := l.cfg.Channels
	a, b = make([]float64, c), make([]float64, c)
	kernels.FoldCoefficients(a, b, scale, shift, l.runMean.Float32s(), l.runVar.Float32s(), convBias, l.cfg.Epsilon)
	return a, b, nil
}

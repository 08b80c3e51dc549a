package layers

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

// ConvSpec is a convolution layer (*Conv2D, *PointwiseConv2D or
// *DepthwiseConv2D) as code that runs or writes it without a graph reads
// it: exporters (package onnx) and inference plans (package layers/infer).
type ConvSpec struct {
	Name                            string
	In, Out, Kernel, Stride, Groups int // Groups = In: depthwise
	Padding                         Padding
	Weight, Bias                    []float32 // current values, (Out, In/Groups, K, K) and (Out); Bias nil: none
}

// Depthwise reports whether the convolution has one group per input
// channel.
func (s ConvSpec) Depthwise() bool { return s.Groups > 1 && s.Groups == s.In }

// ConvSpecOf reads a convolution layer's configuration and the current
// values of its variables.
func ConvSpecOf(l Layer) (ConvSpec, error) {
	var s ConvSpec
	var weight, bias *G.Node
	switch c := l.(type) {
	case *PointwiseConv2D:
		if c == nil {
			return s, fmt.Errorf("convolution: nil %T", l)
		}
		return ConvSpecOf(&c.Conv2D)
	case *Conv2D:
		if c == nil {
			return s, fmt.Errorf("convolution: nil %T", l)
		}
		cfg := c.Config()
		s = ConvSpec{Name: c.Name(), In: cfg.In, Out: cfg.Out, Kernel: cfg.Kernel, Stride: max(cfg.Stride, 1), Groups: max(cfg.Groups, 1), Padding: cfg.Padding}
		weight, bias = c.Weight(), c.Bias()
	case *DepthwiseConv2D:
		if c == nil {
			return s, fmt.Errorf("convolution: nil %T", l)
		}
		cfg := c.Config()
		s = ConvSpec{Name: c.Name(), In: cfg.Channels, Out: cfg.Channels * max(cfg.Multiplier, 1), Kernel: cfg.Kernel, Stride: max(cfg.Stride, 1), Groups: cfg.Channels, Padding: cfg.Padding}
		weight, bias = c.Weight(), c.Bias()
	default:
		return s, fmt.Errorf("%T is not a convolution", l)
	}
	var err error
	if s.Weight, _, err = Float32s(weight); err == nil && bias != nil {
		s.Bias, _, err = Float32s(bias)
	}
	if err != nil {
		return s, fmt.Errorf("%s: %w", s.Name, err)
	}
	if len(s.Weight) != s.Out*(s.In/s.Groups)*s.Kernel*s.Kernel || (s.Bias != nil && len(s.Bias) != s.Out) {
		return s, fmt.Errorf("%s: variables of the wrong size", s.Name)
	}
	return s, nil
}

// FoldConv returns the convolution's weights and bias with bn, which
// follows it, folded in as FoldBatchNorm folds it: each output channel's
// weights times a = scale/√(var+ε), the bias b = shift + a·(convBias −
// mean); bn's activation is the caller's to apply.
func FoldConv(s ConvSpec, bn *BatchNorm) (weight, bias []float32, err error) {
	if bn == nil {
		return nil, nil, fmt.Errorf("fold %s: no BatchNorm (nil)", s.Name)
	}
	if bn.Config().Channels != s.Out {
		return nil, nil, fmt.Errorf("fold %s: %s has %d channels, the convolution gives %d", s.Name, bn.Name(), bn.Config().Channels, s.Out)
	}
	a, b, err := bn.FoldCoefficients(s.Bias)
	if err != nil {
		return nil, nil, fmt.Errorf("fold %s: %s: %w", s.Name, bn.Name(), err)
	}
	weight, bias = make([]float32, len(s.Weight)), make([]float32, s.Out)
	foldWeights(weight, bias, s.Weight, a, b)
	return weight, bias, nil
}

// foldWeights writes w's output channels scaled by a into dst and b into
// bias (len(a) channels): the folded convolution.
func foldWeights[T Float](dst, bias, w []T, a, b []float64) {
	per := len(w) / len(a)
	for c := range a {
		bias[c] = T(b[c])
		for i, v := range w[c*per : (c+1)*per] {
			dst[c*per+i] = T(a[c] * float64(v))
		}
	}
}

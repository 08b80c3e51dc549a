package layers

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

// The Apply functions make a layer whose input size comes from the node
// it is applied to, and apply it (Keras's functional style, y =
// Conv2D(32, 3)(x)): a network's code states each layer's output size
// once. A size the config does give must agree with the input's.

// inputSize returns x's dimension 1 (channels of (N, C, H, W), features of
// (N, F)), checking it against given (0: not given) and x's rank.
func inputSize(layer string, x *G.Node, given int, ranks ...int) (int, error) {
	if err := checkInput(layer, x); err != nil {
		return 0, err
	}
	s := x.Shape()
	ok := false
	for _, r := range ranks {
		ok = ok || len(s) == r
	}
	if !ok {
		return 0, fmt.Errorf("%s: input shape %v: want %d dimensions", layer, s, ranks[0])
	}
	if given != 0 && given != s[1] {
		return 0, fmt.Errorf("%s: the config says %d input channels, the input %v has %d", layer, given, s, s[1])
	}
	return s[1], nil
}

// ApplyConv2D makes a Conv2D of cfg with cfg.In taken from x (N, C, H, W)
// and applies it to x.
func ApplyConv2D(b *Builder, x *G.Node, cfg Conv2DConfig) (*G.Node, error) {
	var err error
	if cfg.In, err = inputSize("conv2d", x, cfg.In, 4); err != nil {
		return nil, err
	}
	l, err := NewConv2D(b, cfg)
	if err != nil {
		return nil, err
	}
	return l.Fwd(x)
}

// ApplyPointwise makes a PointwiseConv2D of cfg with cfg.In taken from x
// (N, C, H, W) and applies it to x.
func ApplyPointwise(b *Builder, x *G.Node, cfg PointwiseConfig) (*G.Node, error) {
	var err error
	if cfg.In, err = inputSize("pointwise", x, cfg.In, 4); err != nil {
		return nil, err
	}
	l, err := NewPointwiseConv2D(b, cfg)
	if err != nil {
		return nil, err
	}
	return l.Fwd(x)
}

// ApplyDepthwise makes a DepthwiseConv2D of cfg with cfg.Channels taken
// from x (N, C, H, W) and applies it to x.
func ApplyDepthwise(b *Builder, x *G.Node, cfg DepthwiseConfig) (*G.Node, error) {
	var err error
	if cfg.Channels, err = inputSize("depthwise", x, cfg.Channels, 4); err != nil {
		return nil, err
	}
	l, err := NewDepthwiseConv2D(b, cfg)
	if err != nil {
		return nil, err
	}
	return l.Fwd(x)
}

// ApplyBatchNorm makes a BatchNorm of cfg with cfg.Channels taken from x
// ((N, C, H, W) or (N, C)) and applies it to x. A cfg with neither momentum
// nor epsilon gets DefaultBatchNormConfig's (a momentum of 0 would keep
// the running statistics at their initial values for ever), so that
// BatchNormConfig{Activation: ReLU} is PyTorch's BatchNorm2d and a ReLU.
func ApplyBatchNorm(b *Builder, x *G.Node, cfg BatchNormConfig) (*G.Node, error) {
	var err error
	if cfg.Channels, err = inputSize("batchnorm", x, cfg.Channels, 4, 2); err != nil {
		return nil, err
	}
	if cfg.Momentum == 0 && cfg.Epsilon == 0 {
		d := DefaultBatchNormConfig(cfg.Channels)
		cfg.Momentum, cfg.Epsilon = d.Momentum, d.Epsilon
	}
	l, err := NewBatchNorm(b, cfg)
	if err != nil {
		return nil, err
	}
	return l.Fwd(x)
}

// ApplyDense makes a Dense of cfg with cfg.In taken from x (N, F) and
// applies it to x.
func ApplyDense(b *Builder, x *G.Node, cfg DenseConfig) (*G.Node, error) {
	var err error
	if cfg.In, err = inputSize("dense", x, cfg.In, 2); err != nil {
		return nil, err
	}
	l, err := NewDense(b, cfg)
	if err != nil {
		return nil, err
	}
	return l.Fwd(x)
}

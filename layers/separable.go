package layers

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

// SeparableConfig configures a depthwise-separable block.
type SeparableConfig struct {
	In, Out    int           // channels (required)
	Stride     int           // stride of the depthwise convolution (default 1)
	Kernel     int           // depthwise kernel size (default 3)
	Multiplier int           // depth multiplier of the depthwise convolution (default 1)
	Impl       DepthwiseImpl // depthwise implementation (default Fused)
	Activation Activation    // after each BatchNorm (default ReLU; set Linear explicitly with LinearOutput)
	// LinearOutput leaves the pointwise BatchNorm without activation.
	LinearOutput bool
	Momentum     float64 // BatchNorm momentum (default 0.1)
	Epsilon      float64 // BatchNorm epsilon (default 1e-5)
}

// SeparableBlock is MobileNet's depthwise-separable convolution: a K×K
// depthwise convolution (carrying the stride) + BatchNorm + ReLU, then a 1×1
// pointwise convolution + BatchNorm + ReLU. Variables are scoped "dw",
// "dw/bn", "pw" and "pw/bn" under the block's scope.
type SeparableBlock struct {
	DW   *DepthwiseConv2D
	DWBN *BatchNorm
	PW   *PointwiseConv2D
	PWBN *BatchNorm
}

// NewSeparableBlock creates the block's layers in the Builder's scope.
func NewSeparableBlock(b *Builder, cfg SeparableConfig) (*SeparableBlock, error) {
	if cfg.Kernel == 0 {
		cfg.Kernel = 3
	}
	if cfg.Activation == Linear {
		cfg.Activation = ReLU
	}
	outAct := cfg.Activation
	if cfg.LinearOutput {
		outAct = Linear
	}
	var blk SeparableBlock
	var err error
	if blk.DW, err = NewDepthwiseConv2D(b.In("dw"), DepthwiseConfig{Channels: cfg.In, Multiplier: cfg.Multiplier, Kernel: cfg.Kernel, Stride: cfg.Stride, Padding: Pad((cfg.Kernel - 1) / 2), Impl: cfg.Impl}); err != nil {
		return nil, err
	}
	mid := cfg.In * max(cfg.Multiplier, 1)
	if blk.DWBN, err = NewBatchNorm(b.In("dw").In("bn"), BatchNormConfig{Channels: mid, Momentum: cfg.Momentum, Epsilon: cfg.Epsilon, Activation: cfg.Activation}); err != nil {
		return nil, err
	}
	if blk.PW, err = NewPointwiseConv2D(b.In("pw"), PointwiseConfig{In: mid, Out: cfg.Out}); err != nil {
		return nil, err
	}
	if blk.PWBN, err = NewBatchNorm(b.In("pw").In("bn"), BatchNormConfig{Channels: cfg.Out, Momentum: cfg.Momentum, Epsilon: cfg.Epsilon, Activation: outAct}); err != nil {
		return nil, err
	}
	return &blk, nil
}

// Learnables returns the block's learnable nodes.
func (s *SeparableBlock) Learnables() G.Nodes {
	var r G.Nodes
	for _, l := range s.layers() {
		r = append(r, l.Learnables()...)
	}
	return r
}

// Fwd applies the block to x (N, In, H, W).
func (s *SeparableBlock) Fwd(x *G.Node) (*G.Node, error) {
	y := x
	var err error
	for _, l := range s.layers() {
		if y, err = l.Fwd(y); err != nil {
			return nil, fmt.Errorf("separable block: %w", err)
		}
	}
	return y, nil
}

func (s *SeparableBlock) layers() []Layer { return []Layer{s.DW, s.DWBN, s.PW, s.PWBN} }

// FwdInference applies the block for inference, each BatchNorm folded into
// the convolution before it (FoldBatchNorm): two ops instead of four, the
// same result as Fwd in inference mode to float32 rounding, and no
// gradient. With the PerChannel depthwise implementation (the reference
// build) it is Fwd.
func (s *SeparableBlock) FwdInference(x *G.Node) (*G.Node, error) {
	if s.DW.cfg.Impl == PerChannel {
		return s.Fwd(x)
	}
	y, err := FoldBatchNorm(s.DW, s.DWBN, x)
	if err != nil {
		return nil, fmt.Errorf("separable block: %w", err)
	}
	if y, err = FoldBatchNorm(s.PW, s.PWBN, y); err != nil {
		return nil, fmt.Errorf("separable block: %w", err)
	}
	return y, nil
}

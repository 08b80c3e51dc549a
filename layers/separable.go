package layers

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

// SeparableConfig configures a depthwise-separable block. Stride, Kernel
// and Multiplier take the defaults shown when zero (zero is not a size);
// the other fields mean what they say, zero included: start from
// DefaultSeparableConfig for MobileNet's block.
type SeparableConfig struct {
	In, Out    int           // channels (required)
	Stride     int           // stride of the depthwise convolution (0: 1)
	Kernel     int           // depthwise kernel size (0: DefaultKernel)
	Multiplier int           // depth multiplier of the depthwise convolution (0: 1)
	Impl       DepthwiseImpl // depthwise implementation (the zero value is Fused)
	Init       Init          // weight initialisation (the zero value is UniformFanIn)
	Activation Activation    // after each BatchNorm (the zero value is Linear)
	// LinearOutput leaves the pointwise BatchNorm without activation.
	LinearOutput bool
	Momentum     float64 // BatchNorm momentum, as BatchNormConfig
	Epsilon      float64 // BatchNorm epsilon, as BatchNormConfig
}

// DefaultSeparableConfig is MobileNet v1's block: 3×3 depthwise at stride
// 1, ReLU after both BatchNorms, BatchNorm momentum 0.1 and epsilon 1e-5.
func DefaultSeparableConfig(in, out int) SeparableConfig {
	bn := DefaultBatchNormConfig(in)
	return SeparableConfig{In: in, Out: out, Stride: 1, Kernel: DefaultKernel, Multiplier: 1, Activation: ReLU, Momentum: bn.Momentum, Epsilon: bn.Epsilon}
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
	if err := b.check("separable block"); err != nil {
		return nil, err
	}
	cfg.Kernel = kernelOrDefault(cfg.Kernel)
	outAct := cfg.Activation
	if cfg.LinearOutput {
		outAct = Linear
	}
	var blk SeparableBlock
	var err error
	if blk.DW, err = NewDepthwiseConv2D(b.In("dw"), DepthwiseConfig{Channels: cfg.In, Multiplier: cfg.Multiplier, Kernel: cfg.Kernel, Stride: cfg.Stride, Padding: Pad((cfg.Kernel - 1) / 2), Impl: cfg.Impl, Init: cfg.Init}); err != nil {
		return nil, err
	}
	mid := cfg.In * max(cfg.Multiplier, 1)
	if blk.DWBN, err = NewBatchNorm(b.In("dw").In("bn"), BatchNormConfig{Channels: mid, Momentum: cfg.Momentum, Epsilon: cfg.Epsilon, Activation: cfg.Activation}); err != nil {
		return nil, err
	}
	if blk.PW, err = NewPointwiseConv2D(b.In("pw"), PointwiseConfig{In: mid, Out: cfg.Out, Init: cfg.Init}); err != nil {
		return nil, err
	}
	if blk.PWBN, err = NewBatchNorm(b.In("pw").In("bn"), BatchNormConfig{Channels: cfg.Out, Momentum: cfg.Momentum, Epsilon: cfg.Epsilon, Activation: outAct}); err != nil {
		return nil, err
	}
	return &blk, nil
}

// Learnables returns the block's learnable nodes.
func (s *SeparableBlock) Learnables() G.Nodes { return s.seq().Learnables() }

// Fwd applies the block to x (N, In, H, W).
func (s *SeparableBlock) Fwd(x *G.Node) (*G.Node, error) {
	y, err := s.seq().Fwd(x)
	if err != nil {
		return nil, fmt.Errorf("separable block: %w", err)
	}
	return y, nil
}

func (s *SeparableBlock) seq() *Sequential {
	return &Sequential{Layers: []Layer{s.DW, s.DWBN, s.PW, s.PWBN}}
}

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

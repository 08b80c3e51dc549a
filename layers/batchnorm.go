package layers

import (
	"fmt"
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"
	"sync"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BatchNormConfig configures a BatchNorm. Every field means what it says,
// zero included (Momentum 0 keeps the running statistics where they are);
// DefaultBatchNormConfig gives PyTorch's values.
type BatchNormConfig struct {
	Channels int     // C (required)
	Momentum float64 // running = (1-Momentum)·running + Momentum·batch (PyTorch's convention), in [0, 1]
	Epsilon  float64 // added to the variance, ≥ 0
	// Activation fused after the affine transform (the zero value is
	// Linear). Fusing ReLU saves a pass over the activations and a stored
	// tensor.
	Activation Activation
}

// DefaultBatchNormConfig is PyTorch's BatchNorm2d: momentum 0.1, epsilon
// 1e-5, no activation.
func DefaultBatchNormConfig(channels int) BatchNormConfig {
	return BatchNormConfig{Channels: channels, Momentum: 0.1, Epsilon: 1e-5}
}

// BatchNorm normalises each channel of an (N, C, H, W) or (N, C) input:
// y = act(scale·(x − mean)/√(var + ε) + bias). In training mode (the Store's
// Mode) mean and var are the batch statistics over N·H·W (biased variance),
// and the running statistics move towards them (with the unbiased variance,
// as PyTorch); in inference mode the running statistics are used and nothing
// changes. Variables: "<scope>/scale" and "<scope>/bias" (learnable, no
// weight decay), "<scope>/running_mean" and "<scope>/running_var" (state).
type BatchNorm struct {
	name            string
	cfg             BatchNormConfig
	scale, bias     *G.Node
	runMean, runVar *Var
	scaleVar        *Var
	mode            *Mode
	b               *Builder
}

// NewBatchNorm creates the layer's variables in the Builder's scope.
func NewBatchNorm(b *Builder, cfg BatchNormConfig) (*BatchNorm, error) {
	if err := b.check("batchnorm"); err != nil {
		return nil, err
	}
	name := "batchnorm " + b.Scope()
	switch {
	case cfg.Channels <= 0:
		return nil, fmt.Errorf("%s: %d channels: must be positive", name, cfg.Channels)
	case cfg.Momentum < 0 || cfg.Momentum > 1:
		return nil, fmt.Errorf("%s: momentum %g: must be in [0, 1]", name, cfg.Momentum)
	case cfg.Epsilon < 0:
		return nil, fmt.Errorf("%s: epsilon %g: must not be negative", name, cfg.Epsilon)
	case !cfg.Activation.valid():
		return nil, fmt.Errorf("%s: unknown activation %v", name, cfg.Activation)
	}
	l := &BatchNorm{name: name, cfg: cfg, mode: b.Mode(), b: b}
	shape := tensor.Shape{cfg.Channels}
	var err error
	if l.scale, err = b.param("scale", shape, false, constInit(1)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if l.bias, err = b.param("bias", shape, false, constInit(0)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	l.scaleVar = b.s.vars[b.path("scale")]
	if l.runMean, err = b.state("running_mean", shape, constInit(0)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if l.runVar, err = b.state("running_var", shape, constInit(1)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return l, nil
}

// Learnables returns the scale and the bias.
func (l *BatchNorm) Learnables() G.Nodes { return trainable(l.b.s, l.scale, l.bias) }

// Frozen reports whether the layer's parameters are frozen
// (Store.SetTrainable): it then normalises with its running statistics in
// every mode and leaves them unchanged.
func (l *BatchNorm) Frozen() bool { return l.scaleVar.Frozen }

// training reports whether the layer normalises with batch statistics now.
func (l *BatchNorm) training() bool { return l.mode.Training() && !l.Frozen() }

// RunningStats returns the running mean and variance variables.
func (l *BatchNorm) RunningStats() (mean, variance *Var) { return l.runMean, l.runVar }

// Fwd applies the layer to x of shape (N, C, H, W) or (N, C).
func (l *BatchNorm) Fwd(x *G.Node) (*G.Node, error) {
	if err := checkInput(l.name, x); err != nil {
		return nil, err
	}
	xs := x.Shape().Clone()
	if (len(xs) != 4 && len(xs) != 2) || xs[1] != l.cfg.Channels {
		return nil, fmt.Errorf("%s: input shape %v: want (N, %d, H, W) or (N, %d)", l.name, xs, l.cfg.Channels, l.cfg.Channels)
	}
	n, c := xs[0], xs[1]
	inner := xs.TotalSize() / (n * c)
	cs := tensor.Shape{c}
	st := kernels.NewBNState(c)
	params := fmt.Sprintf("%v id%d", xs, l.b.nextID())
	cfg := l.cfg
	k := kernels.BN{Scratch: l.b.reg.scratch, N: n, C: c, Inner: inner, Momentum: cfg.Momentum, Epsilon: cfg.Epsilon, Act: kernels.Act(cfg.Activation), State: st,
		Sums: l.b.reg.sumsFor(x, l.training), Sync: l.b.s.sync.sum}

	gscale := &opSpec{name: "batchnormDscale", params: params, in: []tensor.Shape{xs}, out: cs,
		f32: func(o []float32, _ [][]float32) { kernels.CopyTo(o, st.SumDyXhat) },
		f64: func(o []float64, _ [][]float64) { kernels.CopyTo(o, st.SumDyXhat) }}
	gbias := &opSpec{name: "batchnormDbias", params: params, in: []tensor.Shape{xs}, out: cs,
		f32: func(o []float32, _ [][]float32) { kernels.CopyTo(o, st.SumDy) },
		f64: func(o []float64, _ [][]float64) { kernels.CopyTo(o, st.SumDy) }}
	gx := &opSpec{name: "batchnormDx", params: params, in: []tensor.Shape{xs, cs, cs, xs}, out: xs, overwrite: 4,
		f32: func(o []float32, in [][]float32) { kernels.BNBackward(k, o, in[0], in[1], in[2], in[3]) },
		f64: func(o []float64, in [][]float64) { kernels.BNBackward(k, o, in[0], in[1], in[2], in[3]) }}
	fwd := &opSpec{name: "batchnorm", params: params, in: []tensor.Shape{xs, cs, cs}, out: xs,
		f32: func(o []float32, in [][]float32) {
			kernels.BNForward(k, l.training(), o, in[0], in[1], in[2], l.runMean.Value.Data().([]float32), l.runVar.Value.Data().([]float32))
		},
		f64: func(o []float64, in [][]float64) {
			kernels.BNForward(k, l.training(), o, in[0], in[1], in[2], l.runMean.Value.Data().([]float64), l.runVar.Value.Data().([]float64))
		},
		diffWRT: []bool{true, true, true},
		symDiff: func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
			dx, err := gx.apply(in[0], in[1], in[2], grad)
			if err != nil {
				return nil, err
			}
			// The parameter gradients are sums the input gradient computes;
			// their ops take dx as input so that they run after it.
			ds, err := gscale.apply(dx)
			if err != nil {
				return nil, err
			}
			db, err := gbias.apply(dx)
			if err != nil {
				return nil, err
			}
			return G.Nodes{dx, ds, db}, nil
		}}
	y, err := fwd.apply(x, l.scale, l.bias)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	return y, nil
}

// bnSync is a Store's synchronised BatchNorm: the function that sums
// per-channel sums across ranks, and the first error it returned.
type bnSync struct {
	mu  sync.Mutex
	all func([]float64) error
	err error
}

// sum sums v across ranks when SyncBatchNorm set a function, and reports
// whether it did (an error is kept for SyncBatchNormErr, and v is left
// this rank's).
func (s *bnSync) sum(v []float64) bool {
	s.mu.Lock()
	all := s.all
	s.mu.Unlock()
	if all == nil {
		return false
	}
	if err := all(v); err != nil {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
		return false
	}
	return true
}

// SyncBatchNorm makes every BatchNorm of the Store's graphs, in training,
// normalise with the statistics of the whole batch of a data-parallel job
// (PyTorch's SyncBatchNorm): all sums a vector across the job's ranks in
// place (dist.Comm's AllreduceSum64), and every rank must run the same
// graph in step, as it does the gradient all-reduce. The forward pass
// exchanges Σx and Σx², the backward pass the sums of the input gradient;
// the running statistics are then the same on every rank. nil turns it
// off: each rank normalises with its own part of the batch, as
// DistributedDataParallel does by default.
func (s *Store) SyncBatchNorm(all func(v []float64) error) {
	s.sync.mu.Lock()
	s.sync.all, s.sync.err = all, nil
	s.sync.mu.Unlock()
}

// SyncBatchNormErr returns, and clears, the first error SyncBatchNorm's
// function returned since the last call: a step that ran with it used
// this rank's statistics where the exchange failed, and must not count.
func (s *Store) SyncBatchNormErr() error {
	s.sync.mu.Lock()
	defer s.sync.mu.Unlock()
	err := s.sync.err
	s.sync.err = nil
	return err
}

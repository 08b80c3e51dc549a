package layers

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BatchNormConfig configures a BatchNorm. Zero fields take the defaults.
type BatchNormConfig struct {
	Channels int     // C (required)
	Momentum float64 // running = (1-Momentum)·running + Momentum·batch (PyTorch's convention); default 0.1
	Epsilon  float64 // added to the variance; default 1e-5
	// Activation fused after the affine transform (default Linear). Fusing
	// ReLU saves a pass over the activations and a stored tensor.
	Activation Activation
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
	mode            *Mode
	b               *Builder
}

// NewBatchNorm creates the layer's variables in the Builder's scope.
func NewBatchNorm(b *Builder, cfg BatchNormConfig) (*BatchNorm, error) {
	name := "batchnorm " + b.Scope()
	if cfg.Momentum == 0 {
		cfg.Momentum = 0.1
	}
	if cfg.Epsilon == 0 {
		cfg.Epsilon = 1e-5
	}
	switch {
	case cfg.Channels <= 0:
		return nil, fmt.Errorf("%s: %d channels: must be positive", name, cfg.Channels)
	case cfg.Momentum < 0 || cfg.Momentum > 1:
		return nil, fmt.Errorf("%s: momentum %g: must be in [0, 1]", name, cfg.Momentum)
	case cfg.Epsilon < 0:
		return nil, fmt.Errorf("%s: epsilon %g: must be positive", name, cfg.Epsilon)
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
	if l.runMean, err = b.state("running_mean", shape, constInit(0)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if l.runVar, err = b.state("running_var", shape, constInit(1)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return l, nil
}

// Learnables returns the scale and the bias.
func (l *BatchNorm) Learnables() G.Nodes { return G.Nodes{l.scale, l.bias} }

// RunningStats returns the running mean and variance variables.
func (l *BatchNorm) RunningStats() (mean, variance *Var) { return l.runMean, l.runVar }

// bnState is shared by one application's forward and backward ops: the
// statistics the forward used, and the sums the input gradient computed.
type bnState struct {
	training     bool
	mean, invstd []float64 // per channel, as used by the last forward
	sumDy        []float64 // Σ dy' (the bias gradient)
	sumDyXhat    []float64 // Σ dy'·x̂ (the scale gradient)
}

// Fwd applies the layer to x of shape (N, C, H, W) or (N, C).
func (l *BatchNorm) Fwd(x *G.Node) (*G.Node, error) {
	xs := x.Shape().Clone()
	if (len(xs) != 4 && len(xs) != 2) || xs[1] != l.cfg.Channels {
		return nil, fmt.Errorf("%s: input shape %v: want (N, %d, H, W) or (N, %d)", l.name, xs, l.cfg.Channels, l.cfg.Channels)
	}
	n, c := xs[0], xs[1]
	inner := xs.TotalSize() / (n * c)
	cs := tensor.Shape{c}
	st := &bnState{mean: make([]float64, c), invstd: make([]float64, c), sumDy: make([]float64, c), sumDyXhat: make([]float64, c)}
	params := fmt.Sprintf("%v id%d", xs, l.b.nextID())
	cfg, mode := l.cfg, l.mode
	k := bnKernel{n: n, c: c, inner: inner, cfg: cfg, st: st}

	gscale := &opSpec{name: "batchnormDscale", params: params, in: []tensor.Shape{xs}, out: cs,
		f32: func(o []float32, _ [][]float32) { copyTo(o, st.sumDyXhat) },
		f64: func(o []float64, _ [][]float64) { copyTo(o, st.sumDyXhat) }}
	gbias := &opSpec{name: "batchnormDbias", params: params, in: []tensor.Shape{xs}, out: cs,
		f32: func(o []float32, _ [][]float32) { copyTo(o, st.sumDy) },
		f64: func(o []float64, _ [][]float64) { copyTo(o, st.sumDy) }}
	gx := &opSpec{name: "batchnormDx", params: params, in: []tensor.Shape{xs, cs, cs, xs}, out: xs,
		f32: func(o []float32, in [][]float32) { bnBackward(k, o, in[0], in[1], in[2], in[3]) },
		f64: func(o []float64, in [][]float64) { bnBackward(k, o, in[0], in[1], in[2], in[3]) }}
	fwd := &opSpec{name: "batchnorm", params: params, in: []tensor.Shape{xs, cs, cs}, out: xs,
		f32: func(o []float32, in [][]float32) {
			bnForward(k, mode.Training(), o, in[0], in[1], in[2], l.runMean.Value.Data().([]float32), l.runVar.Value.Data().([]float32))
		},
		f64: func(o []float64, in [][]float64) {
			bnForward(k, mode.Training(), o, in[0], in[1], in[2], l.runMean.Value.Data().([]float64), l.runVar.Value.Data().([]float64))
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

func copyTo[T Float](dst []T, src []float64) {
	for i, v := range src {
		dst[i] = T(v)
	}
}

type bnKernel struct {
	n, c, inner int
	cfg         BatchNormConfig
	st          *bnState
}

func bnForward[T Float](k bnKernel, training bool, y, x, scale, bias, runMean, runVar []T) {
	st := k.st
	st.training = training
	count := float64(k.n * k.inner)
	mom := k.cfg.Momentum
	parallelFor(k.c, 1, func(c0, c1 int) {
		for c := c0; c < c1; c++ {
			var mean, invstd float64
			if training {
				var s float64
				for i := 0; i < k.n; i++ {
					o := (i*k.c + c) * k.inner
					s += sum(x[o : o+k.inner])
				}
				mean = s / count
				var v float64
				for i := 0; i < k.n; i++ {
					o := (i*k.c + c) * k.inner
					v += sqDev(x[o:o+k.inner], mean)
				}
				variance := v / count
				invstd = 1 / math.Sqrt(variance+k.cfg.Epsilon)
				unbiased := variance
				if count > 1 {
					unbiased = v / (count - 1)
				}
				runMean[c] = T((1-mom)*float64(runMean[c]) + mom*mean)
				runVar[c] = T((1-mom)*float64(runVar[c]) + mom*unbiased)
			} else {
				mean = float64(runMean[c])
				invstd = 1 / math.Sqrt(float64(runVar[c])+k.cfg.Epsilon)
			}
			st.mean[c], st.invstd[c] = mean, invstd
			// y = act(a·x + b) with a = scale·invstd, b = bias − a·mean.
			a := T(float64(scale[c]) * invstd)
			b := T(float64(bias[c]) - float64(scale[c])*invstd*mean)
			for i := 0; i < k.n; i++ {
				o := (i*k.c + c) * k.inner
				affineAct(k.cfg.Activation, y[o:o+k.inner], x[o:o+k.inner], a, b)
			}
		}
	})
}

func sum[T Float](x []T) float64 {
	var s0, s1, s2, s3 T
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i]
		s1 += x[i+1]
		s2 += x[i+2]
		s3 += x[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i]
	}
	return float64(s0) + float64(s1) + float64(s2) + float64(s3)
}

func sqDev[T Float](x []T, mean float64) float64 {
	m := T(mean)
	var s0, s1 T
	i := 0
	for ; i+2 <= len(x); i += 2 {
		d0, d1 := x[i]-m, x[i+1]-m
		s0 += d0 * d0
		s1 += d1 * d1
	}
	for ; i < len(x); i++ {
		d := x[i] - m
		s0 += d * d
	}
	return float64(s0) + float64(s1)
}

func affineAct[T Float](act Activation, y, x []T, a, b T) {
	y = y[:len(x)]
	switch act {
	case ReLU:
		for i, v := range x {
			y[i] = max(a*v+b, 0)
		}
	case ReLU6:
		for i, v := range x {
			y[i] = min(max(a*v+b, 0), 6)
		}
	default:
		for i, v := range x {
			y[i] = a*v + b
		}
	}
}

// bnBackward computes dx and leaves Σdy' and Σdy'·x̂ (the bias and scale
// gradients) in the state; dy' is dy through the fused activation.
func bnBackward[T Float](k bnKernel, dx, x, scale, bias, dy []T) {
	st := k.st
	count := float64(k.n * k.inner)
	act := k.cfg.Activation
	parallelFor(k.c, 1, func(c0, c1 int) {
		for c := c0; c < c1; c++ {
			mean, invstd := st.mean[c], st.invstd[c]
			a := T(float64(scale[c]) * invstd)
			b := T(float64(bias[c]) - float64(scale[c])*invstd*mean)
			m := T(mean)
			// Pass 1: dy' into dx (as scratch), and the two sums.
			var sdy, sdyx float64
			for i := 0; i < k.n; i++ {
				o := (i*k.c + c) * k.inner
				xs, ds, gs := x[o:o+k.inner], dy[o:o+k.inner], dx[o:o+k.inner]
				var s0, s1 T
				for j, v := range xs {
					g := ds[j]
					if act != Linear && !passes(act, a*v+b) {
						g = 0
					}
					gs[j] = g
					s0 += g
					s1 += g * (v - m)
				}
				sdy += float64(s0)
				sdyx += float64(s1)
			}
			sdyx *= invstd // Σ dy'·x̂
			st.sumDy[c], st.sumDyXhat[c] = sdy, sdyx
			// Pass 2: dx = scale·invstd·(dy' − Σdy'/M − x̂·Σdy'x̂/M) in training,
			// scale·invstd·dy' in inference (the statistics are constants).
			if !st.training {
				for i := 0; i < k.n; i++ {
					o := (i*k.c + c) * k.inner
					gs := dx[o : o+k.inner]
					for j := range gs {
						gs[j] *= a
					}
				}
				continue
			}
			c1 := T(sdy / count)
			c2 := T(sdyx / count * invstd)
			for i := 0; i < k.n; i++ {
				o := (i*k.c + c) * k.inner
				xs, gs := x[o:o+k.inner], dx[o:o+k.inner]
				for j, v := range xs {
					gs[j] = a * (gs[j] - c1 - (v-m)*c2)
				}
			}
		}
	})
}

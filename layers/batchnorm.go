package layers

import (
	"fmt"
	"math"

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
func (l *BatchNorm) Learnables() G.Nodes { return G.Nodes{l.scale, l.bias} }

// Frozen reports whether the layer's parameters are frozen
// (Store.SetTrainable): it then normalises with its running statistics in
// every mode and leaves them unchanged.
func (l *BatchNorm) Frozen() bool { return l.scaleVar.Frozen }

// training reports whether the layer normalises with batch statistics now.
func (l *BatchNorm) training() bool { return l.mode.Training() && !l.Frozen() }

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
	cfg := l.cfg
	k := bnKernel{sc: l.b.reg.scratch, n: n, c: c, inner: inner, cfg: cfg, st: st}

	gscale := &opSpec{name: "batchnormDscale", params: params, in: []tensor.Shape{xs}, out: cs,
		f32: func(o []float32, _ [][]float32) { copyTo(o, st.sumDyXhat) },
		f64: func(o []float64, _ [][]float64) { copyTo(o, st.sumDyXhat) }}
	gbias := &opSpec{name: "batchnormDbias", params: params, in: []tensor.Shape{xs}, out: cs,
		f32: func(o []float32, _ [][]float32) { copyTo(o, st.sumDy) },
		f64: func(o []float64, _ [][]float64) { copyTo(o, st.sumDy) }}
	gx := &opSpec{name: "batchnormDx", params: params, in: []tensor.Shape{xs, cs, cs, xs}, out: xs, overwrite: 4,
		f32: func(o []float32, in [][]float32) { bnBackward(k, o, in[0], in[1], in[2], in[3]) },
		f64: func(o []float64, in [][]float64) { bnBackward(k, o, in[0], in[1], in[2], in[3]) }}
	fwd := &opSpec{name: "batchnorm", params: params, in: []tensor.Shape{xs, cs, cs}, out: xs,
		f32: func(o []float32, in [][]float32) {
			bnForward(k, l.training(), o, in[0], in[1], in[2], l.runMean.Value.Data().([]float32), l.runVar.Value.Data().([]float32))
		},
		f64: func(o []float64, in [][]float64) {
			bnForward(k, l.training(), o, in[0], in[1], in[2], l.runMean.Value.Data().([]float64), l.runVar.Value.Data().([]float64))
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

// bnAffine returns, per channel, the map the last forward applied before its
// activation, y = a·x + b with a = scale·invstd and b = bias − a·mean, and
// the mean itself, in the kernels' element type.
func bnAffine[T Float](st *bnState, scale, bias []T) (a, b, m []T) {
	c := len(scale)
	a, b, m = make([]T, c), make([]T, c), make([]T, c)
	for i := range c {
		a[i] = T(float64(scale[i]) * st.invstd[i])
		b[i] = T(float64(bias[i]) - float64(scale[i])*st.invstd[i]*st.mean[i])
		m[i] = T(st.mean[i])
	}
	return a, b, m
}

func copyTo[T Float](dst []T, src []float64) {
	for i, v := range src {
		dst[i] = T(v)
	}
}

type bnKernel struct {
	sc          *scratch
	n, c, inner int
	cfg         BatchNormConfig
	st          *bnState
}

// The kernels walk the (n, c) planes in memory order, in parallel: per-plane
// partial sums first, reduced per channel, then a second pass that writes.
// (Walking one channel at a time strides through memory and ran 3-4× slower.)

// planeSums returns, per channel, Σ f(plane) over the batch, f giving two sums.
func planeSums(k bnKernel, f func(p, c int) (float64, float64)) (s0, s1 []float64) {
	np := k.n * k.c
	p0, p1 := buffer[float64](k.sc, roleBNSums64, 0, np), buffer[float64](k.sc, roleBNSums64, 1, np)
	parallelFor(np, max(1, 4096/max(k.inner, 1)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			p0[p], p1[p] = f(p, p%k.c)
		}
	})
	s0, s1 = make([]float64, k.c), make([]float64, k.c)
	for p := range p0 {
		s0[p%k.c] += p0[p]
		s1[p%k.c] += p1[p]
	}
	return s0, s1
}

// planes32 reports whether the many-planes float32 kernels apply: small
// planes (a multiple of 4 floats, at most 64), where per-plane calls would
// cost more than the arithmetic.
func (k bnKernel) planes32() bool { return haveAVX2 && k.inner%4 == 0 && k.inner <= 64 }

// planeSums32 is planeSums for the many-planes kernels: f fills the float32
// sums of planes [lo, hi).
func planeSums32(k bnKernel, f func(lo, hi int, p0, p1 []float32)) (s0, s1 []float64) {
	np := k.n * k.c
	p0, p1 := buffer[float32](k.sc, roleBNSums32, 0, np), buffer[float32](k.sc, roleBNSums32, 1, np)
	parallelFor(np, max(1, 4096/k.inner), func(lo, hi int) { f(lo, hi, p0[lo:hi], p1[lo:hi]) })
	s0, s1 = make([]float64, k.c), make([]float64, k.c)
	for p, c := 0, 0; p < np; p++ {
		s0[c] += float64(p0[p])
		s1[c] += float64(p1[p])
		if c++; c == k.c {
			c = 0
		}
	}
	return s0, s1
}

func bnForward[T Float](k bnKernel, training bool, y, x, scale, bias, runMean, runVar []T) {
	st := k.st
	st.training = training
	count := float64(k.n * k.inner)
	mom := k.cfg.Momentum
	if training {
		// Shifted sums (around the first value of each channel) keep the
		// one-pass variance accurate.
		shift := make([]float64, k.c)
		for c := range shift {
			shift[c] = float64(x[c*k.inner])
		}
		var s, ss []float64
		if x32, ok := any(x).([]float32); ok && k.planes32() {
			sh := make([]float32, k.c)
			for c := range sh {
				sh[c] = float32(shift[c])
			}
			s, ss = planeSums32(k, func(lo, hi int, p0, p1 []float32) {
				sumSqPlanesAVX2(x32[lo*k.inner:hi*k.inner], sh, p0, p1, k.inner, lo%k.c, k.c)
			})
		} else {
			s, ss = planeSums(k, func(p, c int) (float64, float64) {
				return sumSq(x[p*k.inner:(p+1)*k.inner], T(shift[c]))
			})
		}
		for c := 0; c < k.c; c++ {
			m := s[c] / count
			v := max(ss[c]/count-m*m, 0)
			mean := shift[c] + m
			st.mean[c], st.invstd[c] = mean, 1/math.Sqrt(v+k.cfg.Epsilon)
			unbiased := v
			if count > 1 {
				unbiased = v * count / (count - 1)
			}
			runMean[c] = T((1-mom)*float64(runMean[c]) + mom*mean)
			runVar[c] = T((1-mom)*float64(runVar[c]) + mom*unbiased)
		}
	} else {
		for c := 0; c < k.c; c++ {
			st.mean[c], st.invstd[c] = float64(runMean[c]), 1/math.Sqrt(float64(runVar[c])+k.cfg.Epsilon)
		}
	}
	a, b, _ := bnAffine(st, scale, bias)
	if y32, ok := any(y).([]float32); ok && k.planes32() && k.cfg.Activation == ReLU {
		x32, a32, b32 := any(x).([]float32), any(a).([]float32), any(b).([]float32)
		parallelFor(k.n*k.c, max(1, 4096/k.inner), func(lo, hi int) {
			affineReLUPlanesAVX2(y32[lo*k.inner:hi*k.inner], x32[lo*k.inner:hi*k.inner], a32, b32, k.inner, lo%k.c, k.c, hi-lo)
		})
		return
	}
	parallelFor(k.n*k.c, max(1, 4096/max(k.inner, 1)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			c := p % k.c
			affineAct(k.cfg.Activation, y[p*k.inner:(p+1)*k.inner], x[p*k.inner:(p+1)*k.inner], a[c], b[c])
		}
	})
}

// sumSq returns Σ(x−s) and Σ(x−s)².
func sumSq[T Float](x []T, s T) (float64, float64) {
	if x32, ok := any(x).([]float32); ok {
		return sumSq32(x32, float32(s))
	}
	return sumSqGo(x, s)
}

func affineAct[T Float](act Activation, y, x []T, a, b T) {
	if y32, ok := any(y).([]float32); ok && act == ReLU {
		affineReLU32(y32, any(x).([]float32), float32(a), float32(b))
		return
	}
	y = y[:len(x)]
	for i, v := range x {
		y[i] = activate(act, a*v+b)
	}
}

// bnSums returns Σg and Σg·(x−m) for g = dy through the activation's
// gradient at a·x+b.
func bnSums[T Float](act Activation, x, dy []T, a, b, m T) (float64, float64) {
	if x32, ok := any(x).([]float32); ok && act == ReLU {
		return reluSums32(x32, any(dy).([]float32), float32(a), float32(b), float32(m))
	}
	dy = dy[:len(x)]
	var s0, s1 T
	for j, v := range x {
		if passes(act, a*v+b) {
			s0 += dy[j]
			s1 += dy[j] * (v - m)
		}
	}
	return float64(s0), float64(s1)
}

// bnApply writes dx = a·(g − k1 − (x−m)·k2), g = dy through the
// activation's gradient at a·x+b.
func bnApply[T Float](act Activation, dx, x, dy []T, a, b, m, k1, k2 T) {
	if x32, ok := any(x).([]float32); ok && act == ReLU {
		reluApply32(any(dx).([]float32), x32, any(dy).([]float32), float32(a), float32(b), float32(m), float32(k1), float32(k2))
		return
	}
	dx, dy = dx[:len(x)], dy[:len(x)]
	for j, v := range x {
		var g T
		if passes(act, a*v+b) {
			g = dy[j]
		}
		dx[j] = a * (g - k1 - (v-m)*k2)
	}
}

// bnBackward computes dx and leaves Σdy' and Σdy'·x̂ (the bias and scale
// gradients) in the state; dy' is dy through the fused activation.
func bnBackward[T Float](k bnKernel, dx, x, scale, bias, dy []T) {
	st := k.st
	count := float64(k.n * k.inner)
	a, b, m := bnAffine(st, scale, bias)
	// Pass 1 (reads only): Σdy' and Σdy'·(x−mean).
	var sdy, sdyx []float64
	x32, fast := any(x).([]float32)
	fast = fast && k.planes32() && k.cfg.Activation == ReLU
	if fast {
		dy32, a32, b32, m32 := any(dy).([]float32), any(a).([]float32), any(b).([]float32), any(m).([]float32)
		sdy, sdyx = planeSums32(k, func(lo, hi int, p0, p1 []float32) {
			reluSumsPlanesAVX2(x32[lo*k.inner:hi*k.inner], dy32[lo*k.inner:hi*k.inner], a32, b32, m32, p0, p1, k.inner, lo%k.c, k.c)
		})
	} else {
		sdy, sdyx = planeSums(k, func(p, c int) (float64, float64) {
			return bnSums(k.cfg.Activation, x[p*k.inner:(p+1)*k.inner], dy[p*k.inner:(p+1)*k.inner], a[c], b[c], m[c])
		})
	}
	c1, c2 := make([]T, k.c), make([]T, k.c)
	for c := 0; c < k.c; c++ {
		sdyx[c] *= st.invstd[c] // Σ dy'·x̂
		st.sumDy[c], st.sumDyXhat[c] = sdy[c], sdyx[c]
		if st.training {
			c1[c] = T(sdy[c] / count)
			c2[c] = T(sdyx[c] / count * st.invstd[c])
		}
	}
	// Pass 2: dx = scale·invstd·(dy' − Σdy'/M − x̂·Σdy'x̂/M) in training;
	// scale·invstd·dy' in inference (the statistics are constants there:
	// c1 = c2 = 0).
	if fast {
		dx32, dy32 := any(dx).([]float32), any(dy).([]float32)
		a32, b32, m32, k1, k2 := any(a).([]float32), any(b).([]float32), any(m).([]float32), any(c1).([]float32), any(c2).([]float32)
		parallelFor(k.n*k.c, max(1, 4096/k.inner), func(lo, hi int) {
			reluApplyPlanesAVX2(dx32[lo*k.inner:hi*k.inner], x32[lo*k.inner:hi*k.inner], dy32[lo*k.inner:hi*k.inner], a32, b32, m32, k1, k2, k.inner, lo%k.c, k.c, hi-lo)
		})
		return
	}
	parallelFor(k.n*k.c, max(1, 4096/max(k.inner, 1)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			c := p % k.c
			lo, hi := p*k.inner, (p+1)*k.inner
			bnApply(k.cfg.Activation, dx[lo:hi], x[lo:hi], dy[lo:hi], a[c], b[c], m[c], c1[c], c2[c])
		}
	})
}

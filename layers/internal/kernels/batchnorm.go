package kernels

import "math"

// BNState is shared by one application's forward and backward ops: the
// statistics the forward used, and the sums the input gradient computed.
type BNState struct {
	Training     bool
	Mean, Invstd []float64 // per channel, as used by the last forward
	SumDy        []float64 // Σ dy' (the bias gradient)
	SumDyXhat    []float64 // Σ dy'·x̂ (the scale gradient)
}

// NewBNState returns the state of c channels.
func NewBNState(c int) *BNState {
	return &BNState{Mean: make([]float64, c), Invstd: make([]float64, c), SumDy: make([]float64, c), SumDyXhat: make([]float64, c)}
}

// bnAffine returns, per channel, the map the last forward applied before its
// activation, y = a·x + b with a = scale·invstd and b = bias − a·mean, and
// the mean itself, in the kernels' element type.
func bnAffine[T Float](st *BNState, scale, bias []T) (a, b, m []T) {
	c := len(scale)
	a, b, m = make([]T, c), make([]T, c), make([]T, c)
	for i := range c {
		a[i] = T(float64(scale[i]) * st.Invstd[i])
		b[i] = T(float64(bias[i]) - float64(scale[i])*st.Invstd[i]*st.Mean[i])
		m[i] = T(st.Mean[i])
	}
	return a, b, m
}

// CopyTo converts src into dst.
func CopyTo[T Float](dst []T, src []float64) {
	for i, v := range src {
		dst[i] = T(v)
	}
}

// BN describes one BatchNorm application: N samples of C channels of Inner
// elements (H·W, or 1), the momentum of the running statistics, epsilon,
// the fused activation, the state shared by the forward and backward
// kernels and the graph's scratch buffers.
type BN struct {
	Scratch     *Scratch
	N, C, Inner int
	Momentum    float64
	Epsilon     float64
	Act         Act
	State       *BNState
}

// The kernels walk the (n, c) planes in memory order, in parallel: per-plane
// partial sums first, reduced per channel, then a second pass that writes.
// (Walking one channel at a time strides through memory and ran 3-4× slower.)

// planeSums returns, per channel, Σ f(plane) over the batch, f giving two sums.
func planeSums(k BN, f func(p, c int) (float64, float64)) (s0, s1 []float64) {
	np := k.N * k.C
	p0, p1 := Buffer[float64](k.Scratch, roleBNSums64, 0, np), Buffer[float64](k.Scratch, roleBNSums64, 1, np)
	ParallelFor(np, max(1, 4096/max(k.Inner, 1)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			p0[p], p1[p] = f(p, p%k.C)
		}
	})
	s0, s1 = make([]float64, k.C), make([]float64, k.C)
	for p := range p0 {
		s0[p%k.C] += p0[p]
		s1[p%k.C] += p1[p]
	}
	return s0, s1
}

// planeSums32 is planeSums for the many-planes kernels: f fills the float32
// sums of planes [lo, hi).
func planeSums32(k BN, f func(lo, hi int, p0, p1 []float32)) (s0, s1 []float64) {
	np := k.N * k.C
	p0, p1 := Buffer[float32](k.Scratch, roleBNSums32, 0, np), Buffer[float32](k.Scratch, roleBNSums32, 1, np)
	ParallelFor(np, max(1, 4096/k.Inner), func(lo, hi int) { f(lo, hi, p0[lo:hi], p1[lo:hi]) })
	s0, s1 = make([]float64, k.C), make([]float64, k.C)
	for p, c := 0, 0; p < np; p++ {
		s0[c] += float64(p0[p])
		s1[c] += float64(p1[p])
		if c++; c == k.C {
			c = 0
		}
	}
	return s0, s1
}

func BNForward[T Float](k BN, training bool, y, x, scale, bias, runMean, runVar []T) {
	st := k.State
	st.Training = training
	count := float64(k.N * k.Inner)
	mom := k.Momentum
	if training {
		// Shifted sums (around the first value of each channel) keep the
		// one-pass variance accurate.
		shift := make([]float64, k.C)
		for c := range shift {
			shift[c] = float64(x[c*k.Inner])
		}
		var s, ss []float64
		if x32, ok := any(x).([]float32); ok && manyPlanes(k.Inner) {
			sh := make([]float32, k.C)
			for c := range sh {
				sh[c] = float32(shift[c])
			}
			s, ss = planeSums32(k, func(lo, hi int, p0, p1 []float32) {
				sumSqPlanesAVX2(x32[lo*k.Inner:hi*k.Inner], sh, p0, p1, k.Inner, lo%k.C, k.C)
			})
		} else {
			s, ss = planeSums(k, func(p, c int) (float64, float64) {
				return sumSq(x[p*k.Inner:(p+1)*k.Inner], T(shift[c]))
			})
		}
		for c := 0; c < k.C; c++ {
			m := s[c] / count
			v := max(ss[c]/count-m*m, 0)
			mean := shift[c] + m
			st.Mean[c], st.Invstd[c] = mean, 1/math.Sqrt(v+k.Epsilon)
			unbiased := v
			if count > 1 {
				unbiased = v * count / (count - 1)
			}
			runMean[c] = T((1-mom)*float64(runMean[c]) + mom*mean)
			runVar[c] = T((1-mom)*float64(runVar[c]) + mom*unbiased)
		}
	} else {
		for c := 0; c < k.C; c++ {
			st.Mean[c], st.Invstd[c] = float64(runMean[c]), 1/math.Sqrt(float64(runVar[c])+k.Epsilon)
		}
	}
	a, b, _ := bnAffine(st, scale, bias)
	if y32, ok := any(y).([]float32); ok && manyPlanes(k.Inner) && k.Act == ReLU {
		x32, a32, b32 := any(x).([]float32), any(a).([]float32), any(b).([]float32)
		ParallelFor(k.N*k.C, max(1, 4096/k.Inner), func(lo, hi int) {
			affineReLUPlanesAVX2(y32[lo*k.Inner:hi*k.Inner], x32[lo*k.Inner:hi*k.Inner], a32, b32, k.Inner, lo%k.C, k.C, hi-lo)
		})
		return
	}
	ParallelFor(k.N*k.C, max(1, 4096/max(k.Inner, 1)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			c := p % k.C
			affineAct(k.Act, y[p*k.Inner:(p+1)*k.Inner], x[p*k.Inner:(p+1)*k.Inner], a[c], b[c])
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

func affineAct[T Float](act Act, y, x []T, a, b T) {
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
func bnSums[T Float](act Act, x, dy []T, a, b, m T) (float64, float64) {
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
func bnApply[T Float](act Act, dx, x, dy []T, a, b, m, k1, k2 T) {
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

// BNBackward computes dx and leaves Σdy' and Σdy'·x̂ (the bias and scale
// gradients) in the state; dy' is dy through the fused activation.
func BNBackward[T Float](k BN, dx, x, scale, bias, dy []T) {
	st := k.State
	count := float64(k.N * k.Inner)
	a, b, m := bnAffine(st, scale, bias)
	// Pass 1 (reads only): Σdy' and Σdy'·(x−mean).
	var sdy, sdyx []float64
	x32, fast := any(x).([]float32)
	fast = fast && manyPlanes(k.Inner) && k.Act == ReLU
	if fast {
		dy32, a32, b32, m32 := any(dy).([]float32), any(a).([]float32), any(b).([]float32), any(m).([]float32)
		sdy, sdyx = planeSums32(k, func(lo, hi int, p0, p1 []float32) {
			reluSumsPlanesAVX2(x32[lo*k.Inner:hi*k.Inner], dy32[lo*k.Inner:hi*k.Inner], a32, b32, m32, p0, p1, k.Inner, lo%k.C, k.C)
		})
	} else {
		sdy, sdyx = planeSums(k, func(p, c int) (float64, float64) {
			return bnSums(k.Act, x[p*k.Inner:(p+1)*k.Inner], dy[p*k.Inner:(p+1)*k.Inner], a[c], b[c], m[c])
		})
	}
	c1, c2 := make([]T, k.C), make([]T, k.C)
	for c := 0; c < k.C; c++ {
		sdyx[c] *= st.Invstd[c] // Σ dy'·x̂
		st.SumDy[c], st.SumDyXhat[c] = sdy[c], sdyx[c]
		if st.Training {
			c1[c] = T(sdy[c] / count)
			c2[c] = T(sdyx[c] / count * st.Invstd[c])
		}
	}
	// Pass 2: dx = scale·invstd·(dy' − Σdy'/M − x̂·Σdy'x̂/M) in training;
	// scale·invstd·dy' in inference (the statistics are constants there:
	// c1 = c2 = 0).
	if fast {
		dx32, dy32 := any(dx).([]float32), any(dy).([]float32)
		a32, b32, m32, k1, k2 := any(a).([]float32), any(b).([]float32), any(m).([]float32), any(c1).([]float32), any(c2).([]float32)
		ParallelFor(k.N*k.C, max(1, 4096/k.Inner), func(lo, hi int) {
			reluApplyPlanesAVX2(dx32[lo*k.Inner:hi*k.Inner], x32[lo*k.Inner:hi*k.Inner], dy32[lo*k.Inner:hi*k.Inner], a32, b32, m32, k1, k2, k.Inner, lo%k.C, k.C, hi-lo)
		})
		return
	}
	ParallelFor(k.N*k.C, max(1, 4096/max(k.Inner, 1)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			c := p % k.C
			lo, hi := p*k.Inner, (p+1)*k.Inner
			bnApply(k.Act, dx[lo:hi], x[lo:hi], dy[lo:hi], a[c], b[c], m[c], c1[c], c2[c])
		}
	})
}

package kernels

import "math"

// BNState is shared by one application's forward and backward ops: the
// statistics the forward used, and the sums the input gradient computed.
type BNState struct {
	Training     bool
	Count        float64   // values per channel the training statistics are over (all ranks')
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
	// Sums, when not nil, returns the sums the producing convolution's
	// epilogue measured of this run's input (nil: none), which training
	// then uses instead of a pass over the input of its own.
	Sums func() *PlaneStats
	// Sync, when not nil, sums per-channel sums across the ranks of a
	// data-parallel job in place and reports whether it did (synchronised
	// BatchNorm): training then normalises with the statistics of the
	// whole distributed batch, and the input gradient uses the whole
	// batch's sums. The parameter gradients (State.SumDy, SumDyXhat) stay
	// this rank's, as the data-parallel all-reduce of gradients sums them.
	Sync func(sums []float64) bool
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
	if training {
		mean, variance := batchMoments(k, x)
		count := float64(k.N * k.Inner)
		if k.Sync != nil {
			count = syncMoments(k, mean, variance, count)
		}
		st.Count = count
		mom := k.Momentum
		for c := range k.C {
			st.Mean[c], st.Invstd[c] = mean[c], 1/math.Sqrt(variance[c]+k.Epsilon)
			unbiased := variance[c]
			if count > 1 {
				unbiased = variance[c] * count / (count - 1)
			}
			runMean[c] = T((1-mom)*float64(runMean[c]) + mom*mean[c])
			runVar[c] = T((1-mom)*float64(runVar[c]) + mom*unbiased)
		}
	} else {
		for c := 0; c < k.C; c++ {
			st.Mean[c], st.Invstd[c] = float64(runMean[c]), 1/math.Sqrt(float64(runVar[c])+k.Epsilon)
		}
	}
	a, b, _ := bnAffine(st, scale, bias)
	if y32, ok := any(y).([]float32); ok && k.Act == ReLU {
		if nt := stream(y32, k.Inner, k.Act); nt || manyPlanes(k.Inner) {
			x32, a32, b32 := any(x).([]float32), any(a).([]float32), any(b).([]float32)
			ParallelFor(k.N*k.C, planesGrain(k.Inner, nt), func(lo, hi int) {
				affineReLUPlanesStore(y32[lo*k.Inner:hi*k.Inner], x32[lo*k.Inner:hi*k.Inner], a32, b32, k.Inner, lo%k.C, k.C, hi-lo, nt)
			})
			return
		}
	}
	ParallelFor(k.N*k.C, max(1, 4096/max(k.Inner, 1)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			c := p % k.C
			affineAct(k.Act, y[p*k.Inner:(p+1)*k.Inner], x[p*k.Inner:(p+1)*k.Inner], a[c], b[c])
		}
	})
}

// syncMoments turns this rank's moments (over count values a channel)
// into the whole job's, in place, when k.Sync sums across ranks, and
// returns the job's count. The ranks exchange Σx and Σx² in float64
// (n·mean and n·(variance + mean²)); the variance is then E[x²] − mean²,
// whose cancellation costs float64's digits only when |mean| ≫ std.
func syncMoments(k BN, mean, variance []float64, count float64) float64 {
	c := len(mean)
	buf := make([]float64, 2*c+1)
	for i := range c {
		buf[i] = count * mean[i]
		buf[c+i] = count * (variance[i] + mean[i]*mean[i])
	}
	buf[2*c] = count
	if !k.Sync(buf) {
		return count
	}
	total := buf[2*c]
	for i := range c {
		mean[i] = buf[i] / total
		variance[i] = max(buf[c+i]/total-mean[i]*mean[i], 0)
	}
	return total
}

// batchMoments returns each channel's mean and biased variance over the
// batch: from the sums the producing convolution measured when k.Sums
// gives them for this input, else from a pass over x of its own.
func batchMoments[T Float](k BN, x []T) (mean, variance []float64) {
	mean, variance = make([]float64, k.C), make([]float64, k.C)
	if k.Sums != nil {
		if pre := k.Sums(); pre != nil && pre.Channels == k.C && pre.Units*pre.Inner == k.N*k.C*k.Inner {
			pre.Moments(mean, variance)
			return mean, variance
		}
	}
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
			sumSqPlanes(x32[lo*k.Inner:hi*k.Inner], sh, p0, p1, k.Inner, lo%k.C, k.C)
		})
	} else {
		s, ss = planeSums(k, func(p, c int) (float64, float64) {
			return sumSq(x[p*k.Inner:(p+1)*k.Inner], T(shift[c]))
		})
	}
	count := float64(k.N * k.Inner)
	for c := range k.C {
		m := s[c] / count
		mean[c], variance[c] = shift[c]+m, max(ss[c]/count-m*m, 0)
	}
	return mean, variance
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
	count := st.Count
	a, b, m := bnAffine(st, scale, bias)
	// Pass 1 (reads only): Σdy' and Σdy'·(x−mean).
	var sdy, sdyx []float64
	x32, fast := any(x).([]float32)
	fast = fast && manyPlanes(k.Inner) && k.Act == ReLU
	if fast {
		dy32, a32, b32, m32 := any(dy).([]float32), any(a).([]float32), any(b).([]float32), any(m).([]float32)
		sdy, sdyx = planeSums32(k, func(lo, hi int, p0, p1 []float32) {
			reluSumsPlanes(x32[lo*k.Inner:hi*k.Inner], dy32[lo*k.Inner:hi*k.Inner], a32, b32, m32, p0, p1, k.Inner, lo%k.C, k.C)
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
	}
	if st.Training && k.Sync != nil {
		// The input gradient's sums are the whole batch's; the parameter
		// gradients above stay this rank's.
		buf := append(append(make([]float64, 0, 2*k.C), sdy...), sdyx...)
		if k.Sync(buf) {
			sdy, sdyx = buf[:k.C], buf[k.C:]
		}
	}
	for c := 0; c < k.C; c++ {
		if st.Training {
			c1[c] = T(sdy[c] / count)
			c2[c] = T(sdyx[c] / count * st.Invstd[c])
		}
	}
	// Pass 2: dx = scale·invstd·(dy' − Σdy'/M − x̂·Σdy'x̂/M) in training;
	// scale·invstd·dy' in inference (the statistics are constants there:
	// c1 = c2 = 0).
	if dx32, ok := any(dx).([]float32); ok && k.Act == ReLU {
		if nt := stream(dx32, k.Inner, k.Act); nt || fast {
			dy32 := any(dy).([]float32)
			a32, b32, m32, k1, k2 := any(a).([]float32), any(b).([]float32), any(m).([]float32), any(c1).([]float32), any(c2).([]float32)
			ParallelFor(k.N*k.C, planesGrain(k.Inner, nt), func(lo, hi int) {
				reluApplyPlanesStore(dx32[lo*k.Inner:hi*k.Inner], x32[lo*k.Inner:hi*k.Inner], dy32[lo*k.Inner:hi*k.Inner], a32, b32, m32, k1, k2, k.Inner, lo%k.C, k.C, hi-lo, nt)
			})
			return
		}
	}
	ParallelFor(k.N*k.C, max(1, 4096/max(k.Inner, 1)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			c := p % k.C
			lo, hi := p*k.Inner, (p+1)*k.Inner
			bnApply(k.Act, dx[lo:hi], x[lo:hi], dy[lo:hi], a[c], b[c], m[c], c1[c], c2[c])
		}
	})
}

// Float32 kernels of BatchNorm + ReLU, the hottest element-wise loops of a
// MobileNet step. Each has a plain Go version, branch-free (the
// pre-activations are about half negative in no predictable order, so an if
// per element mispredicts half the time), and, on amd64 with AVX2 and FMA,
// an assembly version (batchnorm_amd64.s, AVX2 or AVX-512 by tier) that runs
// the length rounded down to a multiple of 8; the Go version finishes the
// tail. Tests hold the two
// against each other.

// signMask32 is all ones when z > 0 (strictly; −0 and negatives give 0).
func signMask32(bits uint32) uint32 {
	return uint32(-int32(bits)>>31) &^ uint32(int32(bits)>>31)
}

// affineReLU32 computes y = max(a·x + b, 0).
func affineReLU32(y, x []float32, a, b float32) {
	if vector8(len(x)) {
		n := len(x) &^ 7
		affineReLUVec(y[:n], x[:n], a, b)
		y, x = y[n:], x[n:]
	}
	affineReLU32Go(y, x, a, b)
}

func affineReLU32Go(y, x []float32, a, b float32) {
	y = y[:len(x)]
	for i, v := range x {
		z := a*v + b
		if z <= 0 { // −0 becomes 0; NaN (of either sign) stays NaN
			z = 0
		}
		y[i] = z
	}
}

// sumSq32 returns Σ(x−s) and Σ(x−s)².
func sumSq32(x []float32, s float32) (float64, float64) {
	var s0, s1 float64
	if vector8(len(x)) {
		n := len(x) &^ 7
		a, q := sumSqVec(x[:n], s)
		s0, s1, x = float64(a), float64(q), x[n:]
	}
	a, q := sumSqGo(x, s)
	return s0 + a, s1 + q
}

func sumSqGo[T Float](x []T, s T) (float64, float64) {
	var a0, a1, q0, q1 T
	i := 0
	for ; i+2 <= len(x); i += 2 {
		d0, d1 := x[i]-s, x[i+1]-s
		a0 += d0
		a1 += d1
		q0 += d0 * d0
		q1 += d1 * d1
	}
	for ; i < len(x); i++ {
		d := x[i] - s
		a0 += d
		q0 += d * d
	}
	return float64(a0) + float64(a1), float64(q0) + float64(q1)
}

// reluSums32 returns Σg and Σg·(x−m) for g = dy where a·x+b > 0, else 0:
// the two sums of BatchNorm + ReLU's backward pass.
func reluSums32(x, dy []float32, a, b, m float32) (float64, float64) {
	var s0, s1 float64
	if vector8(len(x)) {
		n := len(x) &^ 7
		p, q := reluSumsVec(x[:n], dy[:n], a, b, m)
		s0, s1, x, dy = float64(p), float64(q), x[n:], dy[n:]
	}
	p, q := reluSums32Go(x, dy, a, b, m)
	return s0 + float64(p), s1 + float64(q)
}

func reluSums32Go(x, dy []float32, a, b, m float32) (float32, float32) {
	dy = dy[:len(x)]
	var s0, s1, t0, t1 float32
	j := 0
	for ; j+2 <= len(x); j += 2 {
		v0, v1 := x[j], x[j+1]
		d0 := math.Float32frombits(math.Float32bits(dy[j]) & signMask32(math.Float32bits(a*v0+b)))
		d1 := math.Float32frombits(math.Float32bits(dy[j+1]) & signMask32(math.Float32bits(a*v1+b)))
		s0 += d0
		t0 += d1
		s1 += d0 * (v0 - m)
		t1 += d1 * (v1 - m)
	}
	for ; j < len(x); j++ {
		v := x[j]
		d := math.Float32frombits(math.Float32bits(dy[j]) & signMask32(math.Float32bits(a*v+b)))
		s0 += d
		s1 += d * (v - m)
	}
	return s0 + t0, s1 + t1
}

// reluApply32 writes dx = a·(g − k1 − (x−m)·k2), g = dy where a·x+b > 0,
// else 0: BatchNorm + ReLU's input gradient (k1 = k2 = 0 in inference).
// dx may be dy.
func reluApply32(dx, x, dy []float32, a, b, m, k1, k2 float32) {
	if vector8(len(x)) {
		n := len(x) &^ 7
		reluApplyVec(dx[:n], x[:n], dy[:n], a, b, m, k1, k2)
		dx, x, dy = dx[n:], x[n:], dy[n:]
	}
	reluApply32Go(dx, x, dy, a, b, m, k1, k2)
}

func reluApply32Go(dx, x, dy []float32, a, b, m, k1, k2 float32) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	for j, v := range x {
		d := math.Float32frombits(math.Float32bits(dy[j]) & signMask32(math.Float32bits(a*v+b)))
		dx[j] = a * (d - k1 - (v-m)*k2)
	}
}

package kernels

import (
	"math"
)

// Float32 kernels of BatchNorm + ReLU, the hottest element-wise loops of a
// MobileNet step. Each has a plain Go version, branch-free (the
// pre-activations are about half negative in no predictable order, so an if
// per element mispredicts half the time), and, on amd64 with AVX2 and FMA,
// an assembly version (simd_amd64.s) that runs the length rounded down to a
// multiple of 8; the Go version finishes the tail. Tests hold the two
// against each other.

// signMask32 is all ones when z > 0 (strictly; −0 and negatives give 0).
func signMask32(bits uint32) uint32 {
	return uint32(-int32(bits)>>31) &^ uint32(int32(bits)>>31)
}

// affineReLU32 computes y = max(a·x + b, 0).
func affineReLU32(y, x []float32, a, b float32) {
	if vector8(len(x)) {
		n := len(x) &^ 7
		affineReLUAVX2(y[:n], x[:n], a, b)
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
		a, q := sumSqAVX2(x[:n], s)
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
		p, q := reluSumsAVX2(x[:n], dy[:n], a, b, m)
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
		reluApplyAVX2(dx[:n], x[:n], dy[:n], a, b, m, k1, k2)
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

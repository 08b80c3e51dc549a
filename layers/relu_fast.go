package layers

import "math"

// Branch-free ReLU kernels for float32. The pre-activations of a BatchNorm
// are about half negative in no predictable order, so an if per element
// mispredicts half the time; masking the bits does not branch at all.

// signMask32 is all ones when z > 0 (strictly; −0 and negatives give 0).
func signMask32(bits uint32) uint32 {
	return uint32(-int32(bits)>>31) &^ uint32(int32(bits)>>31)
}

// affineReLU32 computes y = max(a·x + b, 0).
func affineReLU32(y, x []float32, a, b float32) {
	y = y[:len(x)]
	for i, v := range x {
		bits := math.Float32bits(a*v + b)
		y[i] = math.Float32frombits(bits & signMask32(bits))
	}
}

// maskedSumsReLU32 is maskedSums for ReLU on float32.
func maskedSumsReLU32(g, x, dy []float32, a, b, m float32) (float32, float32) {
	g, dy = g[:len(x)], dy[:len(x)]
	var s0, s1 float32
	for j, v := range x {
		d := math.Float32frombits(math.Float32bits(dy[j]) & signMask32(math.Float32bits(a*v+b)))
		g[j] = d
		s0 += d
		s1 += d * (v - m)
	}
	return s0, s1
}

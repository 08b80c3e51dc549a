//go:build amd64 && !purego

package blas

import (
	"math"
	"testing"
)

// checkConversionKernels holds cvtBF16 and packPairsBF16 to RoundBF16 bit
// for bit (NaN: any NaN), but for float32 subnormals, which VCVTNE2PS2BF16
// takes as zero (its documented behaviour, whatever MXCSR says; AMX's
// TDPBF16PS flushes bf16 subnormals too): ±0 there.
func checkConversionKernels(t *testing.T, vals []float32) {
	n := len(vals) / 32 * 32
	got := make([]uint16, n)
	cvtBF16(&got[0], &vals[0], n)
	pairs := make([]uint16, n)
	packPairsBF16(&pairs[0], &vals[0], &vals[n/2], n/2)
	same := func(h uint16, x float32) bool {
		g := math.Float32frombits(uint32(h) << 16)
		w := RoundBF16(x)
		if x != 0 && math.Abs(float64(x)) < 0x1p-126 {
			w = float32(math.Copysign(0, float64(x)))
		}
		return math.Float32bits(g) == math.Float32bits(w) || (g != g && w != w)
	}
	for i := 0; i < n; i++ {
		if !same(got[i], vals[i]) {
			t.Fatalf("cvtBF16(%v) = %#04x, want %v", vals[i], got[i], RoundBF16(vals[i]))
		}
	}
	for j := 0; j < n/2; j++ {
		if !same(pairs[2*j], vals[j]) || !same(pairs[2*j+1], vals[n/2+j]) {
			t.Fatalf("packPairsBF16 pair %d = %#04x %#04x, want %v %v", j, pairs[2*j], pairs[2*j+1], RoundBF16(vals[j]), RoundBF16(vals[n/2+j]))
		}
	}
}

// poisonBF16Pool fills the pooled packing buffers with bf16 NaNs, so that
// padding a product fails to zero (0·NaN = NaN) shows in its results.
func poisonBF16Pool() {
	var all []*bf16Bufs
	for range 8 {
		b := bf16Pool.Get().(*bf16Bufs)
		b.a, b.b, b.row = grow(b.a, 1<<20), grow(b.b, 1<<20), grow(b.row, 1<<18)
		for _, s := range [][]uint16{b.a, b.b, b.row} {
			for i := range s {
				s[i] = 0x7fc0
			}
		}
		all = append(all, b)
	}
	for _, b := range all {
		bf16Pool.Put(b)
	}
}

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestConvFloat32MatchesFloat64 runs the dense convolution kernels in
// float32 (the assembly GEMMs of the active tier: per sample on maps of 16
// positions or more — 16 columns take AVX-512's 16×16 micro-kernel, with B
// and C in place — batched below) and float64 (the path the gradient checks
// cover) on the same data and compares the forward output and both
// gradients. The shapes put each path on its edges: batch 1, channel counts
// that are no multiple of any tile, depths beyond one packed block (256),
// 15, 16, 20 and 64 positions, and strided, padded 3×3 convolutions.
func TestConvFloat32MatchesFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	cases := []Geom{
		pointwise(1, 19, 4, 4, 37),  // batch 1 (per sample), narrow
		pointwise(1, 21, 2, 3, 19),  // batch 1 on 6 positions: a partial 16-column panel
		pointwise(3, 19, 4, 4, 37),  // per sample, narrow, tile edges
		pointwise(5, 33, 4, 4, 20),  // narrow, m < one 16-row tile pair
		pointwise(2, 300, 4, 4, 40), // narrow, depth beyond one block
		pointwise(4, 24, 2, 2, 17),  // batched (4 positions)
		pointwise(2, 7, 3, 5, 9),    // batched (15 positions)
		pointwise(3, 16, 4, 5, 18),  // per sample, 20 columns
		pointwise(2, 40, 8, 8, 35),  // per sample, 64 columns
		pointwise(130, 24, 4, 4, 48),
		pointwise(37, 21, 2, 2, 19),  // batched: pack's tiles of 16 samples and channels, partial ones
		pointwise(3, 24, 32, 32, 48), // dW on the dot-product kernel: depth 1024 a sample, two blocks
		pointwise(5, 13, 11, 9, 50),  // … 99 positions (a 3-float tail), odd samples, edge tiles
		{N: 2, C: 3, H: 9, W: 7, O: 5, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PB: 1, PL: 1, PR: 1, Ho: 5, Wo: 4},
		// Stems (3×3, stride 2, at most 4 channels: the stem kernels'
		// forward pass and weight gradient on AVX-512): batch 1 at odd
		// sizes, TF's "same" padding with 4 channels, and rows of whole
		// 16-column blocks (dY read in place by the gradient).
		{N: 1, C: 3, H: 33, W: 35, O: 7, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PB: 1, PL: 1, PR: 1, Ho: 17, Wo: 18},
		{N: 3, C: 4, H: 16, W: 20, O: 8, KH: 3, KW: 3, SH: 2, SW: 2, PB: 1, PR: 1, Ho: 8, Wo: 10},
		{N: 2, C: 3, H: 64, W: 64, O: 16, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PB: 1, PL: 1, PR: 1, Ho: 32, Wo: 32},
	}
	for _, g := range cases {
		t.Run(g.String(), func(t *testing.T) {
			k := g.C * g.KH * g.KW
			xs, ws, ys := g.N*g.C*g.H*g.W, g.O*k, g.N*g.O*g.Ho*g.Wo
			x32, w32, dy32 := randFloats(r, xs), randFloats(r, ws), randFloats(r, ys)
			x64, w64, dy64 := float64s(x32), float64s(w32), float64s(dy32)

			y32, y64 := make([]float32, ys), make([]float64, ys)
			ConvForward(&Scratch{}, g, y32, x32, w32)
			ConvForward(&Scratch{}, g, y64, x64, w64)
			compare(t, "y", y32, y64, k)

			dx32, dx64 := make([]float32, xs), make([]float64, xs)
			ConvBackwardInput(&Scratch{}, g, dx32, dy32, w32)
			ConvBackwardInput(&Scratch{}, g, dx64, dy64, w64)
			compare(t, "dx", dx32, dx64, g.O*g.KH*g.KW)

			dw32, dw64 := make([]float32, ws), make([]float64, ws)
			ConvBackwardWeight(&Scratch{}, g, dw32, x32, dy32)
			ConvBackwardWeight(&Scratch{}, g, dw64, x64, dy64)
			compare(t, "dw", dw32, dw64, g.N*g.Ho*g.Wo)
		})
	}
}

// pointwise is the geometry of a 1×1 convolution.
func pointwise(n, c, h, w, o int) Geom {
	return Geom{N: n, C: c, H: h, W: w, O: o, KH: 1, KW: 1, SH: 1, SW: 1, Ho: h, Wo: w}
}

func randFloats(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func float64s(v []float32) []float64 {
	o := make([]float64, len(v))
	for i, x := range v {
		o[i] = float64(x)
	}
	return o
}

// compare fails unless got (float32) equals want (float64) within float32
// rounding of sums of depth products of unit-variance terms.
func compare(t *testing.T, what string, got []float32, want []float64, depth int) {
	t.Helper()
	tol := 1e-5 * math.Sqrt(float64(depth)) * 4
	worst, at := 0.0, -1
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); d > worst {
			worst, at = d, i
		}
	}
	if worst > tol {
		t.Errorf("%s: element %d is %g, want %g (|diff| %g > %g)", what, at, got[at], want[at], worst, tol)
	}
}

// TestStrided checks im2col's strided row copy (its unrolled stride-2
// loop and the general one) against the plain definition, on every length
// up to 21 (the unrolled loop's tails) and strides 1 to 3.
func TestStrided(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for s := 1; s <= 3; s++ {
		for n := 1; n <= 21; n++ {
			src := randFloats(r, (n-1)*s+1)
			got := make([]float32, n)
			strided(got, src, s)
			for i := range got {
				if got[i] != src[i*s] {
					t.Fatalf("stride %d, %d values: dst[%d] = %v, want src[%d] = %v", s, n, i, got[i], i*s, src[i*s])
				}
			}
		}
	}
}

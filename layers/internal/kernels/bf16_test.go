package kernels

import (
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/gomobilenet/mobilenet/blas"
)

// TestConvBF16MatchesDefinition runs the dense convolution kernels with
// bf16 products (Scratch.BF16 on) on every path — per-sample and batched
// pointwise products, im2col, grouped, batch 1, odd sizes — and holds the
// forward output and both gradients to the float64 convolution of the
// bf16-rounded inputs.
//
// Tolerance: bf16 products are exact in float32, so only the float32 sums
// err, by about √(n+2)·u·S at most λ = 8 times over (u = 2⁻²⁴; S = Σ|aᵢbᵢ|
// of the element, here from the float64 kernels on absolute values; n the
// depth): the float32 GEMM's tolerance (blas/tolerance_test.go). The
// rounding itself is not an error here but the definition; that it took
// place shows against the unrounded inputs, from which the results are
// far more than that apart.
func TestConvBF16MatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	on := new(atomic.Bool)
	on.Store(true)
	t.Logf("bf16 products in hardware: %v", blas.HaveBF16())
	for _, g := range []Geom{
		pointwise(1, 19, 4, 4, 37),   // batch 1, per sample
		pointwise(3, 33, 5, 7, 40),   // per sample, odd sizes
		pointwise(4, 24, 2, 2, 17),   // batched (4 positions)
		pointwise(21, 35, 4, 4, 18),  // per sample, but the weight gradient batched (16 positions); partial tiles of pack
		pointwise(2, 7, 3, 5, 9),     // batched (15 positions)
		pointwise(3, 64, 16, 16, 96), // above the split threshold
		{N: 2, C: 3, H: 9, W: 7, O: 5, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PB: 1, PL: 1, PR: 1, Ho: 5, Wo: 4},
		{N: 1, C: 3, H: 33, W: 35, O: 7, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PB: 1, PL: 1, PR: 1, Ho: 17, Wo: 18},    // stems (the stem kernels' forward pass and weight gradient on AVX-512)
		{N: 2, C: 3, H: 64, W: 64, O: 16, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PB: 1, PL: 1, PR: 1, Ho: 32, Wo: 32},   // … whole 16-column blocks
		{N: 1, C: 3, H: 32, W: 32, O: 24, KH: 3, KW: 3, SH: 1, SW: 1, PT: 1, PB: 1, PL: 1, PR: 1, Ho: 32, Wo: 32},   // a stem
		{N: 2, C: 8, H: 6, W: 5, O: 12, G: 4, KH: 3, KW: 3, SH: 1, SW: 1, PT: 1, PB: 1, PL: 1, PR: 1, Ho: 6, Wo: 5}, // grouped
	} {
		t.Run(g.String(), func(t *testing.T) {
			k := g.C * g.KH * g.KW
			if g.G > 1 {
				k /= g.G
			}
			xs, ws, ys := g.N*g.C*g.H*g.W, g.O*k, g.N*g.O*g.Ho*g.Wo
			x32, w32, dy32 := randFloats(r, xs), randFloats(r, ws), randFloats(r, ys)
			rx, rw, rdy := rounded(x32), rounded(w32), rounded(dy32)
			ax, aw, ady := abs64(float64s(x32)), abs64(float64s(w32)), abs64(float64s(dy32))
			sc := &Scratch{BF16: on}
			depth := [3]int{k, g.O / max(g.G, 1) * g.KH * g.KW, g.N * g.Ho * g.Wo}
			for i, what := range []string{"y", "dx", "dw"} {
				var got []float32
				var want, unrounded, scale []float64
				switch i {
				case 0:
					got, want, unrounded, scale = make([]float32, ys), make([]float64, ys), make([]float64, ys), make([]float64, ys)
					ConvForward(sc, g, got, x32, w32)
					ConvForward(&Scratch{}, g, want, rx, rw)
					ConvForward(&Scratch{}, g, unrounded, float64s(x32), float64s(w32))
					ConvForward(&Scratch{}, g, scale, ax, aw)
				case 1:
					got, want, unrounded, scale = make([]float32, xs), make([]float64, xs), make([]float64, xs), make([]float64, xs)
					ConvBackwardInput(sc, g, got, dy32, w32)
					ConvBackwardInput(&Scratch{}, g, want, rdy, rw)
					ConvBackwardInput(&Scratch{}, g, unrounded, float64s(dy32), float64s(w32))
					ConvBackwardInput(&Scratch{}, g, scale, ady, aw)
				case 2:
					got, want, unrounded, scale = make([]float32, ws), make([]float64, ws), make([]float64, ws), make([]float64, ws)
					ConvBackwardWeight(sc, g, got, x32, dy32)
					ConvBackwardWeight(&Scratch{}, g, want, rx, rdy)
					ConvBackwardWeight(&Scratch{}, g, unrounded, float64s(x32), float64s(dy32))
					ConvBackwardWeight(&Scratch{}, g, scale, ax, ady)
				}
				unit := math.Sqrt(float64(depth[i]+2)) * math.Ldexp(1, -24)
				apart := 0.0
				for j := range got {
					d := math.Abs(float64(got[j]) - want[j])
					if d > 8*unit*scale[j]+1e-30 {
						t.Fatalf("%s[%d] = %v, want %v on rounded inputs (%.3g units of √(n+2)·u·S)", what, j, got[j], want[j], d/(unit*scale[j]))
					}
					apart = math.Max(apart, math.Abs(float64(got[j])-unrounded[j])/(unit*scale[j]+1e-300))
				}
				if apart < 32 {
					t.Errorf("%s: within %.3g units of the unrounded inputs' result: not bf16 products", what, apart)
				}
			}
		})
	}
}

// rounded returns v rounded to bf16, as float64s.
func rounded(v []float32) []float64 {
	o := make([]float64, len(v))
	for i, x := range v {
		o[i] = float64(blas.RoundBF16(x))
	}
	return o
}

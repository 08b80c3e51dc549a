package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/gomobilenet/mobilenet/blas"
)

// toHalves writes v (planes of inner values) in the Halves layout of a new
// float32 buffer, each value's bf16 bits; the unused halves hold NaN bits.
func toHalves(v []float32, inner int) []float32 {
	buf := make([]float32, len(v))
	h := Halves(buf)
	for i := range h {
		h[i] = 0x7fc1
	}
	for p := 0; p < len(v)/inner; p++ {
		blas.ToBF16(h[2*p*inner:][:inner], v[p*inner:(p+1)*inner])
	}
	return buf
}

// TestBNForwardBF16: BatchNorm's bf16 output is its float32 output rounded
// to bf16, bit for bit, plane by plane in the Halves layout, with the same
// statistics and running statistics, and nothing written in the other
// half of a plane; planes shorter and longer than the 512-value blocks, of
// odd sizes, every activation, training and inference.
func TestBNForwardBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, tc := range []struct{ n, c, inner int }{{1, 1, 1}, {2, 3, 5}, {4, 8, 16}, {3, 5, 49}, {2, 4, 600}, {1, 2, 1030}, {8, 24, 64}} {
		for _, act := range []Act{Linear, ReLU, ReLU6} {
			for _, training := range []bool{true, false} {
				name := fmt.Sprintf("%+v act %v training %v", tc, act, training)
				size := tc.n * tc.c * tc.inner
				x := randFloats(r, size)
				scale, bias := randFloats(r, tc.c), randFloats(r, tc.c)
				rm, rv := randFloats(r, tc.c), make([]float32, tc.c)
				for i := range rv {
					rv[i] = 0.5 + float32(r.Float64())
				}
				k := func() BN {
					return BN{Scratch: &Scratch{}, N: tc.n, C: tc.c, Inner: tc.inner, Momentum: 0.1, Epsilon: 1e-5, Act: act, State: NewBNState(tc.c)}
				}
				kf, kh := k(), k()
				rmf, rvf := append([]float32(nil), rm...), append([]float32(nil), rv...)
				y := make([]float32, size)
				BNForward(kf, training, y, x, scale, bias, rmf, rvf)
				yh := make([]float32, size)
				h := Halves(yh)
				for i := range h {
					h[i] = 0xdead
				}
				BNForwardBF16(kh, training, h, x, scale, bias, rm, rv)
				for p := 0; p < tc.n*tc.c; p++ {
					want := make([]uint16, tc.inner)
					blas.ToBF16(want, y[p*tc.inner:(p+1)*tc.inner])
					for q := 0; q < tc.inner; q++ {
						if got := h[2*p*tc.inner+q]; got != want[q] {
							t.Fatalf("%s: plane %d [%d] = %#04x, want %#04x", name, p, q, got, want[q])
						}
						if got := h[2*p*tc.inner+tc.inner+q]; got != 0xdead {
							t.Fatalf("%s: plane %d: wrote %#04x in its unused half", name, p, got)
						}
					}
				}
				for c := range tc.c {
					if rm[c] != rmf[c] || rv[c] != rvf[c] || kh.State.Mean[c] != kf.State.Mean[c] || kh.State.Invstd[c] != kf.State.Invstd[c] {
						t.Fatalf("%s: channel %d: statistics differ", name, c)
					}
				}
			}
		}
	}
}

// TestConvBF16FromHalves: a pointwise convolution's forward output and
// weight gradient from a bf16 input (Halves layout) equal, bit for bit,
// those of the float32 kernels in bf16 on the same (rounded) values, on
// every geometry HalfInput accepts: batch 1, odd sizes, 4×4 maps (the
// batched weight gradient), 7×7, past the split threshold; at 1–3 threads.
func TestConvBF16FromHalves(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	on := new(atomic.Bool)
	on.Store(true)
	for _, g := range []Geom{
		pointwise(1, 19, 4, 4, 37),
		pointwise(1, 5, 1, 1, 3),
		pointwise(3, 33, 5, 7, 40),
		pointwise(21, 35, 4, 4, 18),
		pointwise(9, 48, 7, 7, 96),
		pointwise(3, 64, 16, 16, 96),
		pointwise(17, 24, 4, 4, 24),
	} {
		if !HalfInput(g) {
			t.Fatalf("%v: HalfInput refuses it", g)
		}
		hw := g.H * g.W
		x := randFloats(r, g.N*g.C*hw)
		for i, v := range x {
			x[i] = blas.RoundBF16(v)
		}
		xh := Halves(toHalves(x, hw))
		w, dy := randFloats(r, g.O*g.C), randFloats(r, g.N*g.O*hw)
		for _, procs := range []int{1, 2, 3} {
			prev := runtime.GOMAXPROCS(procs)
			sc, sh := &Scratch{BF16: on}, &Scratch{BF16: on}
			want, got := make([]float32, g.N*g.O*hw), make([]float32, g.N*g.O*hw)
			ConvForwardEp(sc, g, want, x, w, nil)
			ConvForwardBF16(sh, g, got, xh, w, nil)
			same(t, fmt.Sprintf("%v forward, %d threads", g, procs), got, want)
			want, got = make([]float32, g.O*g.C), make([]float32, g.O*g.C)
			ConvBackwardWeight(sc, g, want, x, dy)
			ConvBackwardWeightBF16(sh, g, got, xh, dy)
			same(t, fmt.Sprintf("%v weight gradient, %d threads", g, procs), got, want)
			runtime.GOMAXPROCS(prev)
		}
	}
	for _, g := range []Geom{pointwise(4, 24, 2, 2, 17), pointwise(2, 7, 3, 5, 9), {N: 2, C: 8, H: 6, W: 5, O: 8, G: 8, KH: 3, KW: 3, SH: 1, SW: 1, PT: 1, PB: 1, PL: 1, PR: 1, Ho: 6, Wo: 5}} {
		if HalfInput(g) {
			t.Errorf("%v: HalfInput accepts a batched or grouped product", g)
		}
	}
}

func same(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: [%d] = %v, want %v", name, i, got[i], want[i])
		}
	}
}

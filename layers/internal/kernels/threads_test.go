package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/gomobilenet/mobilenet/blas"
)

// sweepProcs are the thread counts of the sweeps: one, the machines' two,
// an odd count, a prime that splits nothing evenly, and more goroutines
// than any batch here has samples (workers left without work).
var sweepProcs = []int{1, 2, 3, 7, 64}

// atProcs runs f with GOMAXPROCS procs.
func atProcs(procs int, f func()) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	f()
}

// sameBits reports the first element where got and want differ in any bit.
func sameBits[T Float](got, want []T) (int, bool) {
	for i := range want {
		if math.Float64bits(float64(got[i])) != math.Float64bits(float64(want[i])) {
			return i, false
		}
	}
	return -1, true
}

// TestDepthwiseThreadSweep: every depthwise plan — forward (parallel and
// serial), input gradient and kernel gradient — gives the same bits at 1,
// 2, 3, 7 and 64 threads. The code promises it: the forward pass and the input gradient
// split the output planes among workers, each plane computed by one
// worker whole, and the kernel gradient splits the channels, each summing
// its samples in order; no sum is split. The geometries reach each plan
// on this tier (the test asserts which one runs), with odd sizes and batch 1.
func TestDepthwiseThreadSweep(t *testing.T) {
	dw := func(n, c, h, w, m, k, s, pt, pl int) Geom {
		ho, wo := (h+2*pt-k)/s+1, (w+2*pl-k)/s+1
		return Geom{N: n, C: c, H: h, W: w, O: c * m, G: c, KH: k, KW: k, SH: s, SW: s, PT: pt, PB: pt, PL: pl, PR: pl, Ho: ho, Wo: wo}
	}
	cases := []struct {
		g    Geom
		plan dwPlan // the forward plan on the AVX-512 tier
	}{
		{dw(5, 37, 8, 8, 1, 3, 1, 1, 1), dwSmall},    // 3×3 s1 on 64 positions
		{dw(1, 19, 5, 7, 1, 3, 1, 1, 1), dwSmall},    // batch 1, odd plane
		{dw(3, 21, 4, 4, 2, 3, 1, 1, 1), dwSmall},    // depth multiplier 2
		{dw(3, 13, 17, 15, 1, 3, 1, 1, 1), dwRows},   // 3×3 s1, larger planes
		{dw(1, 9, 33, 32, 1, 3, 1, 1, 1), dwRows},    // batch 1
		{dw(7, 33, 4, 4, 1, 3, 2, 1, 1), dwSmallS2},  // 3×3 s2 on ≤ 16 positions
		{dw(1, 17, 3, 5, 1, 3, 2, 1, 1), dwSmallS2},  // batch 1, odd
		{dw(3, 11, 16, 16, 1, 3, 2, 1, 1), dwS2AVX2}, // 3×3 s2, larger planes
		{dw(2, 7, 15, 17, 1, 3, 2, 1, 1), dwS2AVX2},  // odd
		{dw(3, 6, 9, 11, 1, 3, 1, 0, 1), dw3S1},      // no top padding: 3 wide, stride 1
		{dw(2, 5, 9, 11, 1, 3, 2, 0, 1), dw3S2},      // no top padding: 3 wide, stride 2
		{dw(3, 5, 10, 9, 1, 5, 1, 2, 2), dwTaps},     // 5×5
		{dw(2, 4, 8, 8, 3, 3, 2, 1, 1), dwS2AVX2},    // multiplier 3: the input gradient on Go's three-tap rows
	}
	r := rand.New(rand.NewPCG(21, 22))
	for _, c := range cases {
		g := c.g
		t.Run(g.String(), func(t *testing.T) {
			y := make([]float32, g.N*g.O*g.Ho*g.Wo)
			if haveAVX512 {
				if p := planForward(g, y); p != c.plan {
					t.Fatalf("forward plan %d, want %d: the case no longer reaches its kernel", p, c.plan)
				}
			}
			x, k, dy := randFloats(r, g.N*g.C*g.H*g.W), randFloats(r, g.O*g.KH*g.KW), randFloats(r, len(y))
			var ref [3][]float32
			for _, procs := range sweepProcs {
				var out [3][]float32
				atProcs(procs, func() {
					out[0] = make([]float32, len(y))
					DWForward(g, out[0], x, k)
					out[1] = make([]float32, len(x))
					DWBackwardInput(g, out[1], dy, k)
					out[2] = make([]float32, len(k))
					DWBackwardKernel(g, out[2], x, dy)
					// The serial forward (the inference plan's one-image
					// stage), with and without an epilogue, gives the same
					// bits on the calling goroutine alone.
					serial := make([]float32, len(y))
					DWForwardSerial(g, serial, x, k, nil)
					if at, ok := sameBits(serial, out[0]); !ok {
						t.Errorf("%d threads: DWForwardSerial y[%d] = %v, DWForward %v", procs, at, serial[at], out[0][at])
					}
					bias := randFloats(rand.New(rand.NewPCG(5, 6)), g.O)
					ones := slices.Repeat([]float32{1}, g.O)
					epPar, epSer := make([]float32, len(y)), make([]float32, len(y))
					DWForwardEp(g, epPar, x, k, &Epilogue[float32]{Bias: bias, Ones: ones, Act: ReLU})
					DWForwardSerial(g, epSer, x, k, &Epilogue[float32]{Bias: bias, Ones: ones, Act: ReLU})
					if at, ok := sameBits(epSer, epPar); !ok {
						t.Errorf("%d threads: DWForwardSerial with bias and ReLU y[%d] = %v, DWForwardEp %v", procs, at, epSer[at], epPar[at])
					}
				})
				if procs == 1 {
					ref = out
					continue
				}
				for i, what := range []string{"y", "dx", "dk"} {
					if at, ok := sameBits(out[i], ref[i]); !ok {
						t.Errorf("%d threads: %s[%d] = %v, %v on one thread", procs, what, at, out[i][at], ref[i][at])
					}
				}
			}
		})
	}
}

// TestBatchNormThreadSweep: BatchNorm + activation forward (training and
// inference) and backward, on the many-planes kernels (planes of ≤ 64
// floats, a multiple of 4), the vector ones (8 floats or more) and the Go
// loops, give the same bits at every thread count: the statistics are
// summed per plane and then per channel in plane order, whatever the
// split, and the rest is elementwise.
func TestBatchNormThreadSweep(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, c := range []struct {
		n, ch, inner int
		act          Act
	}{
		{5, 37, 16, ReLU}, {1, 19, 64, ReLU}, {3, 21, 60, ReLU6}, {4, 13, 225, ReLU}, {2, 9, 7, ReLU}, {1, 7, 1, Linear}, {9, 65, 4, ReLU},
	} {
		t.Run(fmt.Sprintf("%dx%dx%d act%d", c.n, c.ch, c.inner, c.act), func(t *testing.T) {
			size := c.n * c.ch * c.inner
			x, dy := randFloats(r, size), randFloats(r, size)
			scale, bias := randFloats(r, c.ch), randFloats(r, c.ch)
			var ref [][]float64
			for _, procs := range sweepProcs {
				var out [][]float64
				atProcs(procs, func() {
					for _, training := range []bool{true, false} {
						k := BN{Scratch: &Scratch{}, N: c.n, C: c.ch, Inner: c.inner, Momentum: 0.1, Epsilon: 1e-5, Act: c.act, State: NewBNState(c.ch)}
						rm, rv := make([]float32, c.ch), slices.Repeat([]float32{1}, c.ch)
						y, dx := make([]float32, size), make([]float32, size)
						BNForward(k, training, y, x, scale, bias, rm, rv)
						BNBackward(k, dx, x, scale, bias, dy)
						out = append(out, float64s(y), float64s(dx), float64s(rm), float64s(rv), k.State.SumDy, k.State.SumDyXhat, k.State.Mean, k.State.Invstd)
					}
				})
				if procs == 1 {
					ref = out
					continue
				}
				for i := range ref {
					if at, ok := sameBits(out[i], ref[i]); !ok {
						t.Errorf("%d threads: output %d [%d] = %v, %v on one thread", procs, i, at, out[i][at], ref[i][at])
					}
				}
			}
		})
	}
}

// TestConvThreadSweep: the dense convolution kernels at 1, 2, 3, 7 and 64
// threads, on products above package blas's threshold for splitting one
// GEMM over the cores (2²¹ flops): per-sample pointwise products (16
// positions or more), the batched ones (fewer positions), and a strided
// 3×3 convolution through im2col. On the project's own GEMM (the Go
// backend with the AVX2 or AVX-512 tier) forward and input gradient give
// the same bits: each output element is one worker's dot product, its
// depth summed in the same order at any split. OpenBLAS (whose kernels for
// a part's edge columns sum in another order) and gonum promise no such
// thing, and the weight gradient sums over samples in a split that follows
// the thread count: those are held to the float32 bound of two orders of
// one sum, |Δ| ≤ 2·γ(n)·Σ|aᵢbᵢ| with γ(n) = n·u/(1−n·u), u = 2⁻²⁴ and n
// the depth (the rigorous bound of Higham's Accuracy and Stability of
// Numerical Algorithms, §3.1, for each order against the exact sum).
func TestConvThreadSweep(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	bitwise := haveAVX2 && blas.Backend() == blas.Go
	t.Logf("forward and input gradient held to the same bits: %v (%s)", bitwise, blas.Name())
	for _, g := range []Geom{
		pointwise(3, 64, 16, 16, 96),  // per sample: 2·96·256·64 = 3.1 Mflop a product
		pointwise(1, 72, 15, 17, 130), // batch 1, odd sizes
		pointwise(64, 128, 2, 2, 256), // batched (4 positions): 256×256×128, 16.8 Mflop
		pointwise(33, 96, 3, 3, 101),  // batched, odd
		{N: 2, C: 32, H: 33, W: 31, O: 64, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PB: 1, PL: 1, PR: 1, Ho: 17, Wo: 16},
		{N: 5, C: 3, H: 64, W: 64, O: 16, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PB: 1, PL: 1, PR: 1, Ho: 32, Wo: 32}, // a stem: the stem kernels on AVX-512
	} {
		t.Run(g.String(), func(t *testing.T) {
			k := g.C * g.KH * g.KW
			if flops := 2 * g.O * g.Ho * g.Wo * k * g.N; flops < 1<<21 {
				t.Fatalf("%d flops: below the split threshold", flops)
			}
			x, w, dy := randFloats(r, g.N*g.C*g.H*g.W), randFloats(r, g.O*k), randFloats(r, g.N*g.O*g.Ho*g.Wo)
			// Σ|aᵢbᵢ| of each output element, and the depth of its sum.
			ax, aw, ady := abs64(float64s(x)), abs64(float64s(w)), abs64(float64s(dy))
			var abs [3][]float64
			abs[0], abs[1], abs[2] = make([]float64, len(dy)), make([]float64, len(x)), make([]float64, len(w))
			ConvForward(&Scratch{}, g, abs[0], ax, aw)
			ConvBackwardInput(&Scratch{}, g, abs[1], ady, aw)
			ConvBackwardWeight(&Scratch{}, g, abs[2], ax, ady)
			depth := [3]int{k, g.O * g.KH * g.KW, g.N * g.Ho * g.Wo}
			var ref [3][]float32
			for _, procs := range sweepProcs {
				var out [3][]float32
				atProcs(procs, func() {
					out[0] = make([]float32, len(dy))
					ConvForward(&Scratch{}, g, out[0], x, w)
					out[1] = make([]float32, len(x))
					ConvBackwardInput(&Scratch{}, g, out[1], dy, w)
					out[2] = make([]float32, len(w))
					ConvBackwardWeight(&Scratch{}, g, out[2], x, dy)
				})
				if procs == 1 {
					ref = out
					continue
				}
				for i, what := range []string{"y", "dx", "dw"} {
					if bitwise && i < 2 {
						if at, ok := sameBits(out[i], ref[i]); !ok {
							t.Errorf("%d threads: %s[%d] = %v, %v on one thread", procs, what, at, out[i][at], ref[i][at])
						}
						continue
					}
					n := float64(depth[i])
					u := math.Ldexp(1, -24)
					gamma := n * u / (1 - n*u)
					for j := range out[i] {
						if d := math.Abs(float64(out[i][j] - ref[i][j])); d > 2*gamma*abs[i][j] {
							t.Errorf("%d threads: %s[%d] = %v, %v on one thread: %.3g apart, more than 2·γ(%g)·Σ|aᵢbᵢ| = %.3g", procs, what, j, out[i][j], ref[i][j], d, n, 2*gamma*abs[i][j])
							break
						}
					}
				}
			}
		})
	}
}

func abs64(v []float64) []float64 {
	for i := range v {
		v[i] = math.Abs(v[i])
	}
	return v
}

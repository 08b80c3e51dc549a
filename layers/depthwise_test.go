package layers

import (
	"fmt"
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

type dwCase struct {
	n, c, h, w int
	m, k, s    int
	pad        Padding
	bias       bool
}

var dwCases = []dwCase{
	{1, 1, 5, 5, 1, 3, 1, Same(), false},
	{2, 3, 7, 6, 1, 3, 1, Pad(1), false},
	{2, 3, 8, 8, 1, 3, 2, Same(), false},
	{1, 2, 7, 9, 2, 3, 2, Pad(1), true},
	{3, 2, 6, 5, 2, 3, 1, Pad(0), false},
	{2, 4, 9, 7, 1, 5, 2, Pad(2), false},
	{1, 3, 4, 4, 1, 2, 1, Same(), false},
	{2, 2, 5, 7, 3, 3, 3, Pad4(1, 0, 2, 1), true},
	{1, 5, 1, 1, 1, 3, 1, Same(), false},
	{2, 3, 2, 2, 1, 3, 2, Same(), false},
	{2, 3, 2, 2, 1, 3, 1, Pad(1), false},
	{1, 2, 3, 3, 1, 3, 1, Pad(1), false},
	{2, 3, 8, 8, 1, 3, 2, Pad(1), false},
	{1, 2, 4, 6, 1, 3, 2, Pad(1), true},
	{2, 2, 3, 3, 2, 3, 2, Pad(1), false},
	{1, 2, 5, 4, 1, 3, 2, Pad4(1, 1, 1, 0), false},
}

func (c dwCase) String() string {
	return fmt.Sprintf("n%d_c%d_%dx%d_m%d_k%d_s%d_%v", c.n, c.c, c.h, c.w, c.m, c.k, c.s, c.pad)
}

func (c dwCase) build(impl DepthwiseImpl) func(b *Builder, x *G.Node) (*G.Node, error) {
	return func(b *Builder, x *G.Node) (*G.Node, error) {
		l, err := NewDepthwiseConv2D(b.In("dw"), DepthwiseConfig{Channels: c.c, Multiplier: c.m, Kernel: c.k, Stride: c.s, Padding: c.pad, Bias: c.bias, Impl: impl})
		if err != nil {
			return nil, err
		}
		return l.Fwd(x)
	}
}

func TestDepthwiseFusedGradients(t *testing.T) {
	for _, c := range dwCases {
		t.Run(c.String(), func(t *testing.T) {
			checkGrad(t, gradCase{name: "fused " + c.String(), xShape: []int{c.n, c.c, c.h, c.w}, build: c.build(Fused)}, 30)
		})
	}
}

func TestDepthwisePerChannelGradients(t *testing.T) {
	for _, c := range dwCases {
		g, err := resolveGeom("t", tensor.Shape{c.n, c.c, c.h, c.w}, c.c, c.c*c.m, c.k, c.k, c.s, c.s, c.pad)
		if err != nil {
			t.Fatal(err)
		}
		if g.PT != g.PB || g.PL != g.PR {
			continue // asymmetric padding: fused only
		}
		t.Run(c.String(), func(t *testing.T) {
			checkGrad(t, gradCase{name: "perchannel " + c.String(), xShape: []int{c.n, c.c, c.h, c.w}, build: c.build(PerChannel)}, 15)
		})
	}
}

// TestDepthwiseKernelsMatchReference checks the fast forward kernel against
// the tap-by-tap definition, in float32 and float64.
func TestDepthwiseKernelsMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, c := range append(dwCases, dwCase{3, 7, 16, 16, 1, 3, 1, Same(), false}, dwCase{2, 5, 15, 17, 1, 3, 2, Same(), false}) {
		g, err := resolveGeom("t", tensor.Shape{c.n, c.c, c.h, c.w}, c.c, c.c*c.m, c.k, c.k, c.s, c.s, c.pad)
		if err != nil {
			t.Fatal(err)
		}
		x := randDense(r, c.n, c.c, c.h, c.w).Data().([]float64)
		k := randDense(r, c.c*c.m, c.k*c.k).Data().([]float64)
		want := make([]float64, g.N*g.O*g.Ho*g.Wo)
		got := make([]float64, len(want))
		dwForwardRef(g, want, x, k)
		kernels.DWForward(g, got, x, k)
		if d := maxAbsDiff(got, want); d > 1e-12 {
			t.Errorf("%v: float64 forward differs from reference by %g", c, d)
		}
		got32 := make([]float32, len(want))
		kernels.DWForward(g, got32, f32s(x), f32s(k))
		if d := maxAbsDiff(f64s(got32), want); d > 1e-4 {
			t.Errorf("%v: float32 forward differs from reference by %g", c, d)
		}
	}
}

// TestDepthwiseFusedMatchesPerChannel runs both implementations on the same
// weights, forward and backward, with channel counts past 256.
func TestDepthwiseFusedMatchesPerChannel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds large per-channel graphs")
	}
	cases := []dwCase{
		{2, 300, 4, 4, 1, 3, 1, Same(), false},
		{1, 520, 3, 5, 1, 3, 2, Same(), false},
		{2, 130, 4, 3, 2, 3, 1, Pad(1), false},
	}
	for _, c := range cases {
		t.Run(c.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(5, uint64(c.c)))
			xv := randDense(r, c.n, c.c, c.h, c.w)
			outs := make([][]float64, 2)
			grads := make([][][]float64, 2)
			for i, impl := range []DepthwiseImpl{Fused, PerChannel} {
				g := G.NewGraph()
				s, _ := NewStore(tensor.Float32, 11) // same seed: same weights
				b := NewBuilder(g, s)
				x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(c.n, c.c, c.h, c.w), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(c.n, c.c, c.h, c.w), tensor.WithBacking(f32s(xv.Data().([]float64))))))
				y, err := c.build(impl)(b, x)
				if err != nil {
					t.Fatal(err)
				}
				ys := y.Shape()
				R := G.NewTensor(g, tensor.Float32, 4, G.WithShape(ys...), G.WithName("R"), G.WithValue(tensor.New(tensor.WithShape(ys...), tensor.WithBacking(f32s(randDense(rand.New(rand.NewPCG(9, 9)), ys...).Data().([]float64))))))
				loss := G.Must(G.Sum(G.Must(G.HadamardProd(y, R))))
				wrt := append(G.Nodes{x}, b.Learnables()...)
				if _, err := G.Grad(loss, wrt...); err != nil {
					t.Fatal(err)
				}
				var yv G.Value
				G.Read(y, &yv)
				vm := G.NewTapeMachine(g, G.BindDualValues(wrt...))
				if err := vm.RunAll(); err != nil {
					t.Fatal(err)
				}
				outs[i] = f64s(yv.Data().([]float32))
				for _, n := range wrt {
					gv, _ := n.Grad()
					grads[i] = append(grads[i], f64s(gv.Data().([]float32)))
				}
				vm.Close()
			}
			if d := maxAbsDiff(outs[0], outs[1]); d > 1e-4 {
				t.Errorf("forward: fused and per-channel differ by %g", d)
			}
			for j := range grads[0] {
				if d := maxAbsDiff(grads[0][j], grads[1][j]); d > 1e-3 {
					t.Errorf("gradient %d: fused and per-channel differ by %g", j, d)
				}
			}
		})
	}
}

func TestDepthwiseBadInput(t *testing.T) {
	g := G.NewGraph()
	s, _ := NewStore(tensor.Float32, 1)
	b := NewBuilder(g, s)
	if _, err := NewDepthwiseConv2D(b.In("a"), DepthwiseConfig{Channels: 0}); err == nil {
		t.Error("zero channels: no error")
	}
	if _, err := NewDepthwiseConv2D(b.In("b"), DepthwiseConfig{Channels: 3, Stride: -1}); err == nil {
		t.Error("negative stride: no error")
	}
	l, err := NewDepthwiseConv2D(b.In("c"), DepthwiseConfig{Channels: 3, Kernel: 5, Padding: Pad(0)})
	if err != nil {
		t.Fatal(err)
	}
	for _, shape := range [][]int{{2, 4, 8, 8}, {2, 3, 8}, {1, 3, 4, 4}} {
		x := G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...))
		if _, err := l.Fwd(x); err == nil {
			t.Errorf("input %v: no error", shape)
		} else {
			t.Logf("input %v: %v", shape, err)
		}
	}
}

func f32s(x []float64) []float32 {
	r := make([]float32, len(x))
	for i, v := range x {
		r[i] = float32(v)
	}
	return r
}

func f64s(x []float32) []float64 {
	r := make([]float64, len(x))
	for i, v := range x {
		r[i] = float64(v)
	}
	return r
}

// TestDepthwiseFloat32MatchesFloat64 holds the float32 kernels (which take
// the AVX2 assembly where the CPU has it) to the float64 ones (which the
// finite-difference checks cover): forward, input gradient and kernel
// gradient, over the test cases, 3×3 stride-1 planes of every width from 3
// to 21 and stride-2 planes from 3 to 40 (each tail length of the vector
// loops), small planes with many channels (runs of planes per call) and
// with batches of more than one block of samples, and 32×32.
func TestDepthwiseFloat32MatchesFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	cases := append([]dwCase(nil), dwCases...)
	for w := 3; w <= 21; w++ {
		cases = append(cases, dwCase{2, 3, 1 + w%5, w, 1, 3, 1, Pad(1), false})
	}
	for _, hw := range [][2]int{{1, 1}, {1, 5}, {2, 2}, {3, 3}, {4, 4}, {2, 9}, {5, 7}, {7, 7}, {8, 8}, {3, 21}, {1, 64}} {
		// small planes (≤ 64 floats), with multiplier 1 and 2
		cases = append(cases, dwCase{3, 4, hw[0], hw[1], 1, 3, 1, Pad(1), false}, dwCase{2, 3, hw[0], hw[1], 2, 3, 1, Pad(1), false})
	}
	for w := 3; w <= 40; w++ { // stride 2: every final-block size, odd and even
		cases = append(cases, dwCase{2, 2, 1 + w%6, w, 1, 3, 2, Pad(1), false})
	}
	for _, hw := range [][2]int{{4, 4}, {2, 2}, {8, 8}, {3, 5}} {
		// many planes: runs of planes split over the workers, the kernel
		// index wrapping around the channels within a run
		cases = append(cases, dwCase{5, 37, hw[0], hw[1], 1, 3, 1, Pad(1), false}, dwCase{3, 19, hw[0], hw[1], 2, 3, 1, Pad(1), false})
	}
	for _, hw := range [][2]int{{4, 4}, {8, 8}, {3, 5}, {7, 9}, {1, 5}, {2, 8}, {1, 16}, {5, 3}, {2, 32}} {
		// stride 2 on small planes (dwSmallS2 on the AVX-512 tier): many
		// planes, batch 1, and a depth multiplier that takes another plan
		cases = append(cases, dwCase{5, 37, hw[0], hw[1], 1, 3, 2, Pad(1), false}, dwCase{1, 19, hw[0], hw[1], 1, 3, 2, Pad(1), false},
			dwCase{2, 5, hw[0], hw[1], 2, 3, 2, Pad(1), false})
	}
	for _, hw := range [][2]int{{4, 4}, {2, 2}, {8, 8}} {
		// batches over the kernel gradient's blocks of samples (a partial
		// last block), multiplier 1 and 2
		cases = append(cases, dwCase{35, 7, hw[0], hw[1], 1, 3, 1, Pad(1), false}, dwCase{17, 3, hw[0], hw[1], 2, 3, 1, Pad(1), false})
	}
	cases = append(cases, dwCase{1, 2, 32, 32, 1, 3, 1, Pad(1), false}, dwCase{1, 1, 1, 40, 1, 3, 1, Pad(1), false},
		dwCase{2, 3, 32, 32, 1, 3, 2, Pad(1), false}, dwCase{1, 2, 16, 16, 2, 3, 2, Pad(1), false})
	for _, c := range cases {
		g, err := resolveGeom("t", tensor.Shape{c.n, c.c, c.h, c.w}, c.c, c.c*c.m, c.k, c.k, c.s, c.s, c.pad)
		if err != nil {
			t.Fatal(err)
		}
		x := f64s(f32s(randDense(r, c.n, c.c, c.h, c.w).Data().([]float64)))
		k := f64s(f32s(randDense(r, c.c*c.m, c.k*c.k).Data().([]float64)))
		dy := f64s(f32s(randDense(r, g.N, g.O, g.Ho, g.Wo).Data().([]float64)))
		y, dx, dk := make([]float64, len(dy)), make([]float64, len(x)), make([]float64, len(k))
		kernels.DWForward(g, y, x, k)
		kernels.DWBackwardInput(g, dx, dy, k)
		kernels.DWBackwardKernel(g, dk, x, dy)
		y32, dx32, dk32 := make([]float32, len(dy)), make([]float32, len(x)), make([]float32, len(k))
		kernels.DWForward(g, y32, f32s(x), f32s(k))
		kernels.DWBackwardInput(g, dx32, f32s(dy), f32s(k))
		kernels.DWBackwardKernel(g, dk32, f32s(x), f32s(dy))
		for _, p := range []struct {
			what      string
			got, want []float64
			tol       float64
		}{{"forward", f64s(y32), y, 1e-4}, {"input gradient", f64s(dx32), dx, 1e-4}, {"kernel gradient", f64s(dk32), dk, 1e-3}} {
			if d := maxAbsDiff(p.got, p.want); d > p.tol {
				t.Errorf("%v: float32 %s differs from float64 by %g", c, p.what, d)
			}
		}
	}
}

// Reference kernels: the definition, one tap at a time with a bounds test.
// Tests check the fast kernels against them.

func dwForwardRef[T Float](g kernels.Geom, y, x, k []T) {
	M := g.O / g.C
	for n := 0; n < g.N; n++ {
		for co := 0; co < g.O; co++ {
			c := co / M
			for oy := 0; oy < g.Ho; oy++ {
				for ox := 0; ox < g.Wo; ox++ {
					var s T
					for ky := 0; ky < g.KH; ky++ {
						for kx := 0; kx < g.KW; kx++ {
							iy, ix := oy*g.SH-g.PT+ky, ox*g.SW-g.PL+kx
							if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
								s += x[((n*g.C+c)*g.H+iy)*g.W+ix] * k[(co*g.KH+ky)*g.KW+kx]
							}
						}
					}
					y[((n*g.O+co)*g.Ho+oy)*g.Wo+ox] = s
				}
			}
		}
	}
}

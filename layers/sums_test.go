package layers

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomobilenet/mobilenet/layers/internal/kernels"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestConvBatchNormSums: a BatchNorm in training that reads a convolution's
// output takes the batch sums the convolution measured (kernels.Epilogue
// with Stats) instead of a pass of its own, and computes what it computes
// without them — outputs, running statistics, and the gradients of the
// input, the weights, scale and bias — for pointwise convolutions per sample
// and batched (2×2 maps), 3×3 and grouped convolutions, depthwise at strides
// 1 and 2 and with a multiplier, in float64 and float32, on inputs far from
// zero mean; and that the sums were used (and taken once).
func TestConvBatchNormSums(t *testing.T) {
	convs := []struct {
		name string
		hw   int
		mk   func(b *Builder) (Layer, int, error)
	}{
		{"pointwise per sample", 9, func(b *Builder) (Layer, int, error) {
			l, err := NewPointwiseConv2D(b.In("c"), PointwiseConfig{In: 5, Out: 7})
			return l, 7, err
		}},
		{"pointwise batched", 3, func(b *Builder) (Layer, int, error) {
			l, err := NewPointwiseConv2D(b.In("c"), PointwiseConfig{In: 5, Out: 6})
			return l, 6, err
		}},
		{"conv 3x3 stride 2", 17, func(b *Builder) (Layer, int, error) {
			l, err := NewConv2D(b.In("c"), Conv2DConfig{In: 5, Out: 4, Stride: 2, Padding: Pad(1)})
			return l, 4, err
		}},
		{"grouped conv", 9, func(b *Builder) (Layer, int, error) {
			l, err := NewConv2D(b.In("c"), Conv2DConfig{In: 5, Out: 10, Groups: 5, Kernel: 1, Padding: Pad(0)})
			return l, 10, err
		}},
		{"depthwise 3x3", 9, func(b *Builder) (Layer, int, error) {
			l, err := NewDepthwiseConv2D(b.In("c"), DepthwiseConfig{Channels: 5, Padding: Pad(1)})
			return l, 5, err
		}},
		{"depthwise 3x3 stride 2", 17, func(b *Builder) (Layer, int, error) {
			l, err := NewDepthwiseConv2D(b.In("c"), DepthwiseConfig{Channels: 5, Stride: 2, Padding: Pad(1)})
			return l, 5, err
		}},
		{"depthwise multiplier 2", 10, func(b *Builder) (Layer, int, error) {
			l, err := NewDepthwiseConv2D(b.In("c"), DepthwiseConfig{Channels: 5, Multiplier: 2, Padding: Pad(1)})
			return l, 10, err
		}},
		{"depthwise small planes", 8, func(b *Builder) (Layer, int, error) {
			l, err := NewDepthwiseConv2D(b.In("c"), DepthwiseConfig{Channels: 5, Padding: Pad(1)})
			return l, 5, err
		}},
	}
	for _, c := range convs {
		// float64: the same to rounding. float32: as close to the float64
		// results as the BatchNorm's own pass gets (the gradients of
		// inputs near 40 lose digits to cancellation either way).
		ref := runConvBN(t, c.name+" float64 own pass", tensor.Float64, c.hw, c.mk, false)
		f64 := runConvBN(t, c.name+" float64", tensor.Float64, c.hw, c.mk, true)
		own := runConvBN(t, c.name+" float32 own pass", tensor.Float32, c.hw, c.mk, false)
		f32 := runConvBN(t, c.name+" float32", tensor.Float32, c.hw, c.mk, true)
		for i := range ref {
			scale := 0.0
			for _, v := range ref[i] {
				scale = math.Max(scale, math.Abs(v))
			}
			maxErr := func(got []float64) float64 {
				e := 0.0
				for j := range got {
					e = math.Max(e, math.Abs(got[j]-ref[i][j]))
				}
				return e
			}
			if e := maxErr(f64[i]); !(e <= 1e-10*(1+scale)) {
				t.Fatalf("%s float64: result %d differs by %g with the convolution's sums", c.name, i, e)
			}
			if e, eOwn := maxErr(f32[i]), maxErr(own[i]); !(e <= 2*eOwn+1e-5*(1+scale)) {
				t.Fatalf("%s float32: result %d is %g from float64 with the convolution's sums, %g with the BatchNorm's own pass", c.name, i, e, eOwn)
			}
		}
	}
}

// runConvBN trains conv → BatchNorm(ReLU) for one step (the loss Σ y⊙R) and
// returns y, the running statistics and the gradients; with fused false the
// BatchNorm is built without the link to the convolution's sums.
func runConvBN(t *testing.T, label string, dt tensor.Dtype, hw int, mk func(*Builder) (Layer, int, error), fused bool) [][]float64 {
	t.Helper()
	g := G.NewGraph()
	s, _ := NewStore(dt, 5)
	b := NewBuilder(g, s)
	conv, o, err := mk(b)
	if err != nil {
		t.Fatal(err)
	}
	bn, err := NewBatchNorm(b.In("c/bn"), BatchNormConfig{Channels: o, Momentum: 0.3, Epsilon: 1e-5, Activation: ReLU})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	shape := []int{3, 5, hw, hw}
	xv := randDense(r, shape...)
	for i, v := range xv.Data().([]float64) {
		xv.Data().([]float64)[i] = 40 + v // far from zero mean: the shifted sums must hold
	}
	if dt == tensor.Float32 {
		xv = to32(xv)
	}
	x := G.NewTensor(g, dt, 4, G.WithShape(shape...), G.WithName("x"), G.WithValue(xv))
	yc, err := conv.Fwd(x)
	if err != nil {
		t.Fatal(err)
	}
	if !fused {
		delete(b.reg.sums, yc)
	}
	y, err := bn.Fwd(yc)
	if err != nil {
		t.Fatal(err)
	}
	Rv := randDense(r, y.Shape()...)
	if dt == tensor.Float32 {
		Rv = to32(Rv)
	}
	R := G.NewTensor(g, dt, 4, G.WithShape(y.Shape()...), G.WithName("R"), G.WithValue(Rv))
	loss := G.Must(G.Sum(G.Must(G.HadamardProd(y, R))))
	wrt := append(G.Nodes{x}, b.Learnables()...)
	if _, err := G.Grad(loss, wrt...); err != nil {
		t.Fatal(err)
	}
	var yv G.Value
	G.Read(y, &yv)
	vm := G.NewTapeMachine(g, G.BindDualValues(wrt...))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	l := b.reg.sums[yc]
	switch pays := kernels.EpilogueSumsPay(yc.Shape()[2] * yc.Shape()[3]); {
	case fused && pays && (l == nil || l.st.Units == 0 || l.ready):
		t.Fatalf("%s: the BatchNorm did not take the convolution's sums", label)
	case fused && !pays && l.st.Units != 0:
		t.Fatalf("%s: sums measured on small planes, where they do not pay", label)
	}
	out := [][]float64{float64s(yv.Data())}
	mean, variance := bn.RunningStats()
	out = append(out, float64s(mean.Value.Data()), float64s(variance.Value.Data()))
	for _, n := range wrt {
		gv, err := n.Grad()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, float64s(gv.Data()))
	}
	return out
}

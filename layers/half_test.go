package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/gomobilenet/mobilenet/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestSeparableHalf: in bf16 a separable block whose depthwise BatchNorm
// writes its output in bf16 for the pointwise convolution (halfLink)
// trains exactly as its four layers applied one by one, which keep that
// output in float32 and let the convolution round it: the block's output,
// the input gradient and every parameter's gradient equal bit for bit, in
// training (at 1 thread) and in inference (at 2), with ReLU and ReLU6, on
// maps the pointwise products take per sample (4×4 with its batched weight
// gradient, 7×7, batch 1) and on one they batch (2×2, where the link stays
// off). In float32 the link is off.
func TestSeparableHalf(t *testing.T) {
	for _, tc := range []struct {
		n, in, out, hw, stride int
		act                    Activation
	}{
		{4, 8, 16, 4, 1, ReLU}, {3, 5, 7, 7, 1, ReLU6}, {1, 6, 10, 9, 2, ReLU}, {5, 16, 24, 8, 2, ReLU}, {4, 8, 8, 2, 1, ReLU},
	} {
		for _, prec := range []Precision{BF16, FP32} {
			for i, procs := range []int{1, 2} {
				training := i == 0
				name := fmt.Sprintf("%+v %v %d threads training %v", tc, prec, procs, training)
				prev := runtime.GOMAXPROCS(procs)
				on := runSeparable(t, name, tc.n, tc.in, tc.out, tc.hw, tc.stride, tc.act, prec, training)
				runtime.GOMAXPROCS(prev)
				ho := (tc.hw-1)/tc.stride + 1
				want := prec == BF16 && blas.HaveBF16() && (ho*ho >= 16 || tc.n == 1)
				if on != want {
					t.Errorf("%s: the link was on: %v, want %v", name, on, want)
				}
			}
		}
	}
}

// runSeparable trains one step of a separable block through Fwd and
// through its layers one by one, over one Store, and compares them; it
// returns whether the block's link wrote bf16.
func runSeparable(t *testing.T, name string, n, in, out, hw, stride int, act Activation, prec Precision, training bool) bool {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(n*1000+in), uint64(out*100+hw)))
	s, _ := NewStore(tensor.Float32, 7)
	s.SetPrecision(prec)
	s.mode.SetTraining(training)
	cfg := DefaultSeparableConfig(in, out)
	cfg.Stride, cfg.Activation = stride, act
	xv := to32(randDense(r, n*in*hw*hw, 1))
	xv.Reshape(n, in, hw, hw)
	var rv *tensor.Dense
	type result struct {
		y, dx []float32
		grads [][]float32
		on    bool
	}
	run := func(whole bool) result {
		g := G.NewGraph()
		b := NewBuilder(g, s)
		if !whole {
			b = b.Reuse()
		}
		blk, err := NewSeparableBlock(b.In("blk"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(n, in, hw, hw), G.WithName("x"), G.WithValue(xv.Clone()))
		var y *G.Node
		if whole {
			y, err = blk.Fwd(x)
		} else {
			y, err = blk.seq().Fwd(x)
		}
		if err != nil {
			t.Fatal(err)
		}
		if rv == nil {
			rv = to32(randDense(r, y.Shape().TotalSize(), 1))
			rv.Reshape(y.Shape()...)
		}
		R := G.NewTensor(g, tensor.Float32, 4, G.WithShape(y.Shape()...), G.WithName("R"), G.WithValue(rv.Clone()))
		loss := G.Must(G.Sum(G.Must(G.HadamardProd(G.Must(G.Square(y)), R))))
		var yv G.Value
		G.Read(y, &yv)
		wrt := append(G.Nodes{x}, blk.Learnables()...)
		if _, err := G.Grad(loss, wrt...); err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g, G.BindDualValues(wrt...))
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		res := result{y: append([]float32(nil), yv.Data().([]float32)...)}
		for i, w := range wrt {
			gv, err := w.Grad()
			if err != nil {
				t.Fatal(err)
			}
			d := append([]float32(nil), gv.Data().([]float32)...)
			if i == 0 {
				res.dx = d
				continue
			}
			res.grads = append(res.grads, d)
		}
		res.on = whole && blk.half.isOn()
		return res
	}
	a, b := run(true), run(false)
	cmp := func(what string, got, want []float32) {
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: %s[%d] = %v through the link, %v layer by layer", name, what, i, got[i], want[i])
			}
		}
	}
	cmp("y", a.y, b.y)
	cmp("dx", a.dx, b.dx)
	for i := range b.grads {
		cmp(fmt.Sprintf("gradient %d", i), a.grads[i], b.grads[i])
	}
	return a.on
}

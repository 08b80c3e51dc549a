package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/gomobilenet/mobilenet/dist"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// bnOutcome is what one BatchNorm step computes: the output, the input
// gradient, the parameter gradients and the running statistics after it.
type bnOutcome struct {
	y, dx, dscale, dbias, mean, variance []float64
	dw                                   []float64 // of the 1×1 convolution before, if any
}

// bnStep runs a BatchNorm (c channels, act) in training on x (shape) and
// back-propagates the loss Σ w·y, with all (nil: none) synchronising its
// statistics.
func bnStep(t *testing.T, dt tensor.Dtype, shape []int, x, w []float64, act Activation, conv1 bool, all func([]float64) error) bnOutcome {
	t.Helper()
	s, err := NewStore(dt, 1)
	if err != nil {
		t.Fatal(err)
	}
	s.SyncBatchNorm(all)
	g := G.NewGraph()
	b := NewBuilder(g, s)
	l, err := NewBatchNorm(b.In("bn"), BatchNormConfig{Channels: shape[1], Momentum: 0.3, Epsilon: 1e-5, Activation: act})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4)) // the same parameters on every rank
	for _, n := range l.Learnables() {
		setFloats(n.Value(), func(i int) float64 { return 0.5 + r.Float64() })
	}
	conv := func(v []float64) *tensor.Dense {
		if dt == tensor.Float32 {
			f := make([]float32, len(v))
			for i, e := range v {
				f[i] = float32(e)
			}
			return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(f))
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float64(nil), v...)))
	}
	xn := G.NewTensor(g, dt, len(shape), G.WithShape(shape...), G.WithName("x"), G.WithValue(conv(x)))
	wn := G.NewTensor(g, dt, len(shape), G.WithShape(shape...), G.WithName("w"), G.WithValue(conv(w)))
	in := xn
	var pw *PointwiseConv2D
	if conv1 { // through a 1×1 convolution, whose epilogue measures the sums
		if pw, err = NewPointwiseConv2D(b.In("pw"), PointwiseConfig{In: shape[1], Out: shape[1]}); err != nil {
			t.Fatal(err)
		}
		if in, err = pw.Fwd(xn); err != nil {
			t.Fatal(err)
		}
	}
	y, err := l.Fwd(in)
	if err != nil {
		t.Fatal(err)
	}
	loss := G.Must(G.Sum(G.Must(G.HadamardProd(y, wn))))
	params := append(G.Nodes{xn}, l.Learnables()...)
	if pw != nil {
		params = append(params, pw.Learnables()...)
	}
	if _, err := G.Grad(loss, params...); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(params...))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncBatchNormErr(); err != nil {
		t.Fatal(err)
	}
	grad := func(n *G.Node) []float64 {
		v, err := n.Grad()
		if err != nil {
			t.Fatal(err)
		}
		return floats(v)
	}
	mean, variance := l.RunningStats()
	o := bnOutcome{y: floats(y.Value()), dx: grad(xn), dscale: grad(l.Learnables()[0]), dbias: grad(l.Learnables()[1]), mean: floats(mean.Value), variance: floats(variance.Value)}
	if pw != nil {
		o.dw = grad(pw.Learnables()[0])
	}
	return o
}

// floats returns a value's data as float64s.
func floats(v G.Value) []float64 {
	switch d := v.Data().(type) {
	case []float64:
		return append([]float64(nil), d...)
	case []float32:
		out := make([]float64, len(d))
		for i, e := range d {
			out[i] = float64(e)
		}
		return out
	}
	panic(fmt.Sprintf("data of type %T", v.Data()))
}

// setFloats sets every element of a float32 or float64 value to f(i).
func setFloats(v G.Value, f func(i int) float64) {
	switch d := v.Data().(type) {
	case []float64:
		for i := range d {
			d[i] = f(i)
		}
	case []float32:
		for i := range d {
			d[i] = float32(f(i))
		}
	}
}

// TestSyncBatchNorm: N ranks, each with its slice of the batch and
// SyncBatchNorm over an in-process group, compute what one process
// computes on the whole batch: the same outputs and input gradients
// (slice by slice), parameter gradients that sum across ranks to the
// whole batch's, and the whole batch's running statistics on every rank.
// Without it the ranks normalise with their own slices, which differs.
// Float64 within 1e-10 (the sums are exchanged in float64 and the
// variance taken as E[x²] − mean² over a mean of 3 against a standard
// deviation of 1.5); float32 within 1e-5 relative of the output scale.
func TestSyncBatchNorm(t *testing.T) {
	for _, tc := range []struct {
		dt    tensor.Dtype
		shape []int // of the whole batch
		ranks int
		act   Activation
		conv1 bool
		tol   float64
	}{
		{tensor.Float64, []int{6, 3, 4, 5}, 2, ReLU, false, 1e-10},
		{tensor.Float64, []int{6, 3, 4, 5}, 3, ReLU6, false, 1e-10},
		{tensor.Float64, []int{4, 5}, 4, Linear, false, 1e-10},
		{tensor.Float64, []int{4, 8, 9, 9}, 2, ReLU, true, 1e-10},
		{tensor.Float32, []int{8, 16, 7, 7}, 2, ReLU, false, 1e-5},
		{tensor.Float32, []int{8, 16, 9, 9}, 2, ReLU, true, 1e-5},
		{tensor.Float32, []int{128, 16, 1, 1}, 2, ReLU, true, 1e-5},
		{tensor.Float32, []int{128, 16, 2, 2}, 2, ReLU, true, 1e-5},
		{tensor.Float32, []int{128, 16, 1, 1}, 2, ReLU, false, 1e-5},
	} {
		t.Run(fmt.Sprintf("%v %v ranks %d %v conv %v", tc.dt, tc.shape, tc.ranks, tc.act, tc.conv1), func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 8))
			total := 1
			for _, d := range tc.shape {
				total *= d
			}
			x, w := make([]float64, total), make([]float64, total)
			for i := range x {
				x[i], w[i] = 3+1.5*r.NormFloat64(), r.NormFloat64()
			}
			whole := bnStep(t, tc.dt, tc.shape, x, w, tc.act, tc.conv1, nil)
			part := append([]int{tc.shape[0] / tc.ranks}, tc.shape[1:]...)
			per := total / tc.ranks
			for _, synced := range []bool{true, false} {
				comms, err := dist.Group(tc.ranks, 0)
				if err != nil {
					t.Fatal(err)
				}
				outs := make([]bnOutcome, tc.ranks)
				var wg sync.WaitGroup
				for k, c := range comms {
					var all func([]float64) error
					if synced {
						all = c.AllreduceSum64
					}
					wg.Go(func() {
						outs[k] = bnStep(t, tc.dt, part, x[k*per:(k+1)*per], w[k*per:(k+1)*per], tc.act, tc.conv1, all)
					})
				}
				wg.Wait()
				var y, dx []float64
				dscale, dbias, dw := make([]float64, tc.shape[1]), make([]float64, tc.shape[1]), make([]float64, len(whole.dw))
				for _, o := range outs {
					y, dx = append(y, o.y...), append(dx, o.dx...)
					for c := range dscale {
						dscale[c] += o.dscale[c]
						dbias[c] += o.dbias[c]
					}
					for i := range dw {
						dw[i] += o.dw[i]
					}
				}
				worst := maxRelDiff(y, whole.y)
				for _, d := range [][2][]float64{{dx, whole.dx}, {dscale, whole.dscale}, {dbias, whole.dbias}, {dw, whole.dw}} {
					worst = max(worst, maxRelDiff(d[0], d[1]))
				}
				for _, o := range outs {
					worst = max(worst, maxRelDiff(o.mean, whole.mean), maxRelDiff(o.variance, whole.variance))
				}
				if synced && worst > tc.tol {
					t.Errorf("synchronised: differs from one process by %.3g (tolerance %g)", worst, tc.tol)
				}
				if !synced && worst < 1e-3 {
					t.Errorf("not synchronised: the same as one process (%.3g): the test would not see a missing exchange", worst)
				}
			}
		})
	}
}

// maxRelDiff is max |a−b| over the scale of b (its largest magnitude).
func maxRelDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	scale, d := 0.0, 0.0
	for i := range b {
		scale = max(scale, math.Abs(b[i]))
		d = max(d, math.Abs(a[i]-b[i]))
	}
	return d / max(scale, 1e-300)
}

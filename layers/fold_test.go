package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestFoldBatchNorm: a convolution + BatchNorm folded into one op equals the
// two layers in inference mode (float64 to 1e-12, float32 to float32
// rounding), for every kind of convolution and activation, with running
// statistics far from their initial values, and leaves those statistics
// untouched.
func TestFoldBatchNorm(t *testing.T) {
	type mk func(b *Builder) (Layer, int, error)
	convs := map[string]mk{
		"pointwise per sample": func(b *Builder) (Layer, int, error) {
			l, err := NewPointwiseConv2D(b.In("c"), PointwiseConfig{In: 5, Out: 7})
			return l, 7, err
		},
		"pointwise with bias": func(b *Builder) (Layer, int, error) {
			l, err := NewPointwiseConv2D(b.In("c"), PointwiseConfig{In: 5, Out: 6, Bias: true})
			return l, 6, err
		},
		"conv 3x3 stride 2": func(b *Builder) (Layer, int, error) {
			l, err := NewConv2D(b.In("c"), Conv2DConfig{In: 5, Out: 4, Stride: 2, Padding: Pad(1), Bias: true})
			return l, 4, err
		},
		"depthwise 3x3": func(b *Builder) (Layer, int, error) {
			l, err := NewDepthwiseConv2D(b.In("c"), DepthwiseConfig{Channels: 5, Padding: Pad(1)})
			return l, 5, err
		},
		"depthwise 3x3 stride 2": func(b *Builder) (Layer, int, error) {
			l, err := NewDepthwiseConv2D(b.In("c"), DepthwiseConfig{Channels: 5, Stride: 2, Padding: Pad(1)})
			return l, 5, err
		},
		"depthwise 5x5 multiplier 2": func(b *Builder) (Layer, int, error) {
			l, err := NewDepthwiseConv2D(b.In("c"), DepthwiseConfig{Channels: 5, Multiplier: 2, Kernel: 5, Bias: true})
			return l, 10, err
		},
	}
	for name, newConv := range convs {
		for _, hw := range []int{4, 8, 9, 16} { // small planes (batched GEMM, small-plane kernels), odd, larger
			for _, act := range []Activation{ReLU, ReLU6, Linear} {
				for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
					n := 3
					if hw == 9 {
						n = 1
					}
					label := fmt.Sprintf("%s %dx%d %v %v", name, hw, hw, act, dt)
					checkFold(t, label, dt, []int{n, 5, hw, hw}, newConv, act)
				}
			}
		}
	}
}

func checkFold(t *testing.T, label string, dt tensor.Dtype, xShape []int, newConv func(*Builder) (Layer, int, error), act Activation) {
	t.Helper()
	r := rand.New(rand.NewPCG(4, uint64(len(label))))
	s, _ := NewStore(dt, 9)
	build := func(folded bool) ([]float64, error) {
		g := G.NewGraph()
		b := NewBuilder(g, s)
		conv, o, err := newConv(b)
		if err != nil {
			return nil, err
		}
		bn, err := NewBatchNorm(b.In("c/bn"), BatchNormConfig{Channels: o, Momentum: 0.1, Epsilon: 1e-5, Activation: act})
		if err != nil {
			return nil, err
		}
		xv := randDense(rand.New(rand.NewPCG(1, 1)), xShape...)
		if dt == tensor.Float32 {
			xv = to32(xv)
		}
		x := G.NewTensor(g, dt, 4, G.WithShape(xShape...), G.WithName("x"), G.WithValue(xv))
		var y *G.Node
		if folded {
			y, err = FoldBatchNorm(conv, bn, x)
		} else if y, err = conv.Fwd(x); err == nil {
			y, err = bn.Fwd(y)
		}
		if err != nil {
			return nil, err
		}
		var yv G.Value
		G.Read(y, &yv)
		vm := G.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			return nil, err
		}
		return float64s(yv.Data()), nil
	}
	if _, err := build(false); err != nil { // creates the variables
		t.Fatalf("%s: %v", label, err)
	}
	// Statistics and affine parameters far from their initial values.
	for _, v := range s.Vars() {
		d := float64s(v.Value.Data())
		for i := range d {
			switch {
			case hasSuffix(v.Name, "running_var"):
				d[i] = 0.2 + 3*r.Float64()
			case hasSuffix(v.Name, "bias"), hasSuffix(v.Name, "running_mean"):
				d[i] = r.NormFloat64()
			case hasSuffix(v.Name, "scale"):
				d[i] = 0.5 + r.Float64()
			default:
				continue
			}
		}
		setValues(v, d)
	}
	s.Mode().SetTraining(false)
	before := snapshotVars(s)
	want, err := build(false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := build(true)
	if err != nil {
		t.Fatalf("%s: folded: %v", label, err)
	}
	tol := 1e-12
	if dt == tensor.Float32 {
		tol = 3e-5
	}
	scale := 0.0
	for _, v := range want {
		scale = math.Max(scale, math.Abs(v))
	}
	for i := range want {
		if d := math.Abs(got[i] - want[i]); d > tol*(1+scale) || math.IsNaN(got[i]) {
			t.Fatalf("%s: folded[%d] = %g, unfolded %g", label, i, got[i], want[i])
		}
	}
	for name, v := range snapshotVars(s) {
		for i := range v {
			if v[i] != before[name][i] {
				t.Fatalf("%s: the folded run changed %s", label, name)
			}
		}
	}
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

func setValues(v *Var, d []float64) {
	switch x := v.Value.Data().(type) {
	case []float64:
		copy(x, d)
	case []float32:
		for i := range x {
			x[i] = float32(d[i])
		}
	}
}

func snapshotVars(s *Store) map[string][]float64 {
	m := map[string][]float64{}
	for _, v := range s.Vars() {
		m[v.Name] = float64s(v.Value.Data())
	}
	return m
}

// TestFoldHasNoGradient: differentiating through a folded op is an error,
// not a panic or a silently wrong gradient.
func TestFoldHasNoGradient(t *testing.T) {
	g := G.NewGraph()
	s, _ := NewStore(tensor.Float64, 1)
	b := NewBuilder(g, s)
	pw, _ := NewPointwiseConv2D(b.In("pw"), PointwiseConfig{In: 2, Out: 3})
	bn, _ := NewBatchNorm(b.In("pw/bn"), BatchNormConfig{Channels: 3, Momentum: 0.1, Epsilon: 1e-5})
	x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(1, 2, 4, 4), G.WithName("x"), G.WithValue(randDense(rand.New(rand.NewPCG(1, 2)), 1, 2, 4, 4)))
	y, err := FoldBatchNorm(pw, bn, x)
	if err != nil {
		t.Fatal(err)
	}
	loss := G.Must(G.Sum(y))
	if _, err := G.Grad(loss, b.Learnables()...); err == nil {
		t.Error("Grad through a folded op gave no error")
	}
	if _, err := FoldBatchNorm(bn, bn, x); err == nil {
		t.Error("folding a BatchNorm into a BatchNorm gave no error")
	}
}

// TestFoldsInto: only a convolution directly followed by a BatchNorm folds.
func TestFoldsInto(t *testing.T) {
	s, _ := NewStore(tensor.Float32, 1)
	b := NewBuilder(G.NewGraph(), s)
	conv, _ := NewConv2D(b.In("c"), Conv2DConfig{In: 3, Out: 4})
	dw, _ := NewDepthwiseConv2D(b.In("d"), DepthwiseConfig{Channels: 4})
	bn, _ := NewBatchNorm(b.In("bn"), BatchNormConfig{Channels: 4, Momentum: 0.1, Epsilon: 1e-5})
	fc, _ := NewDense(b.In("fc"), DefaultDenseConfig(4, 4))
	ls := []Layer{conv, bn, dw, GlobalAvgPooling{}, fc, bn, dw, bn}
	for i, want := range []bool{true, false, false, false, false, false, true, false} {
		got, ok := FoldsInto(ls, i)
		if ok != want || (ok && got != bn) {
			t.Errorf("FoldsInto(ls, %d) = %v, %v; want %v", i, got, ok, want)
		}
	}
}

package layers

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestHeadGradients(t *testing.T) {
	checkGrad(t, gradCase{name: "avgpool", xShape: []int{2, 3, 4, 5}, build: func(b *Builder, x *G.Node) (*G.Node, error) {
		return GlobalAvgPool(x)
	}}, 30)
	checkGrad(t, gradCase{name: "dense", xShape: []int{3, 5}, build: func(b *Builder, x *G.Node) (*G.Node, error) {
		l, err := NewDense(b.In("fc"), DefaultDenseConfig(5, 4))
		if err != nil {
			return nil, err
		}
		return l.Fwd(x)
	}}, 30)
	checkGrad(t, gradCase{name: "xent", xShape: []int{4, 3}, build: func(b *Builder, x *G.Node) (*G.Node, error) {
		oh := tensor.New(tensor.WithShape(4, 3), tensor.WithBacking([]float64{1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1}))
		tg := G.NewTensor(b.Graph(), tensor.Float64, 2, G.WithShape(4, 3), G.WithName("t"), G.WithValue(oh))
		l, err := SoftmaxCrossEntropy(x, tg)
		if err != nil {
			return nil, err
		}
		return G.Reshape(l, tensor.Shape{1}) // checkGrad multiplies by R
	}}, 12)
	checkGrad(t, gradCase{name: "separable", xShape: []int{2, 3, 6, 5}, build: func(b *Builder, x *G.Node) (*G.Node, error) {
		l, err := NewSeparableBlock(b.In("block"), stridedSeparable(3, 4, 2))
		if err != nil {
			return nil, err
		}
		return l.Fwd(x)
	}}, 20)
}

func TestDropout(t *testing.T) {
	s, _ := NewStore(tensor.Float64, 1)
	xv := tensor.New(tensor.WithShape(1000), tensor.WithBacking(make([]float64, 1000)))
	for i := range xv.Data().([]float64) {
		xv.Data().([]float64)[i] = 1
	}
	build := func(b *Builder, x *G.Node) (*G.Node, error) {
		d, err := NewDropout(b.In("drop"), DropoutConfig{Rate: 0.25})
		if err != nil {
			return nil, err
		}
		return d.Fwd(x)
	}
	y := evalGraph(t, s, xv, build)
	zeros := 0
	for _, v := range y {
		switch v {
		case 0:
			zeros++
		case 1 / 0.75:
		default:
			t.Fatalf("dropout output %v, want 0 or 1/0.75", v)
		}
	}
	if zeros < 200 || zeros > 300 {
		t.Errorf("dropout zeroed %d of 1000 at rate 0.25", zeros)
	}
	s.Mode().SetTraining(false)
	for _, v := range evalGraph(t, s, xv, build) {
		if v != 1 {
			t.Fatal("inference dropout is not the identity")
		}
	}
	if _, err := NewDropout(NewBuilder(G.NewGraph(), s).In("bad"), DropoutConfig{Rate: 1}); err == nil {
		t.Error("rate 1: no error")
	}
}

// stridedSeparable is MobileNet's block at a stride.
func stridedSeparable(in, out, stride int) SeparableConfig {
	c := DefaultSeparableConfig(in, out)
	c.Stride = stride
	return c
}

// TestSoftmaxCrossEntropyLabels: with class labels the loss and its
// gradient equal those of SoftmaxCrossEntropy with the one-hot targets
// (itself checked against finite differences), in float64 and float32; the
// float64 gradient also matches finite differences of the loss itself; a
// label out of range or not whole fails the run naming its row.
func TestSoftmaxCrossEntropyLabels(t *testing.T) {
	const n, k = 5, 7
	ys := []int{0, 6, 3, 3, 1}
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		r := rand.New(rand.NewPCG(41, 42))
		lv := randDense(r, n, k)
		oh := make([]float64, n*k)
		for i, y := range ys {
			oh[i*k+y] = 1
		}
		ohv := tensor.New(tensor.WithShape(n, k), tensor.WithBacking(oh))
		if dt == tensor.Float32 {
			lv, ohv = to32(lv), to32(ohv)
		}
		run := func(labels bool) (float64, []float64) {
			g := G.NewGraph()
			l := G.NewMatrix(g, dt, G.WithShape(n, k), G.WithName("logits"), G.WithValue(lv.Clone().(*tensor.Dense)))
			var loss *G.Node
			var err error
			if labels {
				y := G.NewVector(g, dt, G.WithShape(n), G.WithName("y"), G.WithValue(Labels(dt, ys)))
				loss, err = SoftmaxCrossEntropyLabels(l, y)
			} else {
				y := G.NewMatrix(g, dt, G.WithShape(n, k), G.WithName("y"), G.WithValue(ohv))
				loss, err = SoftmaxCrossEntropy(l, y)
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := G.Grad(loss, l); err != nil {
				t.Fatal(err)
			}
			vm := G.NewTapeMachine(g, G.BindDualValues(l))
			defer vm.Close()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			gv, _ := l.Grad()
			return float64s([]float64{toF64(loss.Value())})[0], float64s(gv.Data())
		}
		lossL, gradL := run(true)
		lossO, gradO := run(false)
		tol := 1e-12
		if dt == tensor.Float32 {
			tol = 1e-6
		}
		if math.Abs(lossL-lossO) > tol {
			t.Errorf("%v: loss %v with labels, %v with one-hot targets", dt, lossL, lossO)
		}
		for i := range gradO {
			if math.Abs(gradL[i]-gradO[i]) > tol {
				t.Fatalf("%v: gradient[%d] %v with labels, %v with one-hot targets", dt, i, gradL[i], gradO[i])
			}
		}
		if dt == tensor.Float64 { // finite differences of the loss itself
			base := lv.Data().([]float64)
			for i := range base {
				f := func(d float64) float64 {
					v := append([]float64(nil), base...)
					v[i] += d
					return xentLabels(v, []float64{0, 6, 3, 3, 1}, n, k)
				}
				fd := (f(1e-6) - f(-1e-6)) / 2e-6
				if math.Abs(fd-gradL[i]) > 1e-7 {
					t.Fatalf("d loss/d logit %d: %v, finite differences %v", i, gradL[i], fd)
				}
			}
		}
	}
	for _, bad := range []struct {
		y    []float32
		want string
	}{{[]float32{0, 7, 1, 1, 1}, "label 7 of row 1"}, {[]float32{0, 1, -1, 1, 1}, "label -1 of row 2"}, {[]float32{0, 1, 1, 2.5, 1}, "label 2.5 of row 3"}} {
		g := G.NewGraph()
		l := G.NewMatrix(g, tensor.Float32, G.WithShape(n, k), G.WithValue(to32(randDense(rand.New(rand.NewPCG(1, 1)), n, k))))
		y := G.NewVector(g, tensor.Float32, G.WithShape(n), G.WithValue(tensor.New(tensor.WithShape(n), tensor.WithBacking(bad.y))))
		if _, err := SoftmaxCrossEntropyLabels(l, y); err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g)
		err := vm.RunAll()
		vm.Close()
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("labels %v: %v, want an error with %q", bad.y, err, bad.want)
		}
	}
	if _, err := SoftmaxCrossEntropyLabels(G.NewMatrix(G.NewGraph(), tensor.Float32, G.WithShape(n, k)), G.NewVector(G.NewGraph(), tensor.Float32, G.WithShape(n+1))); err == nil {
		t.Error("labels of the wrong length: no error")
	}
}

func toF64(v G.Value) float64 {
	switch s := v.(type) {
	case *G.F32:
		return float64(*s)
	case *G.F64:
		return float64(*s)
	}
	return math.NaN()
}

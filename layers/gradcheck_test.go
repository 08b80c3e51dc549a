package layers

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// randDense returns a float64 tensor of normal values.
func randDense(r *rand.Rand, shape ...int) *tensor.Dense {
	v := make([]float64, tensor.Shape(shape).TotalSize())
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
}

// gradCase is a function of one input built by build, differentiated with
// respect to the input and every learnable of the Builder.
type gradCase struct {
	name   string
	xShape []int
	build  func(b *Builder, x *G.Node) (*G.Node, error)
}

// checkGrad compares Gorgonia's symbolic gradients of L = Σ y⊙R (R random)
// with central finite differences in float64, on up to samples elements of
// every input.
func checkGrad(t *testing.T, c gradCase, samples int) {
	t.Helper()
	r := rand.New(rand.NewPCG(7, uint64(len(c.name))))
	g := G.NewGraph()
	s, _ := NewStore(tensor.Float64, 3)
	b := NewBuilder(g, s)
	xv := randDense(r, c.xShape...)
	x := G.NewTensor(g, tensor.Float64, len(c.xShape), G.WithShape(c.xShape...), G.WithName("x"), G.WithValue(xv))
	y, err := c.build(b, x)
	if err != nil {
		t.Fatalf("%s: build: %v", c.name, err)
	}
	R := G.NewTensor(g, tensor.Float64, y.Dims(), G.WithShape(y.Shape()...), G.WithName("R"), G.WithValue(randDense(r, y.Shape()...)))
	loss := G.Must(G.Sum(G.Must(G.HadamardProd(y, R))))
	wrt := append(G.Nodes{x}, b.Learnables()...)
	if _, err := G.Grad(loss, wrt...); err != nil {
		t.Fatalf("%s: Grad: %v", c.name, err)
	}
	var lv G.Value
	G.Read(loss, &lv)
	vm := G.NewTapeMachine(g, G.BindDualValues(wrt...))
	defer vm.Close()
	run := func() float64 {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatalf("%s: run: %v", c.name, err)
		}
		f, err := scalarOf(lv)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	run()
	grads := make([][]float64, len(wrt))
	for i, n := range wrt {
		gv, err := n.Grad()
		if err != nil {
			t.Fatalf("%s: grad of %s: %v", c.name, n.Name(), err)
		}
		grads[i] = append([]float64(nil), gv.Data().([]float64)...)
	}
	const h = 1e-5
	for i, n := range wrt {
		vals := n.Value().Data().([]float64)
		idx := r.Perm(len(vals))
		if len(idx) > samples {
			idx = idx[:samples]
		}
		for _, j := range idx {
			old := vals[j]
			vals[j] = old + h
			fp := run()
			vals[j] = old - h
			fm := run()
			vals[j] = old
			num := (fp - fm) / (2 * h)
			got := grads[i][j]
			if math.Abs(num-got) > 1e-6+1e-5*math.Max(math.Abs(num), math.Abs(got)) {
				t.Errorf("%s: d/d%s[%d]: autodiff %.10g, finite difference %.10g", c.name, n.Name(), j, got, num)
				return
			}
		}
	}
}

// evalGraph runs build on a float64 input and returns the output values.
func evalGraph(t *testing.T, s *Store, xv *tensor.Dense, build func(b *Builder, x *G.Node) (*G.Node, error)) []float64 {
	t.Helper()
	g := G.NewGraph()
	b := NewBuilder(g, s)
	x := G.NewTensor(g, xv.Dtype(), xv.Dims(), G.WithShape(xv.Shape()...), G.WithName("x"), G.WithValue(xv))
	y, err := build(b, x)
	if err != nil {
		t.Fatal(err)
	}
	var yv G.Value
	G.Read(y, &yv)
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	switch d := yv.Data().(type) {
	case []float64:
		return append([]float64(nil), d...)
	case []float32:
		r := make([]float64, len(d))
		for i, v := range d {
			r[i] = float64(v)
		}
		return r
	}
	t.Fatalf("unexpected value %T", yv)
	return nil
}

func maxAbsDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/blas"
	"github.com/gomobilenet/mobilenet/layers"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// forwardBackward returns the logits and every weight gradient of one
// float64 step (so that only a real difference shows), under the current
// BLAS backend.
func forwardBackward(t *testing.T) ([]float64, [][]float64) {
	m, err := New(CIFAR10(0.25), Options{Seed: 5, Dtype: tensor.Float64})
	if err != nil {
		t.Fatal(err)
	}
	g := G.NewGraph()
	net, err := m.Build(g, 4)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(2, 3))
	xs := make([]float64, 4*3*32*32)
	for i := range xs {
		xs[i] = r.NormFloat64()
	}
	G.Let(net.Input, tensor.New(tensor.WithShape(4, 3, 32, 32), tensor.WithBacking(xs)))
	oh := make([]float64, 40)
	for i := 0; i < 4; i++ {
		oh[i*10+i] = 1
	}
	y := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 10), G.WithValue(tensor.New(tensor.WithShape(4, 10), tensor.WithBacking(oh))))
	loss, _ := layers.SoftmaxCrossEntropy(net.Logits, y)
	params := net.Learnables()
	if _, err := G.Grad(loss, params...); err != nil {
		t.Fatal(err)
	}
	var lv G.Value
	G.Read(net.Logits, &lv)
	vm := G.NewTapeMachine(g, G.BindDualValues(params...))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	var grads [][]float64
	for _, p := range params {
		gv, _ := p.Grad()
		grads = append(grads, append([]float64(nil), gv.Data().([]float64)...))
	}
	return append([]float64(nil), lv.Data().([]float64)...), grads
}

// TestBLASBackendsAgree runs a model forward and backward with the pure-Go
// and the OpenBLAS GEMM and compares every output.
func TestBLASBackendsAgree(t *testing.T) {
	prev := blas.Name()
	defer func() {
		if strings.HasPrefix(prev, "go") {
			blas.Use(blas.Go)
		} else {
			blas.Use(blas.Auto)
		}
	}()
	if _, err := blas.Use(blas.OpenBLAS); err != nil {
		t.Skipf("OpenBLAS not available: %v", err)
	}
	lo, gro := forwardBackward(t)
	blas.Use(blas.Go)
	lg, grg := forwardBackward(t)
	maxDiff := func(a, b []float64) (d float64) {
		for i := range a {
			d = math.Max(d, math.Abs(a[i]-b[i])/(1+math.Abs(b[i])))
		}
		return d
	}
	if d := maxDiff(lo, lg); d > 1e-10 {
		t.Errorf("logits differ by %g", d)
	}
	for i := range gro {
		if d := maxDiff(gro[i], grg[i]); d > 1e-8 {
			t.Errorf("gradient %d differs by %g", i, d)
		}
	}
}

package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/blas"
	"github.com/gomobilenet/mobilenet/internal/testenv"
	"github.com/gomobilenet/mobilenet/layers"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// forwardBackward returns the logits and every weight gradient of one
// training step of a small model (alpha 0.25, batch 4, random images) in
// dtype, under the current BLAS backend, as float64s.
func forwardBackward(t *testing.T, dt tensor.Dtype) ([]float64, [][]float64, []string) {
	m, err := New(CIFAR10(0.25), Options{Seed: 5, Dtype: dt})
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
		xs[i] = float64(float32(r.NormFloat64())) // the same values in both dtypes
	}
	oh := make([]float64, 40)
	for i := 0; i < 4; i++ {
		oh[i*10+i] = 1
	}
	var xv, yv *tensor.Dense
	if dt == tensor.Float32 {
		xv, yv = tensor.New(tensor.WithShape(4, 3, 32, 32), tensor.WithBacking(f32s(xs))), tensor.New(tensor.WithShape(4, 10), tensor.WithBacking(f32s(oh)))
	} else {
		xv, yv = tensor.New(tensor.WithShape(4, 3, 32, 32), tensor.WithBacking(xs)), tensor.New(tensor.WithShape(4, 10), tensor.WithBacking(oh))
	}
	G.Let(net.Input, xv)
	y := G.NewMatrix(g, dt, G.WithShape(4, 10), G.WithValue(yv))
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
	var names []string
	for _, p := range params {
		gv, _ := p.Grad()
		grads = append(grads, f64s(gv.Data()))
		names = append(names, p.Name())
	}
	return f64s(lv.Data()), grads, names
}

func f32s(x []float64) []float32 {
	r := make([]float32, len(x))
	for i, v := range x {
		r[i] = float32(v)
	}
	return r
}

func f64s(v any) []float64 {
	switch d := v.(type) {
	case []float64:
		return append([]float64(nil), d...)
	case []float32:
		r := make([]float64, len(d))
		for i, x := range d {
			r[i] = float64(x)
		}
		return r
	}
	panic(fmt.Sprintf("unexpected %T", v))
}

// maxAbs is x's largest magnitude (at least the smallest normal float64).
func maxAbs(x []float64) float64 {
	m := math.SmallestNonzeroFloat64
	for _, v := range x {
		m = math.Max(m, math.Abs(v))
	}
	return m
}

// maxErr is the largest difference between a and b.
func maxErr(a, b []float64) (d float64) {
	for i := range b {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

// TestBLASBackendsAgree runs a model forward and backward under the
// pure-Go and the OpenBLAS backend, in float64 (gonum against OpenBLAS's
// dgemm) and in float32 (the project's AVX-512/AVX2 sgemm against
// OpenBLAS's), and compares every output with the float64 step.
//
// Tolerances. float64: both backends compute the same sums in another
// order, so they differ by rounding alone: ~k·2⁻⁵³ ≈ 1e-13 for this
// model's longest sums, far below 1e-10 (logits) and 1e-8 (gradients,
// relative to 1 + |value|).
//
// float32: a sum of k products rounded at each step is off by at most
// k·u·Σ|aᵢbᵢ| (u = 2⁻²⁴ ≈ 6e-8), and by about √k·u·Σ|aᵢbᵢ| when the
// roundings have random signs (Higham and Mary, 2019), as blocked GEMMs
// with FMAs give. This model's longest sums are the weight gradients' over
// batch × positions, k = 4·16·16 = 1024 (√k = 32), and one step runs
// through L = 28 layers whose errors add (to first order, each layer
// passes its input's relative error on about unchanged); so an output's
// error is about L·√k·u ≈ 5.4e-5 of Σ|aᵢbᵢ|, which for most outputs is
// about their tensor's largest value. Measured: ≤ 3.4e-5 under both
// backends. The test allows 2e-4. Σ|aᵢbᵢ| is not the tensor's largest
// value for the gradients of the BatchNorm scales that a depthwise
// convolution and another BatchNorm follow: that BatchNorm undoes any
// scale (and ReLU/ReLU6 commute with it), so these gradients are zero in
// exact arithmetic but for ReLU6's clipping, and what is computed is the
// residue of sums that cancel (~1e-4 of the terms). Their terms are the
// bias gradient's times x̂ (|x̂| ~ 1), so their error is measured against
// the larger of the two tensors' largest values. A wrong result is far
// larger — one product of 1024 dropped is ~3% — and so is a GEMM that
// rounds its inputs to bf16 (u = 2⁻⁹ ≈ 2e-3 per product).
func TestBLASBackendsAgree(t *testing.T) {
	defer blas.Use(blas.Backend())
	if _, err := blas.Use(blas.OpenBLAS); err != nil {
		testenv.Need(t, "openblas", false, err.Error())
	}
	testenv.Need(t, "openblas", true, "")
	lo, gro, names := forwardBackward(t, tensor.Float64)
	lo32, gro32, _ := forwardBackward(t, tensor.Float32)
	if _, err := blas.Use(blas.Go); err != nil {
		t.Fatal(err)
	}
	t.Logf("float32 GEMM of the Go backend: %s", blas.Name())
	lg, grg, _ := forwardBackward(t, tensor.Float64)
	lg32, grg32, _ := forwardBackward(t, tensor.Float32)
	maxDiff := func(a, b []float64) (d float64) {
		for i := range a {
			d = math.Max(d, math.Abs(a[i]-b[i])/(1+math.Abs(b[i])))
		}
		return d
	}
	if d := maxDiff(lo, lg); d > 1e-10 {
		t.Errorf("float64 logits differ by %g", d)
	}
	for i := range gro {
		if d := maxDiff(gro[i], grg[i]); d > 1e-8 {
			t.Errorf("float64 gradient %d differs by %g", i, d)
		}
	}
	const tol32 = 2e-4
	// scale is what a gradient's error is measured against: its largest
	// value, or for a BatchNorm scale the largest of the BatchNorm's bias
	// gradient when that is larger (see above).
	index := map[string]int{}
	for i, n := range names {
		index[n] = i
	}
	scale := func(i int) float64 {
		s := maxAbs(gro[i])
		if b, ok := index[strings.TrimSuffix(names[i], "/scale")+"/bias"]; ok && strings.HasSuffix(names[i], "/bn/scale") {
			s = math.Max(s, maxAbs(gro[b]))
		}
		return s
	}
	worst := map[string]float64{}
	for _, c := range []struct {
		name   string
		logits []float64
		grads  [][]float64
	}{{"openblas", lo32, gro32}, {"go", lg32, grg32}} {
		d := maxErr(c.logits, lo) / maxAbs(lo)
		worst[c.name] = d
		if d > tol32 {
			t.Errorf("%s float32 logits: %.3g of their scale from float64's", c.name, d)
		}
		for i := range gro {
			d := maxErr(c.grads[i], gro[i]) / scale(i)
			worst[c.name] = math.Max(worst[c.name], d)
			if d > tol32 {
				t.Errorf("%s float32 gradient of %s: %.3g of its scale from float64's", c.name, names[i], d)
			}
		}
	}
	t.Logf("float32 against float64, worst output: openblas %.3g, go %.3g (allowed %g)", worst["openblas"], worst["go"], tol32)
}

package layers

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomobilenet/mobilenet/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestDenseBF16: with the Store's precision BF16 the dense layer's output
// and both gradients are the float64 products of the bf16-rounded inputs
// (x, W and the incoming gradient), to the float32 sums' tolerance
// λ·√(k+2)·u·Σ|aᵢbᵢ| (λ = 8, u = 2⁻²⁴; bf16 products are exact in
// float32); and SetPrecision(FP32) brings back the float32 products.
func TestDenseBF16(t *testing.T) {
	const n, in, out = 7, 45, 13
	r := rand.New(rand.NewPCG(31, 32))
	s, _ := NewStore(tensor.Float32, 1)
	s.SetPrecision(BF16)
	if s.Precision() != BF16 {
		t.Fatal("SetPrecision(BF16) did not take")
	}
	g := G.NewGraph()
	b := NewBuilder(g, s)
	fc, err := NewDense(b.In("fc"), DefaultDenseConfig(in, out))
	if err != nil {
		t.Fatal(err)
	}
	xv, rv := to32(randDense(r, n, in)), to32(randDense(r, n, out))
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(n, in), G.WithName("x"), G.WithValue(xv))
	y, err := fc.Fwd(x)
	if err != nil {
		t.Fatal(err)
	}
	R := G.NewMatrix(g, tensor.Float32, G.WithShape(n, out), G.WithName("R"), G.WithValue(rv))
	loss := G.Must(G.Sum(G.Must(G.HadamardProd(y, R))))
	var yv G.Value
	G.Read(y, &yv)
	wrt := G.Nodes{x, fc.weight}
	if _, err := G.Grad(loss, wrt...); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(wrt...))
	defer vm.Close()
	run := func() (yo, dx, dw []float32) {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		gx, _ := x.Grad()
		gw, _ := fc.weight.Grad()
		return append([]float32(nil), yv.Data().([]float32)...), append([]float32(nil), gx.Data().([]float32)...), append([]float32(nil), gw.Data().([]float32)...)
	}
	yo, dx, dw := run()
	X, W, D := xv.Data().([]float32), fc.weight.Value().Data().([]float32), rv.Data().([]float32) // dL/dy = R
	bias := s.Var("fc/bias").Value.Data().([]float32)
	rb := func(v float32, round bool) float64 {
		if round {
			return float64(blas.RoundBF16(v))
		}
		return float64(v)
	}
	// check compares got[i·cols+j] with Σ_p a(i,p)·b(p,j) on rounded or
	// unrounded inputs, within the tolerance or beyond it.
	check := func(what string, got []float32, rows, cols, k int, a, bb func(i, p int) float32, add func(i, j int) float64) {
		apart := 0.0
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				var want, raw, scale float64
				for p := 0; p < k; p++ {
					want += rb(a(i, p), true) * rb(bb(p, j), true)
					raw += rb(a(i, p), false) * rb(bb(p, j), false)
					scale += math.Abs(rb(a(i, p), true) * rb(bb(p, j), true))
				}
				want, raw = want+add(i, j), raw+add(i, j)
				unit := math.Sqrt(float64(k+2)) * math.Ldexp(1, -24) * (scale + math.Abs(add(i, j)))
				if d := math.Abs(float64(got[i*cols+j]) - want); d > 8*unit {
					t.Fatalf("%s[%d][%d] = %v, want %v (%.3g units)", what, i, j, got[i*cols+j], want, d/unit)
				}
				apart = math.Max(apart, math.Abs(float64(got[i*cols+j])-raw)/unit)
			}
		}
		if apart < 32 {
			t.Errorf("%s: within %.3g units of the unrounded product: not bf16", what, apart)
		}
	}
	none := func(i, j int) float64 { return 0 }
	check("y", yo, n, out, in, func(i, p int) float32 { return X[i*in+p] }, func(p, j int) float32 { return W[j*in+p] }, func(i, j int) float64 { return float64(bias[j]) })
	check("dx", dx, n, in, out, func(i, p int) float32 { return D[i*out+p] }, func(p, j int) float32 { return W[p*in+j] }, none)
	check("dW", dw, out, in, n, func(i, p int) float32 { return D[p*out+i] }, func(p, j int) float32 { return X[p*in+j] }, none)

	s.SetPrecision(FP32)
	y32, _, _ := run()
	for i := range y32 {
		var want float64
		for p := 0; p < in; p++ {
			want += float64(X[(i/out)*in+p]) * float64(W[(i%out)*in+p])
		}
		want += float64(bias[i%out])
		if d := math.Abs(float64(y32[i]) - want); d > 1e-4 {
			t.Fatalf("fp32 again: y[%d] = %v, want %v", i, y32[i], want)
		}
	}
}

package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// netGrads builds a small network (stem convolution with im2col, BatchNorm +
// ReLU, a batched pointwise convolution, BatchNorm, a depthwise-separable
// block, pooling and dense) under GOMAXPROCS procs, runs one forward and
// backward pass, and returns the loss's gradient with respect to the input and
// every learnable, by name.
func netGrads(t *testing.T, procs int, dt tensor.Dtype, n int) map[string][]float64 {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	r := rand.New(rand.NewPCG(11, 5))
	g := G.NewGraph()
	s, err := NewStore(dt, 3)
	if err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(g, s)
	xShape := []int{n, 3, 6, 6}
	xv := randDense(r, xShape...)
	rv := randDense(r, n, 5)
	if dt == tensor.Float32 {
		xv, rv = to32(xv), to32(rv)
	}
	x := G.NewTensor(g, dt, 4, G.WithShape(xShape...), G.WithName("x"), G.WithValue(xv))
	stem, err := NewConv2D(b.In("stem"), Conv2DConfig{In: 3, Out: 8, NoInputGrad: false})
	if err != nil {
		t.Fatal(err)
	}
	bn1, _ := NewBatchNorm(b.In("stem/bn"), BatchNormConfig{Channels: 8, Momentum: 0.1, Epsilon: 1e-5, Activation: ReLU})
	pw, _ := NewPointwiseConv2D(b.In("pw"), PointwiseConfig{In: 8, Out: 6})
	bn2, _ := NewBatchNorm(b.In("pw/bn"), BatchNormConfig{Channels: 6, Momentum: 0.1, Epsilon: 1e-5, Activation: ReLU6})
	blk, _ := NewSeparableBlock(b.In("block"), stridedSeparable(6, 7, 2))
	fc, _ := NewDense(b.In("fc"), DefaultDenseConfig(7, 5))
	h, err := stem.Fwd(x)
	for _, f := range []func(*G.Node) (*G.Node, error){bn1.Fwd, pw.Fwd, bn2.Fwd, blk.Fwd, GlobalAvgPool, fc.Fwd} {
		if err != nil {
			break
		}
		h, err = f(h)
	}
	if err != nil {
		t.Fatal(err)
	}
	R := G.NewTensor(g, dt, 2, G.WithShape(n, 5), G.WithName("R"), G.WithValue(rv))
	loss := G.Must(G.Sum(G.Must(G.HadamardProd(h, R))))
	wrt := append(G.Nodes{x}, b.Learnables()...)
	if _, err := G.Grad(loss, wrt...); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(wrt...))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	out := map[string][]float64{}
	for _, nd := range wrt {
		gv, err := nd.Grad()
		if err != nil {
			t.Fatal(err)
		}
		out[nd.Name()] = float64s(gv.Data())
	}
	return out
}

func to32(d *tensor.Dense) *tensor.Dense {
	v := d.Data().([]float64)
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return tensor.New(tensor.WithShape(d.Shape()...), tensor.WithBacking(f))
}

func float64s(v any) []float64 {
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

// TestGradientsIndependentOfThreads: a many-core machine computes the same
// gradients as one core. Scratch buffers once collided from 99 workers on
// (the stem's weight gradient was off by 296% at GOMAXPROCS 99).
func TestGradientsIndependentOfThreads(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const batch = 300 // more samples than workers, so that every worker has some
	for _, c := range []struct {
		dt  tensor.Dtype
		tol float64
	}{{tensor.Float64, 1e-9}, {tensor.Float32, 2e-3}} {
		ref := netGrads(t, 1, c.dt, batch)
		for _, procs := range []int{2, 7, 98, 99, 128, 257} {
			got := netGrads(t, procs, c.dt, batch)
			for name, want := range ref {
				g := got[name]
				scale := 0.0
				for _, v := range want {
					scale = math.Max(scale, math.Abs(v))
				}
				for i := range want {
					if d := math.Abs(g[i]-want[i]) / math.Max(scale, 1e-12); d > c.tol {
						t.Errorf("%v GOMAXPROCS %d: d/d%s[%d] = %g, %g on one thread (error %.3g of the largest)", c.dt, procs, name, i, g[i], want[i], d)
						break
					}
				}
			}
		}
	}
}

// TestBadBLASEnvironmentFailsTheRun: with a bad MOBILENET_BLAS the layers'
// ops return its error (the process neither exits nor silently runs on
// another backend).
func TestBadBLASEnvironmentFailsTheRun(t *testing.T) {
	if os.Getenv("LAYERS_ENV_CHILD") == "1" {
		g := G.NewGraph()
		s, _ := NewStore(tensor.Float32, 1)
		b := NewBuilder(g, s)
		x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 2, 3, 3), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(1, 2, 3, 3), tensor.Of(tensor.Float32))))
		pw, _ := NewPointwiseConv2D(b.In("pw"), PointwiseConfig{In: 2, Out: 2})
		if _, err := pw.Fwd(x); err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g)
		defer vm.Close()
		err := vm.RunAll()
		fmt.Println("run:", err)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBadBLASEnvironmentFailsTheRun$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LAYERS_ENV_CHILD=1", "MOBILENET_BLAS=mkl")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `MOBILENET_BLAS="mkl": unknown backend "mkl"`) {
		t.Fatalf("child with MOBILENET_BLAS=mkl: %v\n%s", err, out)
	}
}

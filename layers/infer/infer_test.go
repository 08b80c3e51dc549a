package infer_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/blas"
	"github.com/gomobilenet/mobilenet/internal/testenv"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/layers/infer"
	"github.com/gomobilenet/mobilenet/model"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestMain runs the tests, then checks that they left the BLAS backend
// that MOBILENET_BLAS pins (CI's two passes).
func TestMain(m *testing.M) { testenv.Main(m, testenv.BLASPinned(blas.Requested)) }

// randomizeBN gives every BatchNorm statistics and parameters far from the
// identity (the initial ones fold to nothing), so that a wrong fold shows.
func randomizeBN(s *layers.Store, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 7))
	for _, v := range s.Vars() {
		d, ok := v.Value.Data().([]float32)
		if !ok {
			continue
		}
		switch {
		case strings.HasSuffix(v.Name, "running_mean"), strings.HasSuffix(v.Name, "bn/bias"):
			for i := range d {
				d[i] = float32(r.NormFloat64() * 0.2)
			}
		case strings.HasSuffix(v.Name, "running_var"), strings.HasSuffix(v.Name, "bn/scale"):
			for i := range d {
				d[i] = float32(0.5 + r.Float64())
			}
		}
	}
}

// reference computes the network's logits in float64 from its layers'
// float32 variables, by the definitions (no folding, no kernels): the plain
// reference the plan is checked against.
func reference(t *testing.T, ls []layers.Layer, x []float32, n, c, h, w int) []float64 {
	t.Helper()
	act := make([]float64, len(x))
	for i, v := range x {
		act[i] = float64(v)
	}
	for _, l := range flat(ls) {
		act, c, h, w = refLayer(t, l, act, n, c, h, w)
	}
	if h != 1 || w != 1 {
		t.Fatalf("reference ends with %dx%dx%d maps", c, h, w)
	}
	return act
}

func flat(ls []layers.Layer) []layers.Layer {
	var out []layers.Layer
	for _, l := range ls {
		if b, ok := l.(*layers.SeparableBlock); ok {
			out = append(out, b.DW, b.DWBN, b.PW, b.PWBN)
			continue
		}
		out = append(out, l)
	}
	return out
}

func f64(t *testing.T, n *G.Node) []float64 {
	t.Helper()
	if n == nil {
		return nil
	}
	d := n.Value().Data().([]float32)
	out := make([]float64, len(d))
	for i, v := range d {
		out[i] = float64(v)
	}
	return out
}

func varF64(v *layers.Var) []float64 {
	d := v.Value.Data().([]float32)
	out := make([]float64, len(d))
	for i, x := range d {
		out[i] = float64(x)
	}
	return out
}

func activate(a layers.Activation, v float64) float64 {
	switch a {
	case layers.ReLU:
		return math.Max(v, 0)
	case layers.ReLU6:
		return math.Min(math.Max(v, 0), 6)
	}
	return v
}

// refConv is a grouped 2-D convolution by its definition, on (n, c, h, w).
func refConv(x []float64, n, c, h, w int, wt, bias []float64, o, k, s, groups int, pad layers.Padding) ([]float64, int, int) {
	pt, _, pl, _ := pad.Pads(h, w, k, k, s, s)
	pt2, pb, pl2, pr := pad.Pads(h, w, k, k, s, s)
	_, _ = pt2, pl2
	ho, wo := (h+pt+pb-k)/s+1, (w+pl+pr-k)/s+1
	cg, og := c/groups, o/groups
	y := make([]float64, n*o*ho*wo)
	for i := 0; i < n; i++ {
		for oc := 0; oc < o; oc++ {
			gi := oc / og
			for oy := 0; oy < ho; oy++ {
				for ox := 0; ox < wo; ox++ {
					sum := 0.0
					if bias != nil {
						sum = bias[oc]
					}
					for ci := 0; ci < cg; ci++ {
						ic := gi*cg + ci
						for ky := 0; ky < k; ky++ {
							iy := oy*s - pt + ky
							if iy < 0 || iy >= h {
								continue
							}
							for kx := 0; kx < k; kx++ {
								ix := ox*s - pl + kx
								if ix < 0 || ix >= w {
									continue
								}
								sum += wt[((oc*cg+ci)*k+ky)*k+kx] * x[((i*c+ic)*h+iy)*w+ix]
							}
						}
					}
					y[((i*o+oc)*ho+oy)*wo+ox] = sum
				}
			}
		}
	}
	return y, ho, wo
}

func refLayer(t *testing.T, l layers.Layer, x []float64, n, c, h, w int) ([]float64, int, int, int) {
	t.Helper()
	switch l := l.(type) {
	case *layers.PointwiseConv2D:
		cfg := l.Config()
		y, ho, wo := refConv(x, n, c, h, w, f64(t, l.Weight()), f64(t, l.Bias()), cfg.Out, 1, 1, 1, layers.Pad(0))
		return y, cfg.Out, ho, wo
	case *layers.Conv2D:
		cfg := l.Config()
		y, ho, wo := refConv(x, n, c, h, w, f64(t, l.Weight()), f64(t, l.Bias()), cfg.Out, cfg.Kernel, max(cfg.Stride, 1), max(cfg.Groups, 1), cfg.Padding)
		return y, cfg.Out, ho, wo
	case *layers.DepthwiseConv2D:
		cfg := l.Config()
		o := cfg.Channels * max(cfg.Multiplier, 1)
		y, ho, wo := refConv(x, n, c, h, w, f64(t, l.Weight()), f64(t, l.Bias()), o, cfg.Kernel, max(cfg.Stride, 1), cfg.Channels, cfg.Padding)
		return y, o, ho, wo
	case *layers.BatchNorm:
		cfg := l.Config()
		sc, sh, mu, vr := f64(t, l.Scale()), f64(t, l.Shift()), varF64(l.RunningMean()), varF64(l.RunningVar())
		y := make([]float64, len(x))
		for i := 0; i < n; i++ {
			for ch := 0; ch < c; ch++ {
				for j := 0; j < h*w; j++ {
					p := (i*c+ch)*h*w + j
					y[p] = activate(cfg.Activation, sc[ch]*(x[p]-mu[ch])/math.Sqrt(vr[ch]+cfg.Epsilon)+sh[ch])
				}
			}
		}
		return y, c, h, w
	case layers.Activation:
		y := make([]float64, len(x))
		for i, v := range x {
			y[i] = activate(l, v)
		}
		return y, c, h, w
	case layers.GlobalAvgPooling:
		y := make([]float64, n*c)
		for p := range y {
			for j := 0; j < h*w; j++ {
				y[p] += x[p*h*w+j]
			}
			y[p] /= float64(h * w)
		}
		return y, c, 1, 1
	case *layers.Dropout:
		return x, c, h, w
	case *layers.Dense:
		cfg := l.Config()
		wt, b := f64(t, l.Weight()), f64(t, l.Bias())
		y := make([]float64, n*cfg.Out)
		for i := 0; i < n; i++ {
			for o := 0; o < cfg.Out; o++ {
				s := 0.0
				if b != nil {
					s = b[o]
				}
				for j := 0; j < cfg.In; j++ {
					s += wt[o*cfg.In+j] * x[i*cfg.In+j]
				}
				y[i*cfg.Out+o] = s
			}
		}
		return y, cfg.Out, 1, 1
	}
	t.Fatalf("reference: no definition for %T", l)
	return nil, 0, 0, 0
}

func randomImages(n, c, h, w int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n*c*h*w)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// maxAbs is the largest |v|.
func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	return m
}

// TestPlanMatchesReference runs MobileNets of several widths, resolutions
// and strides, at batches that leave partial groups and sub-groups (1, odd
// sizes), in both precisions and with 1 and 2 workers, against the float64
// definition of every layer.
//
// Tolerances, relative to the largest |logit|: fp32, 2e-5 (float32 sums of
// up to 768 products through 28 layers: a few ulps, 2⁻²⁴ ≈ 6e-8, a layer,
// grown by the depth, with room). bf16: each product's inputs are rounded to
// 8 significant bits (relative error ≤ 2⁻⁹ each, two of them), errors that
// are independent across the K terms of a sum and so add in quadrature, not
// in the worst case; through 28 layers of normalised activations the
// logits then move by a few parts in a thousand, so 3e-2 relative to the
// largest logit: an order of magnitude under what a wrong fold, a lost
// bias or a shifted plane gives (O(1)). The graph's bf16 path is checked
// the same way in package model.
func TestPlanMatchesReference(t *testing.T) {
	cases := []struct {
		name    string
		cfg     model.Config
		batches []int
		opt     infer.Options
	}{
		{"cifar a0.25", model.CIFAR10(0.25), []int{1, 3, 37}, infer.Options{}},
		{"cifar a0.25 groups of 5, sub 2", model.CIFAR10(0.25), []int{7, 12}, infer.Options{Group: 5, Sub: 2}},
		{"cifar a0.25 no split", model.CIFAR10(0.25), []int{9}, infer.Options{SplitHW: 1 << 20}},
		{"cifar a0.25 all split", model.CIFAR10(0.25), []int{9}, infer.Options{SplitHW: 1}},
		{"cifar a0.5 res 24 dropout", func() model.Config { c := model.CIFAR10(0.5); c.Resolution = 24; c.Dropout = 0.2; return c }(), []int{2, 33}, infer.Options{}},
		{"imagenet a0.25 res 64", func() model.Config { c := model.ImageNet(0.25); c.Resolution = 64; c.Classes = 7; return c }(), []int{1, 5}, infer.Options{}},
		{"cifar a0.75 res 17 output stride 8", func() model.Config { c := model.CIFAR10(0.75); c.Resolution = 17; c.OutputStride = 8; return c }(), []int{3}, infer.Options{}},
		// The image stage (one image at a time in NCHW, then into lanes):
		// into the early lane-major steps, straight into the late stage's
		// lanes, on odd map sizes, and turned off.
		{"cifar a0.25 image stage", model.CIFAR10(0.25), []int{1, 3, 37}, infer.Options{ImageHW: 256}},
		{"cifar a0.25 image stage to the late stage, sub 2", model.CIFAR10(0.25), []int{7, 12}, infer.Options{ImageHW: 1, Group: 5, Sub: 2}},
		{"imagenet a0.25 res 64 image stage", func() model.Config { c := model.ImageNet(0.25); c.Resolution = 64; c.Classes = 7; return c }(), []int{1, 5}, infer.Options{ImageHW: 1024}},
		{"imagenet a0.25 res 64 lanes only", func() model.Config { c := model.ImageNet(0.25); c.Resolution = 64; c.Classes = 7; return c }(), []int{5}, infer.Options{ImageHW: -1}},
		{"cifar a0.75 res 17 output stride 8 image stage", func() model.Config { c := model.CIFAR10(0.75); c.Resolution = 17; c.OutputStride = 8; return c }(), []int{1, 3}, infer.Options{ImageHW: 1}},
	}
	precs := []layers.Precision{layers.FP32, layers.BF16}
	for _, tc := range cases {
		m, err := model.New(tc.cfg, model.Options{Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		randomizeBN(m.Store, 5)
		ls, err := m.Layers()
		if err != nil {
			t.Fatal(err)
		}
		r := tc.cfg.Resolution
		for _, prec := range precs {
			opt := tc.opt
			opt.Precision = prec
			p, err := infer.Compile(ls, [3]int{3, r, r}, opt)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			tol := 2e-5
			if prec == layers.BF16 {
				tol = 3e-2
			}
			for _, n := range tc.batches {
				for _, threads := range []int{1, 2} {
					t.Run(fmt.Sprintf("%s/%s/n%d/t%d", tc.name, prec, n, threads), func(t *testing.T) {
						defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
						x := randomImages(n, 3, r, r, uint64(n))
						got := make([]float32, n*tc.cfg.Classes)
						if err := p.Run(got, x, n); err != nil {
							t.Fatal(err)
						}
						want := reference(t, ls, x, n, 3, r, r)
						scale := maxAbs(want)
						worst := 0.0
						for i := range want {
							worst = math.Max(worst, math.Abs(float64(got[i])-want[i]))
						}
						if worst > tol*scale || math.IsNaN(worst) {
							t.Fatalf("largest difference %.3g, %.2g of the largest logit %.3g (tolerance %.0g)\n%s", worst, worst/scale, scale, tol, p)
						}
						t.Logf("largest difference %.2g of the largest logit", worst/scale)
					})
				}
			}
		}
	}
}

// TestPlanMatchesGraph checks the plan against the project's inference
// graph (BuildInference: the same folding), in the same precision, where
// the two differ only in the order of float32 sums: 1e-5 of the largest
// logit in fp32; in bf16 an order difference can flip one rounding of an
// activation to bf16 (2⁻⁸ of that value), so 1e-3.
func TestPlanMatchesGraph(t *testing.T) {
	for _, prec := range []layers.Precision{layers.FP32, layers.BF16} {
		m, err := model.New(model.CIFAR10(0.5), model.Options{Seed: 9, Precision: prec})
		if err != nil {
			t.Fatal(err)
		}
		randomizeBN(m.Store, 11)
		const n = 19
		g := G.NewGraph()
		net, err := m.BuildInference(g, n)
		if err != nil {
			t.Fatal(err)
		}
		vm, err := layers.NewTapeMachine(g)
		if err != nil {
			t.Fatal(err)
		}
		x := randomImages(n, 3, 32, 32, 2)
		if err := G.Let(net.Input, tensor.New(tensor.WithShape(n, 3, 32, 32), tensor.WithBacking(x))); err != nil {
			t.Fatal(err)
		}
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		want := net.Logits.Value().Data().([]float32)
		vm.Close()
		ls, _ := m.Layers()
		p, err := infer.Compile(ls, [3]int{3, 32, 32}, infer.Options{Precision: prec})
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(want))
		if err := p.Run(got, x, n); err != nil {
			t.Fatal(err)
		}
		scale, worst := 0.0, 0.0
		for i := range want {
			scale = math.Max(scale, math.Abs(float64(want[i])))
			worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
		}
		tol := 1e-5
		if prec == layers.BF16 {
			tol = 1e-3
		}
		if worst > tol*scale {
			t.Errorf("%s: largest difference from the graph %.3g (%.2g of the largest logit; tolerance %.0g)", prec, worst, worst/scale, tol)
		}
		t.Logf("%s: largest difference from the graph %.2g of the largest logit", prec, worst/scale)
	}
}

// TestCompileRefuses: what the plan cannot run is refused with
// ErrUnsupported (callers fall back to the graph), bad shapes in one line.
func TestCompileRefuses(t *testing.T) {
	s, err := layers.NewStore(tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	b := layers.NewBuilder(G.NewGraph(), s)
	grouped, err := layers.NewConv2D(b.In("g"), layers.Conv2DConfig{In: 4, Out: 4, Kernel: 3, Groups: 2})
	if err != nil {
		t.Fatal(err)
	}
	dense, err := layers.NewDense(b.In("fc"), layers.DenseConfig{In: 4 * 8 * 8, Out: 3})
	if err != nil {
		t.Fatal(err)
	}
	conv, err := layers.NewConv2D(b.In("c"), layers.Conv2DConfig{In: 3, Out: 4, Kernel: 3})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		ls          []layers.Layer
		in          [3]int
		unsupported bool
	}{
		{"grouped conv", []layers.Layer{conv, grouped, layers.GlobalAvgPooling{}}, [3]int{3, 8, 8}, true},
		{"dense on maps", []layers.Layer{conv, dense}, [3]int{3, 8, 8}, true},
		{"max pooling", []layers.Layer{conv, layers.MaxPool2D{Kernel: 2}, layers.GlobalAvgPooling{}}, [3]int{3, 8, 8}, true},
		{"ends with maps", []layers.Layer{conv}, [3]int{3, 8, 8}, true},
		{"wrong channels", []layers.Layer{conv, layers.GlobalAvgPooling{}}, [3]int{5, 8, 8}, false},
		{"no layers", nil, [3]int{3, 8, 8}, false},
		{"bad input", []layers.Layer{conv}, [3]int{3, 0, 8}, false},
	}
	for _, tc := range cases {
		_, err := infer.Compile(tc.ls, tc.in, infer.Options{})
		if err == nil {
			t.Errorf("%s: compiled", tc.name)
			continue
		}
		if errors.Is(err, infer.ErrUnsupported) != tc.unsupported {
			t.Errorf("%s: %v (unsupported %v, want %v)", tc.name, err, errors.Is(err, infer.ErrUnsupported), tc.unsupported)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error on several lines: %q", tc.name, err)
		}
	}
	p, err := infer.Compile([]layers.Layer{conv, layers.GlobalAvgPooling{}}, [3]int{3, 8, 8}, infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(make([]float32, 4), make([]float32, 3*64), 2); err == nil {
		t.Error("Run took too few input values")
	}
	if err := p.Run(make([]float32, 3), make([]float32, 3*64), 1); err == nil {
		t.Error("Run took a short output")
	}
}

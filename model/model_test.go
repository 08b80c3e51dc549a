package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/layers"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The paper's Table 6 (width multiplier at 224) and Table 7 (resolution at
// alpha 1): millions of mult-adds and parameters.
func TestSummaryMatchesPaper(t *testing.T) {
	cases := []struct {
		alpha  float64
		res    int
		macs   float64
		params float64
	}{
		{1, 224, 569, 4.2}, {0.75, 224, 325, 2.6}, {0.5, 224, 149, 1.3}, {0.25, 224, 41, 0.5},
		{1, 192, 418, 4.2}, {1, 160, 290, 4.2}, {1, 128, 186, 4.2},
	}
	for _, c := range cases {
		cfg := ImageNet(c.alpha)
		cfg.Resolution = c.res
		rows, err := cfg.Summary()
		if err != nil {
			t.Fatal(err)
		}
		p, m := Totals(rows)
		if math.Abs(float64(m)/1e6-c.macs) >= 1 {
			t.Errorf("alpha %g res %d: %d mult-adds, paper %gM", c.alpha, c.res, m, c.macs)
		}
		if math.Round(float64(p)/1e5)/10 != c.params {
			t.Errorf("alpha %g res %d: %d parameters, paper %gM", c.alpha, c.res, p, c.params)
		}
	}
	// The exact figure for the paper's base model.
	rows, _ := ImageNet(1).Summary()
	if p, m := Totals(rows); p != 4231976 || m != 568740352 {
		t.Errorf("MobileNet-224 alpha 1: %d params, %d mult-adds; want 4231976, 568740352", p, m)
	}
}

func TestShapesAndParameterCounts(t *testing.T) {
	for _, alpha := range []float64{1, 0.75, 0.5, 0.25} {
		for _, c := range []struct {
			cfg  Config
			res  int
			os   int // output stride, 0 = the paper's
			last int // spatial size after the last block
		}{
			{CIFAR10(alpha), 32, 0, 2}, {CIFAR10(alpha), 24, 0, 2}, {CIFAR10(alpha), 16, 0, 1},
			{CIFAR10(alpha), 32, 16, 2}, {CIFAR10(alpha), 32, 8, 4}, {CIFAR10(alpha), 32, 4, 8}, {CIFAR10(alpha), 8, 8, 1},
			{CIFAR10(alpha), 24, 1, 24}, {ImageNet(alpha), 128, 0, 4}, {ImageNet(alpha), 160, 0, 5}, {ImageNet(alpha), 128, 16, 8},
		} {
			cfg := c.cfg
			cfg.Resolution, cfg.OutputStride = c.res, c.os
			if testing.Short() && cfg.Name == "imagenet" && alpha > 0.25 {
				continue
			}
			m, err := New(cfg, Options{Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			net, err := m.Build(G.NewGraph(), 3)
			if err != nil {
				t.Fatal(err)
			}
			if !net.Logits.Shape().Eq(tensor.Shape{3, cfg.Classes}) {
				t.Errorf("%s alpha %g res %d os %d: logits %v", cfg.Name, alpha, c.res, c.os, net.Logits.Shape())
			}
			rows, _ := cfg.Summary()
			last := rows[len(rows)-3] // block13/pw/bn
			if last.Output != [3]int{cfg.Channels(1024), c.last, c.last} {
				t.Errorf("%s alpha %g res %d os %d: last block output %v", cfg.Name, alpha, c.res, c.os, last.Output)
			}
			if p, _ := Totals(rows); p != m.Store.NumParams() {
				t.Errorf("%s alpha %g: summary says %d parameters, the model has %d", cfg.Name, alpha, p, m.Store.NumParams())
			}
		}
	}
}

func TestBadConfigs(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{CIFAR10(0), "alpha"}, {CIFAR10(-1), "alpha"}, {CIFAR10(1.6), "alpha"},
		{Config{Name: "cifar10", Alpha: 1, Resolution: 8, Classes: 10, StemStride: 1}, "resolution"},
		{Config{Name: "imagenet", Alpha: 1, Resolution: 16, Classes: 1000, StemStride: 2}, "resolution"},
		{Config{Name: "cifar10", Alpha: 1, Resolution: 32, Classes: 1, StemStride: 1}, "classes"},
		{Config{Name: "cifar10", Alpha: 1, Resolution: 32, Classes: 10, StemStride: 3}, "stride"},
		{Config{Name: "cifar10", Alpha: 1, Resolution: 32, Classes: 10, StemStride: 1, Dropout: 1}, "dropout"},
		{Config{Name: "cifar10", Alpha: 1, Resolution: 32, Classes: 10, StemStride: 1, OutputStride: 6}, "output stride"},
		{Config{Name: "cifar10", Alpha: 1, Resolution: 32, Classes: 10, StemStride: 1, OutputStride: 32}, "output stride"},
		{Config{Name: "cifar10", Alpha: 1, Resolution: 32, Classes: 10, StemStride: 1, OutputStride: -8}, "output stride"},
		{Config{Name: "imagenet", Alpha: 1, Resolution: 224, Classes: 1000, StemStride: 2, OutputStride: 1}, "output stride"},
		{Config{Name: "cifar10", Alpha: 1, Resolution: 4, Classes: 10, StemStride: 1, OutputStride: 8}, "resolution"},
	} {
		_, err := New(c.cfg, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one about %s", c.cfg, err, c.want)
		}
	}
	if _, err := Preset("mnist", 1); err == nil {
		t.Error("unknown preset: no error")
	}
}

// TestOutputStride checks which blocks lose their stride, the mult-adds the
// larger maps cost, and that the paper's own output stride changes nothing.
func TestOutputStride(t *testing.T) {
	for _, c := range []struct {
		cfg     Config
		os      int
		strides string // of the 13 blocks
	}{
		{CIFAR10(1), 0, "[1 2 1 2 1 2 1 1 1 1 1 2 1]"},
		{CIFAR10(1), 16, "[1 2 1 2 1 2 1 1 1 1 1 2 1]"},
		{CIFAR10(1), 8, "[1 2 1 2 1 2 1 1 1 1 1 1 1]"},
		{CIFAR10(1), 2, "[1 2 1 1 1 1 1 1 1 1 1 1 1]"},
		{ImageNet(1), 16, "[1 2 1 2 1 2 1 1 1 1 1 1 1]"},
		{ImageNet(1), 2, "[1 1 1 1 1 1 1 1 1 1 1 1 1]"},
	} {
		cfg := c.cfg
		cfg.OutputStride = c.os
		if got := fmt.Sprint(cfg.blockStrides()); got != c.strides {
			t.Errorf("%s output stride %d: block strides %s, want %s", cfg.Name, c.os, got, c.strides)
		}
	}
	full, _ := CIFAR10(0.75).Summary()
	cfg := CIFAR10(0.75)
	cfg.OutputStride = 16
	same, _ := cfg.Summary()
	if fmt.Sprint(full) != fmt.Sprint(same) {
		t.Error("output stride 16 (the CIFAR-10 network's own) changed the summary")
	}
	cfg.OutputStride = 8
	half, _ := cfg.Summary()
	pf, mf := Totals(full)
	ph, mh := Totals(half)
	// Only block 12's depthwise and pointwise and block 13 run on 4×4 instead of 2×2 maps.
	c12, c13 := cfg.Channels(512), cfg.Channels(1024)
	extra := 3 * (c12*9*4 + c12*c13*4 + c13*9*4 + c13*c13*4)
	if ph != pf || mh-mf != extra {
		t.Errorf("output stride 8: %d params, %d mult-adds; want %d and %d+%d", ph, mh, pf, mf, extra)
	}
}

// TestGradientSpotCheck runs one float64 forward + backward of a whole
// network on a batch of 2 and compares a few weight gradients with finite
// differences.
func TestGradientSpotCheck(t *testing.T) {
	cfg := CIFAR10(0.25)
	m, err := New(cfg, Options{Seed: 3, Dtype: tensor.Float64})
	if err != nil {
		t.Fatal(err)
	}
	g := G.NewGraph()
	net, err := m.Build(g, 2)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	xs := make([]float64, 2*3*32*32)
	for i := range xs {
		xs[i] = r.NormFloat64()
	}
	G.Let(net.Input, tensor.New(tensor.WithShape(2, 3, 32, 32), tensor.WithBacking(xs)))
	y := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 10), G.WithName("y"), G.WithValue(tensor.New(tensor.WithShape(2, 10), tensor.WithBacking([]float64{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}))))
	loss, err := layers.SoftmaxCrossEntropy(net.Logits, y)
	if err != nil {
		t.Fatal(err)
	}
	params := net.Learnables()
	if _, err := G.Grad(loss, params...); err != nil {
		t.Fatal(err)
	}
	var lv G.Value
	G.Read(loss, &lv)
	vm := G.NewTapeMachine(g, G.BindDualValues(params...))
	defer vm.Close()
	run := func() float64 {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return float64(*lv.(*G.F64))
	}
	run()
	names := []string{"stem/weight", "block1/dw/weight", "block7/pw/weight", "block13/dw/bn/scale", "fc/weight", "fc/bias"}
	grads := map[string][]float64{}
	for _, name := range names {
		n := net.Builder.Node(name)
		if n == nil {
			t.Fatalf("no node %s", name)
		}
		gv, _ := n.Grad() // read before the finite-difference runs add to it
		grads[name] = append([]float64(nil), gv.Data().([]float64)...)
	}
	checked := 0
	for _, name := range names {
		n := net.Builder.Node(name)
		grad := grads[name]
		w := n.Value().Data().([]float64)
		for _, j := range r.Perm(len(w))[:3] {
			old := w[j]
			// A small step (float64 rounding is ~1e-7 of the result): the
			// network has ~10⁵ ReLU kinks, and a step of 1e-7 already
			// crosses some with PyTorch's small initial weights.
			const h = 1e-9
			w[j] = old + h
			fp := run()
			w[j] = old - h
			fm := run()
			w[j] = old
			num := (fp - fm) / (2 * h)
			if math.Abs(num-grad[j]) > 1e-6+1e-4*math.Abs(num) {
				t.Errorf("%s[%d]: autodiff %g, finite difference %g", name, j, grad[j], num)
			}
			checked++
		}
	}
	if checked != 18 {
		t.Fatalf("checked %d gradients", checked)
	}
}

// TestBuildInferenceMatchesBuild: the folded inference graph gives the
// logits of the training graph in inference mode, from the same variables,
// at alpha 0.5 with perturbed BatchNorm statistics.
func TestBuildInferenceMatchesBuild(t *testing.T) {
	cfg := CIFAR10(0.5)
	m, err := New(cfg, Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(8, 9))
	for _, v := range m.Store.Vars() {
		d := v.Value.Data().([]float32)
		switch {
		case strings.HasSuffix(v.Name, "running_var"):
			for i := range d {
				d[i] = 0.5 + r.Float32()
			}
		case strings.HasSuffix(v.Name, "running_mean"), strings.HasSuffix(v.Name, "/bias"):
			for i := range d {
				d[i] = 0.2 * float32(r.NormFloat64())
			}
		}
	}
	m.SetTraining(false)
	x := make([]float32, 4*3*32*32)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	logits := func(build func(*G.ExprGraph, int) (*Net, error)) []float32 {
		g := G.NewGraph()
		net, err := build(g, 4)
		if err != nil {
			t.Fatal(err)
		}
		if err := G.Let(net.Input, tensor.New(tensor.WithShape(4, 3, 32, 32), tensor.WithBacking(x))); err != nil {
			t.Fatal(err)
		}
		var v G.Value
		G.Read(net.Logits, &v)
		vm := G.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), v.Data().([]float32)...)
	}
	want, got := logits(m.Build), logits(m.BuildInference)
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("logit %d: folded %v, unfolded %v", i, got[i], want[i])
		}
	}
}

// TestModelNotFromNew: a Model that New did not make (nil, a zero value, a
// Config changed into an invalid one) and a nil graph are errors, not
// crashes.
func TestModelNotFromNew(t *testing.T) {
	good, err := New(CIFAR10(0.25), Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	broken := *good
	broken.Config.Classes = 0
	cases := []struct {
		name string
		m    *Model
		g    *G.ExprGraph
		want string
	}{
		{"nil", nil, G.NewGraph(), "model: none"},
		{"zero value", &Model{}, G.NewGraph(), "model: none"},
		{"invalid config", &broken, G.NewGraph(), "model: "},
		{"nil graph", good, nil, "model: no graph"},
	}
	for _, c := range cases {
		for what, f := range map[string]func() error{
			"Build":          func() error { _, err := c.m.Build(c.g, 2); return err },
			"BuildInference": func() error { _, err := c.m.BuildInference(c.g, 2); return err },
		} {
			if err := f(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Errorf("%s of a %s model: error %v, want %q…", what, c.name, err, c.want)
			}
		}
		if c.g != nil {
			if _, err := c.m.Layers(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Errorf("Layers of a %s model: error %v, want %q…", c.name, err, c.want)
			}
		}
	}
}

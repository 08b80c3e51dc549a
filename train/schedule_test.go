package train

import (
	"math"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/model"
	"gorgonia.org/tensor"
)

func TestSGDNesterovAndSchedule(t *testing.T) {
	// One parameter, gradient 1, lr 0.1, momentum 0.9, wd 0.5, w0 = 2:
	// g = 1 + 0.5·2 = 2; v = 2; w = 2 − 0.1·(2 + 0.9·2) = 1.62.
	opt := NewSGD(0.9, 0.5, true)
	w := newVar("w", []float32{2}, true)
	g := denseOf([]float32{1})
	if err := opt.Step(0.1, varsOf(w), densesOf(g)); err != nil {
		t.Fatal(err)
	}
	if got := w.Value.Data().([]float32)[0]; abs32(got-1.62) > 1e-6 {
		t.Errorf("w = %v, want 1.62", got)
	}
	if g.Data().([]float32)[0] != 0 {
		t.Error("gradient not zeroed")
	}
	// No decay on a BatchNorm parameter.
	b := newVar("bn/scale", []float32{2}, false)
	opt.Step(0.1, varsOf(b), densesOf(denseOf([]float32{0})))
	if b.Value.Data().([]float32)[0] != 2 {
		t.Error("weight decay applied to a variable without Decay")
	}
	// A velocity of the wrong size (set by hand: Velocity is exported) is an
	// error, not an index out of range.
	opt.Velocity["w"] = []float32{0, 0}
	if err := opt.Step(0.1, varsOf(w), densesOf(denseOf([]float32{1}))); err == nil || !strings.Contains(err.Error(), "velocity of 2 values for 1 weights") {
		t.Errorf("a 2-value velocity for a 1-value variable: err = %v", err)
	}
}

// TestDecayParams: each parameter set decays exactly its parameters of a
// real model (conv: standard and pointwise convolutions and the
// classifier; weights: the depthwise filters too; all: BatchNorm and biases
// too), as one SGD step with zero gradients shows, and "" is conv.
func TestDecayParams(t *testing.T) {
	for _, tc := range []struct {
		params ParamSet
		decays func(name string, dims int) bool
	}{
		{"", func(name string, dims int) bool { return dims > 1 && !strings.Contains(name, "/dw/") }},
		{DecayConv, func(name string, dims int) bool { return dims > 1 && !strings.Contains(name, "/dw/") }},
		{DecayWeights, func(name string, dims int) bool { return dims > 1 }},
		{DecayAll, func(string, int) bool { return true }},
	} {
		m, err := model.New(model.CIFAR10(0.25), model.Options{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		vars := m.Store.LearnableVars()
		before := make([][]float32, len(vars))
		grads := make([]*tensor.Dense, len(vars))
		for i, v := range vars {
			before[i] = append([]float32(nil), v.Value.Data().([]float32)...)
			grads[i] = tensor.New(tensor.WithShape(v.Value.Shape()...), tensor.Of(tensor.Float32))
		}
		opt := NewSGD(0, 0.5, false) // w ← w − 1·0.5·w = w/2 where decay applies
		opt.DecayParams = tc.params
		if err := opt.Step(1, vars, grads); err != nil {
			t.Fatal(err)
		}
		kinds := map[bool]int{}
		for i, v := range vars {
			want := tc.decays(v.Name, v.Value.Dims())
			kinds[want]++
			if Decays(tc.params, v) != want {
				t.Errorf("%q: Decays(%s) = %v, want %v", tc.params, v.Name, !want, want)
			}
			for j, x := range v.Value.Data().([]float32) {
				w := before[i][j]
				if want {
					w /= 2
				}
				if x != w {
					t.Errorf("%q: %s[%d] = %g after a step with zero gradient, want %g", tc.params, v.Name, j, x, w)
					break
				}
			}
		}
		if tc.params != DecayAll && (kinds[true] == 0 || kinds[false] == 0) {
			t.Errorf("%q: %d parameters decay, %d do not: the test checks nothing", tc.params, kinds[true], kinds[false])
		}
	}
	for _, name := range []ParamSet{"", DecayConv, DecayWeights, DecayAll} {
		if got, err := ParseDecayParams(string(name)); err != nil || (got != name && name != "") || (name == "" && got != DecayConv) {
			t.Errorf("ParseDecayParams(%q) = %q, %v", name, got, err)
		}
	}
	opt := NewSGD(0.9, 5e-4, true)
	opt.DecayParams = "Weights"
	if err := opt.Step(0.1, varsOf(newVar("w", []float32{1}, true)), densesOf(denseOf([]float32{1}))); err == nil || !strings.Contains(err.Error(), `"Weights"`) {
		t.Errorf("a step with decay parameters %q: %v", opt.DecayParams, err)
	}
	r := DefaultRecipe()
	r.DecayParams = "bn"
	if err := r.Validate(); err == nil || !strings.Contains(err.Error(), `weight decay parameters "bn": want conv, weights or all`) {
		t.Errorf("a recipe with decay parameters %q: %v", r.DecayParams, err)
	}
}

// TestSchedule: every decay after the same warm-up, at the warm-up, the
// middle of the decay, its milestones and its end; "" is cosine.
func TestSchedule(t *testing.T) {
	for _, tc := range []struct {
		decay Decay
		steps []int
		want  []float64
	}{
		// Warm-up 10 of 110 steps: 0.1 … 1 over steps 0–9.
		{"", []int{0, 4, 9, 10, 60, 85, 110, 200}, []float64{0.1, 0.5, 1, 1, 0.5, 0.5 * (1 + math.Cos(0.75*math.Pi)), 0, 0}},
		{ScheduleCosine, []int{0, 9, 10, 60, 110}, []float64{0.1, 1, 1, 0.5, 0}},
		{ScheduleLinear, []int{0, 9, 10, 35, 60, 109, 110, 200}, []float64{0.1, 1, 1, 0.75, 0.5, 0.01, 0, 0}},
		// Milestones at 50% and 75% of the 110 steps: 55 and 82.5.
		{ScheduleStep, []int{0, 9, 10, 54, 55, 82, 83, 109, 110}, []float64{0.1, 1, 1, 1, 0.1, 0.1, 0.01, 0.01, 0.01}},
	} {
		s := Schedule{Base: 1, Warmup: 10, Total: 110, Decay: tc.decay}
		for i, step := range tc.steps {
			if got := s.At(step); math.Abs(got-tc.want[i]) > 1e-12 {
				t.Errorf("%q at step %d: %v, want %v", tc.decay, step, got, tc.want[i])
			}
		}
	}
	// A floor: the cosine and linear decays end at Min, the step decay ignores it.
	for _, tc := range []struct {
		decay Decay
		steps []int
		want  []float64
	}{
		{ScheduleCosine, []int{9, 10, 60, 110, 200}, []float64{1, 1, 0.55, 0.1, 0.1}},
		{ScheduleLinear, []int{9, 10, 35, 60, 110}, []float64{1, 1, 0.775, 0.55, 0.1}},
		{ScheduleStep, []int{9, 55, 83}, []float64{1, 0.1, 0.01}},
	} {
		s := Schedule{Base: 1, Min: 0.1, Warmup: 10, Total: 110, Decay: tc.decay}
		for i, step := range tc.steps {
			if got := s.At(step); math.Abs(got-tc.want[i]) > 1e-12 {
				t.Errorf("%q to 0.1 at step %d: %v, want %v", tc.decay, step, got, tc.want[i])
			}
		}
	}
	for _, bad := range []struct {
		min      float64
		schedule Decay
		want     string
	}{
		{-0.1, ScheduleCosine, "minimum learning rate -0.1"},
		{0.2, ScheduleCosine, "minimum learning rate 0.2: must be in [0, the peak rate 0.2)"},
		{math.NaN(), ScheduleLinear, "minimum learning rate NaN"},
		{0.01, ScheduleStep, "the step schedule has its own end rate"},
	} {
		r := DefaultRecipe()
		r.MinLR, r.Schedule = bad.min, bad.schedule
		if err := r.Validate(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("MinLR %v with %s: %v, want an error with %q", bad.min, bad.schedule, err, bad.want)
		}
	}
	// Without warm-up the first step runs at the peak rate.
	if got := (Schedule{Base: 0.2, Total: 10, Decay: ScheduleLinear}).At(0); got != 0.2 {
		t.Errorf("no warm-up: first rate %v, want 0.2", got)
	}
	for _, name := range []Decay{"", ScheduleCosine, ScheduleLinear, ScheduleStep} {
		if got, err := ParseSchedule(string(name)); err != nil || (got != name && name != "") || (name == "" && got != ScheduleCosine) {
			t.Errorf("ParseSchedule(%q) = %q, %v", name, got, err)
		}
	}
	r := DefaultRecipe()
	r.Schedule = "exponential"
	if err := r.Validate(); err == nil || !strings.Contains(err.Error(), "exponential") {
		t.Errorf("a recipe with schedule %q: %v", r.Schedule, err)
	}
}

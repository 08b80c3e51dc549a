package evaluate_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomobilenet/mobilenet/evaluate"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	G "gorgonia.org/gorgonia"
)

// graphOnly hides a model's layer list, so that the Evaluator runs its
// graph.
type graphOnly struct{ m *model.Model }

func (g graphOnly) VarStore() *layers.Store { return g.m.VarStore() }
func (g graphOnly) InputShape() [3]int      { return g.m.InputShape() }
func (g graphOnly) Classes() int            { return g.m.Classes() }
func (g graphOnly) BuildNet(gr *G.ExprGraph, batch int, inference bool) (*layers.Net, error) {
	return g.m.BuildNet(gr, batch, inference)
}

func images(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 2))
	x := make([]float32, n*3*32*32)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func maxDiff(a, b []float32) (diff, scale float64) {
	for i := range a {
		diff = math.Max(diff, math.Abs(float64(a[i]-b[i])))
		scale = math.Max(scale, math.Abs(float64(b[i])))
	}
	return diff, scale
}

// TestEvaluatorEngines: a MobileNet runs as a compiled plan, a network
// that does not list its layers as its graph, and both give the same
// logits (float32 sums in another order: 1e-5 of the largest); the plan
// is a snapshot that Refresh (and Run) bring up to date.
func TestEvaluatorEngines(t *testing.T) {
	m, err := model.New(model.CIFAR10(0.25), model.Options{Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	const batch = 5
	plan, err := evaluate.New(m, batch)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	graph, err := evaluate.New(graphOnly{m}, batch)
	if err != nil {
		t.Fatal(err)
	}
	defer graph.Close()
	if plan.Engine() != "plan" || graph.Engine() != "graph" {
		t.Fatalf("engines %q and %q, want plan and graph", plan.Engine(), graph.Engine())
	}
	x := images(batch, 1)
	check := func(what string) []float32 {
		t.Helper()
		a, err := plan.Logits(x)
		if err != nil {
			t.Fatal(err)
		}
		b, err := graph.Logits(x)
		if err != nil {
			t.Fatal(err)
		}
		if d, s := maxDiff(a, b); d > 1e-5*s {
			t.Fatalf("%s: plan and graph differ by %.3g (largest logit %.3g)", what, d, s)
		}
		return a
	}
	before := check("fresh")
	// Change the classifier's bias: the graph sees it at once, the plan
	// after Refresh.
	bias := m.Store.Var("fc/bias").Value.Data().([]float32)
	for i := range bias {
		bias[i] += 1
	}
	stale, err := plan.Logits(x)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := maxDiff(stale, before); d != 0 {
		t.Fatalf("the plan changed without Refresh (by %.3g)", d)
	}
	plan.Refresh()
	after := check("refreshed")
	if d, _ := maxDiff(after, before); math.Abs(d-1) > 1e-5 {
		t.Fatalf("a bias raised by 1 moved the logits by %.6f", d)
	}
	if _, err := plan.Logits(x[:len(x)-1]); err == nil {
		t.Error("Logits took a short batch")
	}
}

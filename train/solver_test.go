package train

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/layers"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// solverNet is a small network over a new Store (the same for a seed) and
// the machine that computes its loss and gradients.
func solverNet(t *testing.T) (*layers.Store, *layers.Builder, G.VM) {
	t.Helper()
	s, _ := layers.NewStore(tensor.Float32, 3)
	g := G.NewGraph()
	b := layers.NewBuilder(g, s)
	conv, _ := layers.NewConv2D(b.In("stem"), layers.Conv2DConfig{In: 3, Out: 6, Stride: 2})
	bn, _ := layers.NewBatchNorm(b.In("stem/bn"), layers.DefaultBatchNormConfig(6))
	fc, _ := layers.NewDense(b.In("fc"), layers.DefaultDenseConfig(6, 4))
	net, err := layers.NewSequential(conv, bn, layers.ReLU, layers.GlobalAvgPooling{}, fc)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	xs := make([]float32, 4*3*8*8)
	for i := range xs {
		xs[i] = float32(r.NormFloat64())
	}
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(4, 3, 8, 8), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(4, 3, 8, 8), tensor.WithBacking(xs))))
	y := G.NewVector(g, tensor.Float32, G.WithShape(4), G.WithName("y"), G.WithValue(layers.Labels(tensor.Float32, []int{0, 3, 1, 2})))
	logits, err := net.Fwd(x)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := layers.SoftmaxCrossEntropyLabels(logits, y)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := G.Grad(loss, b.Learnables()...); err != nil {
		t.Fatal(err)
	}
	return s, b, G.NewTapeMachine(g, G.BindDualValues(b.Learnables()...))
}

// TestSolver: three steps of the Solver (gorgonia.Solver) equal three
// SGD.Step calls on the same network bit for bit, weight decay applying
// to the convolution and dense weights only; a node that is not one of
// the Store's variables is an error.
func TestSolver(t *testing.T) {
	lr := func(step int) float64 { return 0.1 / float64(step+1) }
	// The Gorgonia way.
	s1, b1, vm1 := solverNet(t)
	defer vm1.Close()
	solver := NewSolver(NewSGD(0.9, 0.01, true), s1, lr)
	var solverStep G.Solver = solver
	for i := 0; i < 3; i++ {
		vm1.Reset()
		if err := vm1.RunAll(); err != nil {
			t.Fatal(err)
		}
		if err := solverStep.Step(G.NodesToValueGrads(b1.Learnables())); err != nil {
			t.Fatal(err)
		}
	}
	// SGD.Step on the variables.
	s2, b2, vm2 := solverNet(t)
	defer vm2.Close()
	o := NewSGD(0.9, 0.01, true)
	for i := 0; i < 3; i++ {
		vm2.Reset()
		if err := vm2.RunAll(); err != nil {
			t.Fatal(err)
		}
		var grads []*tensor.Dense
		for _, n := range b2.Learnables() {
			g, _ := n.Grad()
			grads = append(grads, g.(*tensor.Dense))
		}
		if err := o.Step(lr(i), b2.LearnableVars(), grads); err != nil {
			t.Fatal(err)
		}
	}
	moved := false
	for _, v := range s1.Vars() {
		a, b := v.Value.Data().([]float32), s2.Var(v.Name).Value.Data().([]float32)
		if !slices.Equal(a, b) {
			t.Fatalf("%s: the Solver's weights differ from SGD.Step's", v.Name)
		}
		moved = moved || v.Learnable
	}
	if !moved || len(solver.SGD.Velocity) != len(b1.Learnables()) {
		t.Errorf("velocities for %d of %d variables", len(solver.SGD.Velocity), len(b1.Learnables()))
	}
	// A node of another Store.
	other := G.NewTensor(G.NewGraph(), tensor.Float32, 1, G.WithShape(2), G.WithName("stray"), G.WithValue(tensor.New(tensor.WithShape(2), tensor.Of(tensor.Float32))))
	if err := solver.Step(G.NodesToValueGrads(G.Nodes{other})); err == nil || !strings.Contains(err.Error(), "stray is not a learnable variable") {
		t.Errorf("a stray node: %v", err)
	}
}

package layers

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// smallNet builds conv → BatchNorm+ReLU → pool → dense over s in a new
// graph, with a loss on random targets.
func smallNet(t *testing.T, s *Store, r *rand.Rand) (*G.ExprGraph, *Builder, *G.Node) {
	t.Helper()
	g := G.NewGraph()
	b := NewBuilder(g, s)
	conv, err := NewConv2D(b.In("body/conv"), Conv2DConfig{In: 3, Out: 6})
	if err != nil {
		t.Fatal(err)
	}
	bnc := DefaultBatchNormConfig(6)
	bnc.Activation = ReLU
	bn, err := NewBatchNorm(b.In("body/bn"), bnc)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := NewDense(b.In("head"), DefaultDenseConfig(6, 4))
	if err != nil {
		t.Fatal(err)
	}
	net, err := NewSequential(conv, bn, GlobalAvgPooling{}, fc)
	if err != nil {
		t.Fatal(err)
	}
	x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(5, 3, 6, 6), G.WithName("x"), G.WithValue(randDense(r, 5, 3, 6, 6)))
	targets := make([]float64, 5*4)
	for i := 0; i < 5; i++ {
		targets[i*4+r.IntN(4)] = 1
	}
	y := G.NewMatrix(g, tensor.Float64, G.WithShape(5, 4), G.WithName("y"), G.WithValue(tensor.New(tensor.WithShape(5, 4), tensor.WithBacking(targets))))
	logits, err := net.Fwd(x)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := SoftmaxCrossEntropy(logits, y)
	if err != nil {
		t.Fatal(err)
	}
	return g, b, loss
}

// TestFreezeScope trains a few steps with the body frozen: the body's
// parameters and BatchNorm statistics stay bit for bit, the head learns,
// and the frozen BatchNorm normalises with its running statistics although
// the Store is in training mode.
func TestFreezeScope(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	s, _ := NewStore(tensor.Float64, 9)
	smallNet(t, s, r) // creates the variables
	// Statistics a frozen layer must use (not the initial 0 and 1).
	for _, name := range []string{"body/bn/running_mean", "body/bn/running_var"} {
		for i := range s.Var(name).Value.Data().([]float64) {
			s.Var(name).Value.Data().([]float64)[i] = 0.5 + 0.1*float64(i)
		}
	}
	if n, err := s.SetTrainable("body", false); err != nil || n != 3 {
		t.Fatalf("SetTrainable(body) = %d, %v; want 3 variables", n, err)
	}
	if _, err := s.SetTrainable("nothing/here", false); err == nil || !strings.Contains(err.Error(), "no parameters") {
		t.Errorf("unknown scope: error %v", err)
	}
	before := map[string][]float64{}
	for _, v := range s.Vars() {
		before[v.Name] = slices.Clone(v.Value.Data().([]float64))
	}
	g, b, loss := smallNet(t, s, r)
	var names []string
	for _, v := range b.LearnableVars() {
		names = append(names, v.Name)
	}
	if want := []string{"head/weight", "head/bias"}; !slices.Equal(names, want) {
		t.Fatalf("learnables %v, want %v", names, want)
	}
	if _, err := G.Grad(loss, b.Learnables()...); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(b.Learnables()...))
	defer vm.Close()
	solver := G.NewVanillaSolver(G.WithLearnRate(0.5))
	for step := 0; step < 3; step++ {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		if err := solver.Step(G.NodesToValueGrads(b.Learnables())); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range s.Vars() {
		same := slices.Equal(before[v.Name], v.Value.Data().([]float64))
		if frozen := InScope(v.Name, "body"); frozen != same {
			t.Errorf("%s: unchanged = %v after training with body frozen", v.Name, same)
		}
	}
	bn := s.Var("body/bn/scale")
	if !bn.Frozen {
		t.Fatal("body/bn/scale not marked frozen")
	}
	// The frozen BatchNorm in training mode equals an unfrozen one in
	// inference mode on the same variables.
	xv := randDense(r, 2, 6, 3, 3)
	build := func(b *Builder, x *G.Node) (*G.Node, error) {
		l, err := NewBatchNorm(b.In("body/bn"), DefaultBatchNormConfig(6))
		if err != nil {
			return nil, err
		}
		return l.Fwd(x)
	}
	frozen := evalGraph(t, s, xv, build)
	s.SetTrainable("body", true)
	s.Mode().SetTraining(false)
	inference := evalGraph(t, s, xv, build)
	if d := maxAbsDiff(frozen, inference); d != 0 {
		t.Errorf("frozen BatchNorm in training mode differs from inference mode by %g", d)
	}
}

// TestScopeReuse: a second layer over the variables of one graph's layer is
// an error unless Reuse asks for it; graphs of their own share on purpose.
func TestScopeReuse(t *testing.T) {
	s, _ := NewStore(tensor.Float32, 1)
	b := NewBuilder(G.NewGraph(), s)
	first, err := NewConv2D(b.In("c"), Conv2DConfig{In: 3, Out: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewConv2D(b.In("c"), Conv2DConfig{In: 3, Out: 4}); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Errorf("second layer in one scope: error %v", err)
	}
	if _, err := NewBatchNorm(b.In("bn"), DefaultBatchNormConfig(4)); err != nil {
		t.Fatal(err)
	}
	if _, err := NewBatchNorm(b.In("bn"), DefaultBatchNormConfig(4)); err == nil {
		t.Error("second BatchNorm in one scope: no error")
	}
	shared, err := NewConv2D(b.In("c").Reuse(), Conv2DConfig{In: 3, Out: 4})
	if err != nil {
		t.Fatal(err)
	}
	if shared.Weight() != first.Weight() {
		t.Error("Reuse: the layers do not share the weight node")
	}
	if _, err := NewConv2D(b.In("c").Reuse(), Conv2DConfig{In: 3, Out: 5}); err == nil {
		t.Error("Reuse with another shape: no error")
	}
	other, err := NewConv2D(NewBuilder(G.NewGraph(), s).In("c"), Conv2DConfig{In: 3, Out: 4})
	if err != nil {
		t.Fatalf("another graph over the Store: %v", err)
	}
	if other.Weight().Value() != first.Weight().Value() {
		t.Error("two graphs over one Store do not share the weight's value")
	}
}

// TestExplicitDefaults: zero momentum and epsilon mean zero, and a Linear
// separable block stays linear.
func TestExplicitDefaults(t *testing.T) {
	s, _ := NewStore(tensor.Float64, 1)
	bn, err := NewBatchNorm(NewBuilder(G.NewGraph(), s).In("bn"), BatchNormConfig{Channels: 2})
	if err != nil {
		t.Fatal(err)
	}
	if c := bn.Config(); c.Momentum != 0 || c.Epsilon != 0 {
		t.Errorf("zero config became %+v", c)
	}
	blk, err := NewSeparableBlock(NewBuilder(G.NewGraph(), s).In("blk"), SeparableConfig{In: 2, Out: 3, Momentum: 0.1, Epsilon: 1e-5})
	if err != nil {
		t.Fatal(err)
	}
	if a := blk.DWBN.Config().Activation; a != Linear {
		t.Errorf("Activation Linear became %v", a)
	}
	if d := DefaultSeparableConfig(2, 3); d.Activation != ReLU || d.Kernel != 3 || d.Momentum != 0.1 {
		t.Errorf("DefaultSeparableConfig = %+v", d)
	}
	if d := DefaultDenseConfig(2, 3); !d.Bias {
		t.Error("DefaultDenseConfig has no bias")
	}
}

// TestLayerLearnablesFollowFreezing: a layer's, a block's and a
// Sequential's Learnables leave frozen parameters out, as the Builder's
// do, and take them back when they are unfrozen.
func TestLayerLearnablesFollowFreezing(t *testing.T) {
	s, _ := NewStore(tensor.Float32, 1)
	b := NewBuilder(G.NewGraph(), s)
	conv, _ := NewConv2D(b.In("stem"), Conv2DConfig{In: 3, Out: 8, Bias: true})
	bn, _ := NewBatchNorm(b.In("stem/bn"), DefaultBatchNormConfig(8))
	blk, _ := NewSeparableBlock(b.In("block"), DefaultSeparableConfig(8, 16))
	fc, _ := NewDense(b.In("fc"), DefaultDenseConfig(16, 4))
	seq, err := NewSequential(conv, bn, blk, GlobalAvgPooling{}, fc)
	if err != nil {
		t.Fatal(err)
	}
	names := func(ns G.Nodes) []string {
		var r []string
		for _, n := range ns {
			r = append(r, n.Name())
		}
		return r
	}
	all := names(seq.Learnables())
	if len(all) != 12 || !slices.Equal(all, names(b.Learnables())) {
		t.Fatalf("Sequential %v, Builder %v: want the same 12", all, names(b.Learnables()))
	}
	if _, err := s.SetTrainable("stem", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetTrainable("block/dw", false); err != nil {
		t.Fatal(err)
	}
	got, want := names(seq.Learnables()), names(b.Learnables())
	if len(got) != 5 || !slices.Equal(got, want) { // 12, less the stem's 4 and block/dw's 3
		t.Errorf("frozen stem and block/dw: Sequential %v, Builder %v", got, want)
	}
	if len(conv.Learnables()) != 0 || len(bn.Learnables()) != 0 || len(fc.Learnables()) != 2 {
		t.Errorf("frozen stem: conv %v, bn %v, fc %v", names(conv.Learnables()), names(bn.Learnables()), names(fc.Learnables()))
	}
	s.SetTrainable("", true)
	if got := names(seq.Learnables()); !slices.Equal(got, all) {
		t.Errorf("unfrozen: %v, want %v", got, all)
	}
}

// nilLayer is a user's layer type, for TestSequentialNilLayer.
type nilLayer struct{}

func (*nilLayer) Fwd(x *G.Node) (*G.Node, error) { return x, nil }
func (*nilLayer) Learnables() G.Nodes            { return nil }

// TestSequentialNilLayer: a typed nil of any layer type, this package's or
// a user's, is an error naming its position.
func TestSequentialNilLayer(t *testing.T) {
	var conv *Conv2D
	var mine *nilLayer
	for i, ls := range [][]Layer{{GlobalAvgPooling{}, conv}, {GlobalAvgPooling{}, mine}, {GlobalAvgPooling{}, nil}} {
		if _, err := NewSequential(ls...); err == nil || !strings.Contains(err.Error(), "layer 1 is nil") {
			t.Errorf("case %d: %v", i, err)
		}
	}
	if _, err := NewSequential(GlobalAvgPooling{}, &nilLayer{}); err != nil {
		t.Errorf("a non-nil user layer: %v", err)
	}
}

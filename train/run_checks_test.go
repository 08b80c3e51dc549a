package train

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/model"
)

// TestDivergenceStops: a NaN or infinite loss stops training with
// ErrDiverged, and no checkpoint is written from the diverged state.
func TestDivergenceStops(t *testing.T) {
	dir := t.TempDir()
	o := smallOptions(t, dir)
	o.Recipe.LR, o.Recipe.WarmupEpochs, o.Recipe.WeightDecay = 1e30, 0, 0
	_, err := Run(context.Background(), o)
	if !errors.Is(err, ErrDiverged) {
		t.Fatalf("error %v, want ErrDiverged", err)
	}
	t.Log(err)
	if _, err := os.Stat(filepath.Join(dir, "last.bin")); err == nil {
		if _, _, err := LoadModel(filepath.Join(dir, "last.bin"), 0); err != nil {
			t.Fatalf("the checkpoint left behind does not load: %v", err)
		}
	}
}

// TestLabelSmoothing: the targets are (1−ε)·one-hot + ε/K, the loss is
// affine in ε (L(ε) = (1−ε)·CE + ε·mean −log p), and the recipe's
// weight decay skips depthwise filters (the paper's advice) but not the
// pointwise ones.
func TestLabelSmoothing(t *testing.T) {
	dst := make([]float32, 2*4)
	if err := smoothTargets(dst, []int{1, 3}, 4, 0.2); err != nil {
		t.Fatal(err)
	}
	want := []float32{0.05, 0.85, 0.05, 0.05, 0.05, 0.05, 0.05, 0.85}
	for i := range want {
		if abs32(dst[i]-want[i]) > 1e-7 {
			t.Fatalf("targets %v, want %v", dst, want)
		}
	}
	if err := smoothTargets(dst, []int{1, 4}, 4, 0); err == nil {
		t.Error("label 4 of 4 classes: no error")
	}

	cfg := model.CIFAR10(0.25)
	cfg.Resolution = 16
	m, err := model.New(cfg, model.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range m.Store.Vars() {
		switch {
		case strings.HasSuffix(v.Name, "/dw/weight") && v.Decay:
			t.Errorf("%s: weight decay on a depthwise filter", v.Name)
		case strings.HasSuffix(v.Name, "/pw/weight") && !v.Decay:
			t.Errorf("%s: no weight decay on a pointwise filter", v.Name)
		}
	}
	const batch = 6
	tr, err := NewTrainer(m, batch, NewSGD(0, 0, false))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ds := learnable(batch, 5)
	x := make([]float32, batch*3*16*16)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y := make([]int, batch)
	for i := range y {
		y[i] = int(ds.Labels[i])
	}
	loss := func(eps float64) float64 {
		tr.LabelSmoothing = eps
		l, _, err := tr.Step(x, y, 0) // lr 0: the weights stay put
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l0, l5, l1 := loss(0), loss(0.5), loss(0.1)
	if want := l0 + 0.2*(l5-l0); abs64(l1-want) > 1e-5 {
		t.Errorf("L(0.1) = %v, want %v from L(0) = %v and L(0.5) = %v", l1, want, l0, l5)
	}
	if !(l5 > l0) {
		t.Errorf("smoothing did not raise the loss of a random net: %v vs %v", l5, l0)
	}
	// Cross-entropy is linear in the targets: a mixed batch's loss is the
	// λ-weighted mean of the two labelings' losses.
	tr.LabelSmoothing = 0.1
	y2 := make([]int, batch)
	for i := range y2 {
		y2[i] = (y[i] + 3) % 10
	}
	la, _, errA := tr.Step(x, y, 0)
	lb, _, errB := tr.Step(x, y2, 0)
	lm, _, errM := tr.StepMixed(x, y, y2, 0.3, 0)
	if errA != nil || errB != nil || errM != nil {
		t.Fatal(errA, errB, errM)
	}
	if want := 0.3*la + 0.7*lb; abs64(lm-want) > 1e-5 {
		t.Errorf("mixed loss %v, want 0.3·%v + 0.7·%v = %v", lm, la, lb, want)
	}
	for _, bad := range []struct {
		y2  []int
		lam float64
	}{{y2, 1.5}, {y2, math.NaN()}, {nil, 0.5}, {y2[:2], 0.5}} {
		if _, _, err := tr.StepMixed(x, y, bad.y2, bad.lam, 0); err == nil {
			t.Errorf("StepMixed with %d second labels and λ %v: no error", len(bad.y2), bad.lam)
		}
	}
	if _, _, err := (func() (float64, int, error) { tr.LabelSmoothing = 1; return tr.Step(x, y, 0) })(); err == nil {
		t.Error("label smoothing 1: no error")
	}
}

// TestNonFiniteRefused: a checkpoint with a NaN or infinite value (and a
// valid checksum) is refused, naming the tensor.
func TestNonFiniteRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := model.CIFAR10(0.25)
	m, err := model.New(cfg, model.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
		ts, _ := snapshot(m.Store, nil)
		ts[3].Data[7] = bad
		p := filepath.Join(dir, "bad.bin")
		if err := WriteCheckpoint(p, Header{Config: cfg}, ts); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadModel(p, 0)
		if !errors.Is(err, ErrNotCheckpoint) || !strings.Contains(err.Error(), ts[3].Info.Name+" has a non-finite value") {
			t.Errorf("%v in %s: error %v", bad, ts[3].Info.Name, err)
		}
	}
}

// TestNonFiniteEvaluationIsDivergence: when training stays finite but the
// test loss is not (here: running variances made negative in a resumed
// checkpoint), the run stops with ErrDiverged and keeps the last
// checkpoint, instead of failing to write NaN into the metrics log.
func TestNonFiniteEvaluationIsDivergence(t *testing.T) {
	dir := t.TempDir()
	half := smallOptions(t, dir)
	half.StopAfter = 1
	if _, err := Run(context.Background(), half); err != nil {
		t.Fatal(err)
	}
	last := filepath.Join(dir, "last.bin")
	h, ts, err := ReadCheckpoint(last)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ts {
		if strings.HasSuffix(ts[i].Info.Name, "running_var") {
			for j := range ts[i].Data {
				ts[i].Data[j] = -100
			}
		}
	}
	if err := WriteCheckpoint(last, h, ts); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(last)
	o := smallOptions(t, dir)
	o.Resume = last
	_, err = Run(context.Background(), o)
	if !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), "test loss is NaN after epoch 2") || !strings.Contains(err.Error(), "untouched") {
		t.Fatalf("error %v, want ErrDiverged for the test loss", err)
	}
	if after, _ := os.ReadFile(last); !bytes.Equal(before, after) {
		t.Error("last.bin was rewritten after the divergence")
	}
}

// TestEvalEvery: with Recipe.EvalEvery 2 over 5 epochs the test set is
// evaluated after epochs 2, 4 and 5 only, every epoch still logs its
// training figures and writes last.bin, and the weights are those of a
// run evaluated every epoch (evaluating never changes training).
func TestEvalEvery(t *testing.T) {
	every := smallOptions(t, t.TempDir())
	every.Recipe.Epochs = 5
	a, err := Run(context.Background(), every)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sparse := smallOptions(t, dir)
	sparse.Recipe.Epochs, sparse.Recipe.EvalEvery = 5, 2
	b, err := Run(context.Background(), sparse)
	if err != nil {
		t.Fatal(err)
	}
	sameVars(t, a.Model, b.Model)
	if a.LastAcc != b.LastAcc || a.BestAcc < b.BestAcc {
		t.Errorf("final accuracy %v (best %v) evaluated every epoch, %v (best %v) every other", a.LastAcc, a.BestAcc, b.LastAcc, b.BestAcc)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var tested []int
	lines := splitLines(raw)
	for _, l := range lines {
		var rec struct {
			Epoch   int      `json:"epoch"`
			TestAcc *float64 `json:"test_acc"`
		}
		if err := jsonUnmarshal(l, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.TestAcc != nil {
			tested = append(tested, rec.Epoch)
		}
	}
	if len(lines) != 5 || len(tested) != 3 || tested[0] != 2 || tested[1] != 4 || tested[2] != 5 {
		t.Errorf("%d metrics lines, test figures after epochs %v; want 5 lines, test figures after 2, 4, 5", len(lines), tested)
	}
	bad := smallOptions(t, t.TempDir())
	bad.Recipe.EvalEvery = -1
	if _, err := Run(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "eval every") {
		t.Errorf("EvalEvery -1: %v", err)
	}
}

// TestMixedTargets: the soft targets of a mixed batch are lam·smooth(y) +
// (1−lam)·smooth(y2), rows summing to 1; without y2 they are smoothTargets'.
func TestMixedTargets(t *testing.T) {
	const k = 4
	for _, tc := range []struct {
		name     string
		y, y2    []int
		lam, eps float64
		want     []float32 // row 0
		wantErr  bool
	}{
		{"plain", []int{1}, nil, 1, 0.1, []float32{0.025, 0.925, 0.025, 0.025}, false},
		{"mixed", []int{1}, []int{3}, 0.7, 0, []float32{0, 0.7, 0, 0.3}, false},
		{"mixed and smoothed", []int{0}, []int{2}, 0.25, 0.2, []float32{0.05 + 0.25*0.8, 0.05, 0.05 + 0.75*0.8, 0.05}, false},
		{"same label", []int{2}, []int{2}, 0.4, 0.1, []float32{0.025, 0.025, 0.925, 0.025}, false},
		{"second label outside", []int{0}, []int{4}, 0.5, 0, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]float32, len(tc.y)*k)
			err := mixedTargets(dst, tc.y, tc.y2, tc.lam, k, tc.eps)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var sum float64
			for j, v := range dst[:k] {
				sum += float64(v)
				if math.Abs(float64(v-tc.want[j])) > 1e-6 {
					t.Errorf("target %d: %v, want %v (row %v)", j, v, tc.want[j], dst[:k])
				}
			}
			if math.Abs(sum-1) > 1e-6 {
				t.Errorf("row sums to %v", sum)
			}
		})
	}
}

// TestNilModel: the entry points that take a model (or an optimizer) say so
// when given nil instead of crashing.
func TestNilModel(t *testing.T) {
	m, err := model.New(model.CIFAR10(0.25), model.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.bin")
	cases := []struct {
		name, want string
		f          func() error
	}{
		{"NewTrainer", "trainer: no network", func() error { _, err := NewTrainer(nil, 8, NewSGD(0.9, 0, false)); return err }},
		{"NewTrainer of a nil *model.Model", "trainer: no network", func() error {
			_, err := NewTrainer((*model.Model)(nil), 8, NewSGD(0.9, 0, false))
			return err
		}},
		{"NewTrainer without optimizer", "trainer: no optimizer", func() error { _, err := NewTrainer(m, 8, nil); return err }},
		{"NewEvaluator", "evaluator: no network", func() error { _, err := NewEvaluator(nil, 8); return err }},
		{"NewEvaluator of a nil *model.Model", "evaluator: no network", func() error { _, err := NewEvaluator((*model.Model)(nil), 8); return err }},
		{"WriteModel", "write checkpoint " + path + ": no model", func() error { return WriteModel(path, nil, model.CIFAR10(0.25)) }},
	}
	for _, c := range cases {
		if err := c.f(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q…", c.name, err, c.want)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("WriteModel of nil left %s (%v)", path, err)
	}
}

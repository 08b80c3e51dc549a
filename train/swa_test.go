package train

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/layers"

	"github.com/gomobilenet/mobilenet/checkpoint"
	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/model"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// tensorsOf reads a checkpoint's tensors of one kind by name.
func tensorsOf(t *testing.T, path, kind string) map[string][]float32 {
	t.Helper()
	_, ts, err := ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for _, tn := range ts {
		if tn.Info.Kind == kind {
			out[tn.Info.Name] = tn.Data
		}
	}
	return out
}

// TestSWA: a run with an SWA tail trains its last epochs at the tail's
// rate, its checkpoint holds the equal-weight mean of the weights at the
// end of each tail epoch (with BatchNorm statistics of its own), stopping
// and resuming inside the tail changes nothing, a tail added to a finished
// run on resume gives the same run, and the checkpoint loads with the
// average, whose accuracy is the one it records.
func TestSWA(t *testing.T) {
	withSWA := func(o Options) Options {
		o.Recipe.Epochs, o.Recipe.SWAEpochs, o.Recipe.SWALR = 2, 3, 0.01
		return o
	}
	ctx := context.Background()
	whole := t.TempDir()
	a, err := Run(ctx, withSWA(smallOptions(t, whole)))
	if err != nil {
		t.Fatal(err)
	}
	if a.Epochs != 5 {
		t.Fatalf("ran %d epochs, want 2+3", a.Epochs)
	}

	// The same run in pieces: the schedule alone, then the tail added on
	// resume, stopped after each of its epochs to read the raw weights.
	dir := t.TempDir()
	plain := smallOptions(t, dir)
	plain.Recipe.Epochs = 2
	if _, err := Run(ctx, plain); err != nil {
		t.Fatal(err)
	}
	last := filepath.Join(dir, "last.bin")
	if n := len(tensorsOf(t, last, checkpoint.KindEMA)); n != 0 {
		t.Fatalf("a run without a tail wrote %d averaged tensors", n)
	}
	var raws []map[string][]float32
	var b *Result
	for stop := 3; stop <= 5; stop++ {
		o := withSWA(smallOptions(t, dir))
		o.Recipe.Epochs = 0 // the checkpoint's
		o.Resume, o.StopAfter = last, stop
		if b, err = Run(ctx, o); err != nil {
			t.Fatal(err)
		}
		raws = append(raws, tensorsOf(t, last, checkpoint.KindParam))
	}
	sameVars(t, a.Model, b.Model)
	got, want := tensorsOf(t, last, checkpoint.KindEMA), tensorsOf(t, filepath.Join(whole, "last.bin"), checkpoint.KindEMA)
	if len(got) == 0 || len(got) != len(want) {
		t.Fatalf("averaged tensors: %d in pieces, %d whole", len(got), len(want))
	}
	for name, w := range want {
		for i := range w {
			if got[name][i] != w[i] {
				t.Fatalf("average %s[%d]: %v in pieces, %v whole", name, i, got[name][i], w[i])
			}
		}
	}
	params := raws[2]
	for name, raw := range params {
		avg := got[name]
		for i := range raw {
			mean := (float64(raws[0][name][i]) + float64(raws[1][name][i]) + float64(raw[i])) / 3
			if math.Abs(float64(avg[i])-mean) > 1e-6*(1+math.Abs(mean)) {
				t.Fatalf("average %s[%d] = %v, the mean of the tail's weights is %v", name, i, avg[i], mean)
			}
		}
	}
	stats := tensorsOf(t, last, checkpoint.KindState)
	recomputed := false
	for name, s := range stats {
		if !strings.HasSuffix(name, "running_var") {
			continue
		}
		for i := range s {
			recomputed = recomputed || got[name][i] != s[i]
		}
	}
	if !recomputed {
		t.Error("the average's BatchNorm statistics are the raw weights'")
	}

	h, _, err := ReadCheckpoint(last)
	if err != nil {
		t.Fatal(err)
	}
	if h.Recipe.SWAEpochs != 3 || h.Recipe.SWALR != 0.01 || h.Epoch != 5 {
		t.Fatalf("checkpoint: epoch %d, recipe %+v", h.Epoch, h.Recipe)
	}
	m, _, err := LoadModel(last, 0)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := NewEvaluator(m, 30)
	if err != nil {
		t.Fatal(err)
	}
	er, err := ev.Run(ctx, plain.Test, nil)
	ev.Close()
	if err != nil {
		t.Fatal(err)
	}
	if er.Accuracy != h.TestAcc {
		t.Errorf("the average evaluates to %v; the checkpoint records %v", er.Accuracy, h.TestAcc)
	}

	b2, err := readFileT(filepath.Join(whole, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range splitLines(b2) {
		var rec map[string]any
		if err := jsonUnmarshal(line, &rec); err != nil {
			t.Fatal(err)
		}
		_, hasSWA := rec["test_acc_swa"]
		lr := rec["lr"].(float64)
		if tail := i >= 2; tail != hasSWA || tail != (lr == 0.01) {
			t.Errorf("epoch %d: lr %v, SWA figure %v", i+1, lr, hasSWA)
		}
	}
}

// TestSWAFrozenBody: with the body frozen, the average keeps the body's
// BatchNorm statistics as they are (a frozen BatchNorm does not update
// them) and its weights bit for bit.
func TestSWAFrozenBody(t *testing.T) {
	dir := t.TempDir()
	o := smallOptions(t, dir)
	o.Recipe.Epochs, o.Recipe.SWAEpochs, o.Recipe.Freeze = 1, 2, FreezeBody
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	last := filepath.Join(dir, "last.bin")
	avg := tensorsOf(t, last, checkpoint.KindEMA)
	raw := tensorsOf(t, last, checkpoint.KindState)
	for name, p := range tensorsOf(t, last, checkpoint.KindParam) {
		raw[name] = p
	}
	classifier := 0
	for name, a := range avg {
		if strings.HasPrefix(name, model.ClassifierScope+"/") {
			classifier++
			continue
		}
		for i := range a {
			if a[i] != raw[name][i] {
				t.Fatalf("frozen %s[%d]: %v in the average, %v raw", name, i, a[i], raw[name][i])
			}
		}
	}
	if classifier == 0 || len(avg) == classifier {
		t.Fatalf("%d averaged tensors, %d of the classifier", len(avg), classifier)
	}
}

// TestSWAResumeRules: the schedule of a run in its tail cannot be
// extended, an SWA tail and an EMA exclude each other, and bad settings
// are refused.
func TestSWAResumeRules(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := smallOptions(t, dir)
	o.Recipe.Epochs, o.Recipe.SWAEpochs, o.StopAfter = 1, 2, 2
	if _, err := Run(ctx, o); err != nil {
		t.Fatal(err)
	}
	more := smallOptions(t, dir)
	more.Recipe.Epochs, more.Resume = 3, filepath.Join(dir, "last.bin")
	if _, err := Run(ctx, more); err == nil || !strings.Contains(err.Error(), "SWA tail") {
		t.Errorf("extending the schedule in the tail: %v", err)
	}

	emaDir := t.TempDir()
	e := smallOptions(t, emaDir)
	e.Recipe.Epochs, e.Recipe.EMA = 1, 0.9
	if _, err := Run(ctx, e); err != nil {
		t.Fatal(err)
	}
	add := smallOptions(t, emaDir)
	add.Recipe.Epochs, add.Recipe.SWAEpochs, add.Resume = 0, 2, filepath.Join(emaDir, "last.bin")
	if _, err := Run(ctx, add); err == nil || !strings.Contains(err.Error(), "one weight average") {
		t.Errorf("an SWA tail added to an EMA run: %v", err)
	}

	for _, tc := range []struct {
		name string
		r    func(*Recipe)
		want string
	}{
		{"negative epochs", func(r *Recipe) { r.SWAEpochs = -1 }, "SWA epochs -1"},
		{"negative rate", func(r *Recipe) { r.SWAEpochs, r.SWALR = 2, -0.1 }, "SWA learning rate"},
		{"NaN rate", func(r *Recipe) { r.SWAEpochs, r.SWALR = 2, math.NaN() }, "SWA learning rate"},
		{"with EMA", func(r *Recipe) { r.SWAEpochs, r.EMA = 2, 0.99 }, "one weight average"},
	} {
		r := DefaultRecipe()
		tc.r(&r)
		if err := r.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	r := DefaultRecipe()
	if r.SWAEpochs = 10; r.SWARate() != r.LR/10 || r.TotalEpochs() != r.Epochs+10 {
		t.Errorf("SWARate %v, TotalEpochs %d", r.SWARate(), r.TotalEpochs())
	}
}

// TestBNRecompute: the recomputed statistics do not depend on the running
// statistics before, those of two batches are the mean of each one's, and
// after recomputing on one batch the network in inference mode gives what
// training mode gives on it (the momentum rule is undone right).
func TestBNRecompute(t *testing.T) {
	// 32×32 images and batches of 256: the BatchNorms see at least 1,024
	// values a channel, so the running variance (unbiased) is within 0.1%
	// of the batch variance that training mode normalises with. (The
	// logits' worst difference halves as the batch doubles: 3.3% at 32,
	// 0.45% at 256 — that correction, not the momentum rule.)
	cfg := model.CIFAR10(0.25)
	m, err := model.New(cfg, model.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	const batch = 256
	ds := learnable(2*batch, 5)
	first, err := ds.Subset(seq(0, batch))
	if err != nil {
		t.Fatal(err)
	}
	second, err := ds.Subset(seq(batch, 2*batch))
	if err != nil {
		t.Fatal(err)
	}
	b, err := newBNRecompute(m, batch)
	if err != nil {
		t.Fatal(err)
	}
	defer b.vm.Close()
	loader := func(d *data.Dataset) *data.Loader {
		l, err := data.NewLoader(d, data.LoaderConfig{BatchSize: batch, Resolution: cfg.Resolution})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	statsAfter := func(d *data.Dataset, fill float32) [][]float32 {
		for _, s := range b.stats {
			for j := range s.Value.Data().([]float32) {
				s.Value.Data().([]float32)[j] = fill
			}
		}
		if err := b.run(context.Background(), loader(d), 0, SWABatches); err != nil {
			t.Fatal(err)
		}
		var out [][]float32
		for _, s := range b.stats {
			out = append(out, append([]float32(nil), s.Value.Data().([]float32)...))
		}
		return out
	}
	if len(b.stats) == 0 {
		t.Fatal("no BatchNorm statistics")
	}
	s1, s1again, s2, both := statsAfter(first, 0.5), statsAfter(first, 7), statsAfter(second, 1), statsAfter(ds, 3)
	for i := range s1 {
		for j := range s1[i] {
			if d := math.Abs(float64(s1[i][j] - s1again[i][j])); d > 1e-4*(1+math.Abs(float64(s1[i][j]))) {
				t.Fatalf("%s[%d]: %v after running statistics 0.5, %v after 7", b.stats[i].Name, j, s1[i][j], s1again[i][j])
			}
			mean := (float64(s1[i][j]) + float64(s2[i][j])) / 2
			if d := math.Abs(float64(both[i][j]) - mean); d > 1e-4*(1+math.Abs(mean)) {
				t.Fatalf("%s[%d]: %v over both batches, the mean of each one's is %v", b.stats[i].Name, j, both[i][j], mean)
			}
		}
	}

	statsAfter(first, 0)
	ev, err := NewEvaluator(m, batch)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	l := loader(first)
	var x []float32
	for bt := range l.Epoch(context.Background(), 0, 0) {
		x = bt.X
	}
	inference, err := ev.Logits(x)
	if err != nil {
		t.Fatal(err)
	}
	training := trainingLogits(t, m, x, batch)
	for i := range training {
		if d := math.Abs(float64(training[i] - inference[i])); d > 1e-2*(1+math.Abs(float64(training[i]))) {
			t.Fatalf("logit %d: %v in training mode, %v in inference mode with the recomputed statistics", i, training[i], inference[i])
		}
	}
}

// trainingLogits runs a batch through the model in training mode (batch
// statistics).
func trainingLogits(t *testing.T, m *model.Model, x []float32, batch int) []float32 {
	t.Helper()
	g := G.NewGraph()
	net, err := m.Build(g, batch)
	if err != nil {
		t.Fatal(err)
	}
	var out G.Value
	G.Read(net.Logits, &out)
	vm, err := layers.NewTapeMachine(g)
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	m.SetTraining(true)
	defer m.SetTraining(false)
	if err := G.Let(net.Input, tensor.New(tensor.WithShape(net.Input.Shape()...), tensor.WithBacking(x))); err != nil {
		t.Fatal(err)
	}
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), out.Data().([]float32)...)
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

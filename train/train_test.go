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

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/model"
	"gorgonia.org/tensor"
)

// learnable makes n images whose class shows in their colour.
func learnable(n int, seed uint64) *data.Dataset {
	r := rand.New(rand.NewPCG(seed, 7))
	ds := &data.Dataset{Pixels: make([]byte, n*data.ImageBytes), Labels: make([]int32, n), Classes: data.DefaultClassNames}
	for i := 0; i < n; i++ {
		k := i % 10
		ds.Labels[i] = int32(k)
		img := ds.Image(i)
		for p := 0; p < 1024; p++ {
			img[p] = byte(min(255, 25*k+r.IntN(10)))
			img[1024+p] = byte(min(255, 240-25*k+r.IntN(10)))
			img[2048+p] = byte(r.IntN(256))
		}
	}
	return ds
}

func smallOptions(t *testing.T, out string) Options {
	r := DefaultRecipe()
	r.Epochs, r.BatchSize, r.EvalBatch, r.LR, r.WarmupEpochs, r.SWAEpochs = 4, 20, 30, 0.05, 0.5, 0
	cfg := model.CIFAR10(0.25)
	cfg.Resolution = 16
	return Options{Recipe: r, Config: cfg, OutDir: out, Train: learnable(200, 1), Test: learnable(90, 2)}
}

func TestTrainLearnsAndCheckpointsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	o := smallOptions(t, dir)
	o.Recipe.Epochs = 8
	var log, bars bytes.Buffer
	o.Log, o.Progress = &log, &bars
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	// The bars (training's and evaluation's) go to Progress, the epoch lines to Log.
	if b := bars.String(); !strings.Contains(b, "epoch 8/8 ") || !strings.Contains(b, "evaluating") {
		t.Errorf("Progress lacks the bars:\n%q", b)
	}
	if strings.Contains(log.String(), "\r") || strings.Contains(log.String(), "evaluating") {
		t.Errorf("Log holds progress bars:\n%q", log.String())
	}
	first := firstLoss(t, dir)
	if !(res.LastLoss < first*0.7) {
		t.Errorf("training loss went from %.4f to %.4f", first, res.LastLoss)
	}
	if res.BestAcc < 0.5 { // chance is 0.1
		t.Errorf("best test accuracy %.3f on learnable data", res.BestAcc)
	}
	if !strings.Contains(log.String(), "epoch 8/8") {
		t.Errorf("log lacks the epoch lines:\n%s", log.String())
	}
	// last.bin holds exactly the model's variables.
	m, hdr, err := LoadModel(filepath.Join(dir, "last.bin"), o.Depthwise)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range res.Model.Store.Vars() {
		a, b := v.Value.Data().([]float32), m.Store.Var(v.Name).Value.Data().([]float32)
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s[%d]: %v after loading, %v in memory", v.Name, i, b[i], a[i])
			}
		}
	}
	// Evaluating the checkpoint reproduces the accuracy training reported.
	ev, err := NewEvaluator(m, 45)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	er, err := ev.Run(context.Background(), o.Test, nil)
	if err != nil {
		t.Fatal(err)
	}
	if er.Accuracy != hdr.TestAcc || er.Images != 90 {
		t.Errorf("evaluation gives %v on %d images, training reported %v", er.Accuracy, er.Images, hdr.TestAcc)
	}
}

func firstLoss(t *testing.T, dir string) float64 {
	b, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		TrainLoss float64 `json:"train_loss"`
	}
	if err := jsonUnmarshal(bytes.Split(b, []byte("\n"))[0], &rec); err != nil {
		t.Fatal(err)
	}
	return rec.TrainLoss
}

// TestResumeIsExact: 2 epochs, stop, resume for 2 more equals 4 in one go.
// The run uses non-default optimizer settings and the resumed half is given
// the default recipe: the checkpoint's settings must win (they once did not:
// the optimizer was built from the flags before the checkpoint was read).
func TestResumeIsExact(t *testing.T) {
	custom := func(o Options) Options {
		o.Recipe.Momentum, o.Recipe.WeightDecay, o.Recipe.Nesterov = 0.8, 1e-4, false
		o.Recipe.TrivialAugment, o.Recipe.RandomErasing, o.Recipe.Cutout, o.Recipe.AlternateFlips = true, 0.5, 8, true // every augmentation stream
		o.Recipe.MixUp, o.Recipe.CutMix = 0.4, 1
		o.Recipe.Schedule, o.Recipe.MinLR = ScheduleLinear, 0.01
		o.Recipe.DecayParams = DecayAll
		o.Config.OutputStride = 8 // the resumed half is given the default: the checkpoint's must win
		return o
	}
	full := custom(smallOptions(t, t.TempDir()))
	a, err := Run(context.Background(), full)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	half := custom(smallOptions(t, dir))
	half.StopAfter = 2
	half.Command, half.Machine = []string{"cmd/train", "--schedule", "linear"}, map[string]string{"cpu": "first"}
	if res, err := Run(context.Background(), half); err != nil || !res.Interrupted || res.Epochs != 2 {
		t.Fatalf("first half: %+v, %v", res, err)
	}
	rest := smallOptions(t, dir) // default momentum, weight decay and Nesterov
	rest.Resume = filepath.Join(dir, "last.bin")
	rest.Command, rest.Machine = []string{"cmd/train", "--resume", rest.Resume}, map[string]string{"cpu": "second"}
	b, err := Run(context.Background(), rest)
	if err != nil {
		t.Fatal(err)
	}
	sameVars(t, a.Model, b.Model)
	// The run's record: the checkpoint's recipe, and both starts.
	rec, err := ReadRunRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Recipe != half.Recipe || rec.Config != half.Config {
		t.Errorf("run record: recipe %v and config %+v, want the run's %v and %+v", rec.Recipe, rec.Config, half.Recipe, half.Config)
	}
	if len(rec.Starts) != 2 || rec.Starts[0].Epoch != 0 || rec.Starts[1].Epoch != 2 || rec.Starts[0].Resume != "" || rec.Starts[1].Resume != rest.Resume ||
		rec.Starts[0].Command[1] != "--schedule" || rec.Starts[1].Machine["cpu"] != "second" || rec.Starts[0].Time == "" {
		t.Errorf("run record's starts: %+v", rec.Starts)
	}
	h, _, err := ReadCheckpoint(filepath.Join(dir, "last.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if r := h.Recipe; !r.TrivialAugment || r.RandomErasing != 0.5 || r.MixUp != 0.4 || r.CutMix != 1 {
		t.Errorf("the resumed run's checkpoint lost the augmentation: %+v", r)
	}
	if h.Recipe.Schedule != ScheduleLinear || h.Recipe.DecayParams != DecayAll {
		t.Errorf("the resumed run's checkpoint records schedule %q and decay parameters %q, the run used linear and all", h.Recipe.Schedule, h.Recipe.DecayParams)
	}
	if r := h.Recipe; r.Momentum != 0.8 || r.WeightDecay != 1e-4 || r.Nesterov {
		t.Errorf("the resumed run's checkpoint records momentum %g, weight decay %g, Nesterov %v; the run used 0.8, 1e-4, false", r.Momentum, r.WeightDecay, r.Nesterov)
	}
}

// TestResumeRefusesOtherData: a run resumed on other training or test data
// (another limit, other images) fails with ErrDataChanged saying what
// differs, unless AllowDataChange.
func TestResumeRefusesOtherData(t *testing.T) {
	dir := t.TempDir()
	half := smallOptions(t, dir)
	half.StopAfter = 1
	if _, err := Run(context.Background(), half); err != nil {
		t.Fatal(err)
	}
	last := filepath.Join(dir, "last.bin")
	h, _, err := ReadCheckpoint(last)
	if err != nil || h.Data == nil || h.Data.TrainImages != 200 || h.Data.TestImages != 90 || len(h.Data.TrainFingerprint) != 16 {
		t.Fatalf("checkpoint data record %+v, %v", h.Data, err)
	}
	orig, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	fewer := learnable(200, 1)
	fewer.Labels, fewer.Pixels = fewer.Labels[:180], fewer.Pixels[:180*data.ImageBytes]
	changed := learnable(200, 1)
	changed.Pixels[5]++
	for _, c := range []struct {
		name        string
		train, test *data.Dataset
		want        string
	}{
		{"a smaller limit", fewer, nil, "training set: 180 images"},
		{"one pixel changed", changed, nil, "training set: 200 images (fingerprint"},
		{"another test set", nil, learnable(90, 3), "test set: 90 images"},
	} {
		o := smallOptions(t, dir)
		o.Resume = last
		if c.train != nil {
			o.Train = c.train
		}
		if c.test != nil {
			o.Test = c.test
		}
		_, err := Run(context.Background(), o)
		if !errors.Is(err, ErrDataChanged) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want ErrDataChanged saying %q", c.name, err, c.want)
		}
		o.AllowDataChange, o.StopAfter = true, 2
		if _, err := Run(context.Background(), o); err != nil {
			t.Errorf("%s, allowed: %v", c.name, err)
		}
		if err := os.WriteFile(last, orig, 0o644); err != nil { // undo the allowed run
			t.Fatal(err)
		}
	}
}

func TestCheckpointErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := model.CIFAR10(0.25)
	m, err := model.New(cfg, model.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := snapshot(m.Store, nil)
	good := filepath.Join(dir, "good.bin")
	if err := WriteCheckpoint(good, Header{Config: cfg}, ts); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(good)
	write := func(name string, content []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, content, 0o644)
		return p
	}
	flipped := append([]byte(nil), b...)
	flipped[len(flipped)/2] ^= 1
	other := model.CIFAR10(0.5)
	mismatch := filepath.Join(dir, "mismatch.bin")
	WriteCheckpoint(mismatch, Header{Config: other}, ts)
	for _, c := range []struct{ path, want string }{
		{write("truncated.bin", b[:len(b)-1000]), "checksum"},
		{write("random.bin", bytes.Repeat([]byte{7, 1, 3}, 500)), "foreign"},
		{write("flipped.bin", flipped), "checksum"},
		{write("empty.bin", nil), "foreign"},
		{mismatch, "parameters"},
		{filepath.Join(dir, "absent.bin"), "no such file"},
	} {
		_, _, err := LoadModel(c.path, 0)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("%s: error %v, want one naming the file and saying %q", c.path, err, c.want)
		}
	}
	if _, _, err := LoadModel(good, 0); err != nil {
		t.Fatal(err)
	}
	// Writing never leaves temporary files behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	if !errors.Is(func() error { _, _, err := ReadCheckpoint(filepath.Join(dir, "random.bin")); return err }(), ErrNotCheckpoint) {
		t.Error("random bytes: not ErrNotCheckpoint")
	}
}

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

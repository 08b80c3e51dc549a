package train

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/model"
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

// TestInterruptAtEpochEnd: an interruption stops after the step it falls
// in; when that step is its epoch's last, the epoch finishes first (its
// evaluation, log line and checkpoint), so a resume starts the next epoch
// instead of an empty one. Mid-epoch, last.bin records the batch reached.
func TestInterruptAtEpochEnd(t *testing.T) {
	for _, c := range []struct {
		name              string
		images            int // at 20 a batch
		epoch, batch      int // last.bin's position
		logged, notLogged string
	}{
		{"the epoch's last step", 20, 1, 0, "epoch 1/4: train loss", "interrupted at"},
		{"mid-epoch", 40, 0, 1, "interrupted at epoch 1, batch 1", "epoch 1/4: train loss"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := smallOptions(t, t.TempDir())
			o.Train = learnable(c.images, 1)
			var log bytes.Buffer
			o.Log = &log
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // the first step is the last
			res, err := Run(ctx, o)
			if err != nil || !res.Interrupted || res.Epochs != c.epoch {
				t.Fatalf("interrupted run: %+v, %v", res, err)
			}
			h, _, err := ReadCheckpoint(filepath.Join(o.OutDir, "last.bin"))
			if err != nil {
				t.Fatal(err)
			}
			if h.Epoch != c.epoch || h.Batch != c.batch || h.Step != 1 {
				t.Errorf("last.bin at epoch %d, batch %d, step %d; want epoch %d, batch %d, step 1", h.Epoch, h.Batch, h.Step, c.epoch, c.batch)
			}
			if !strings.Contains(log.String(), c.logged) || strings.Contains(log.String(), c.notLogged) {
				t.Errorf("log should say %q and not %q:\n%s", c.logged, c.notLogged, log.String())
			}
		})
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

package train

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/gomobilenet/mobilenet/model"
)

// TestEMAAndTTA: a run with a weight average and flip TTA resumes exactly
// (weights and average), logs both figures, and its checkpoint loads with
// the averaged weights, whose accuracy is the one the checkpoint records.
func TestEMAAndTTA(t *testing.T) {
	withAvg := func(o Options) Options {
		o.Recipe.EMA, o.Recipe.TTA = 0.9, TTAFlip
		return o
	}
	a, err := Run(context.Background(), withAvg(smallOptions(t, t.TempDir())))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	half := withAvg(smallOptions(t, dir))
	half.StopAfter = 2
	if _, err := Run(context.Background(), half); err != nil {
		t.Fatal(err)
	}
	rest := smallOptions(t, dir)
	rest.Resume = filepath.Join(dir, "last.bin")
	b, err := Run(context.Background(), rest)
	if err != nil {
		t.Fatal(err)
	}
	sameVars(t, a.Model, b.Model)
	h, ts, err := ReadCheckpoint(filepath.Join(dir, "last.bin"))
	if err != nil {
		t.Fatal(err)
	}
	avg := map[string][]float32{}
	for _, tn := range ts {
		if tn.Info.Kind == "ema" {
			avg[tn.Info.Name] = tn.Data
		}
	}
	if len(avg) == 0 || h.Recipe.EMA != 0.9 || h.Recipe.TTA != TTAFlip {
		t.Fatalf("checkpoint: %d averaged tensors, recipe %+v", len(avg), h.Recipe)
	}
	m, _, err := LoadModel(filepath.Join(dir, "last.bin"), 0)
	if err != nil {
		t.Fatal(err)
	}
	differs := false
	for name, want := range avg {
		got := m.Store.Var(name).Value.Data().([]float32)
		raw := b.Model.Store.Var(name).Value.Data().([]float32)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("LoadModel %s[%d] = %v, the average is %v", name, i, got[i], want[i])
			}
			differs = differs || raw[i] != want[i]
		}
	}
	if !differs {
		t.Error("the average equals the raw weights")
	}
	ev, err := NewEvaluator(m, 30)
	if err != nil {
		t.Fatal(err)
	}
	ev.TTA = TTAFlip
	er, err := ev.Run(context.Background(), rest.Test, nil)
	ev.Close()
	if err != nil {
		t.Fatal(err)
	}
	if er.Accuracy != h.TestAcc || er.Flip == nil {
		t.Errorf("the averaged model evaluates to %v (flip %+v); the checkpoint records %v", er.Accuracy, er.Flip, h.TestAcc)
	}
	line := lastMetrics(t, dir)
	for _, k := range []string{"test_acc_ema", "test_acc_tta_flip", "test_acc_ema_tta_flip"} {
		if _, ok := line[k]; !ok {
			t.Errorf("metrics lack %s: %v", k, line)
		}
	}
}

func lastMetrics(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := readFileT(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := splitLines(b)
	var m map[string]any
	if err := jsonUnmarshal(lines[len(lines)-1], &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFlipTTA: Mirror is its own inverse, and on mirror-symmetric images
// flip TTA gives the plain result.
func TestFlipTTA(t *testing.T) {
	x := make([]float32, 2*3*5*5)
	for i := range x {
		x[i] = float32(i)
	}
	y, z := make([]float32, len(x)), make([]float32, len(x))
	Mirror(y, x, 5)
	Mirror(z, y, 5)
	if y[0] != 4 || y[4] != 0 || z[17] != x[17] {
		t.Fatalf("Mirror: %v / %v", y[:5], z[:5])
	}
	ds := learnable(40, 9)
	for i := 0; i < ds.Len(); i++ { // make every image mirror-symmetric
		img := ds.Image(i)
		for r := 0; r < 3*32; r++ {
			row := img[r*32 : (r+1)*32]
			for j := 0; j < 16; j++ {
				row[31-j] = row[j]
			}
		}
	}
	m, err := model.New(model.CIFAR10(0.25), model.Options{Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := NewEvaluator(m, 20)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	ev.TTA = TTAFlip
	r, err := ev.Run(context.Background(), ds, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Flip == nil || r.Flip.Accuracy != r.Accuracy || math.Abs(r.Flip.Loss-r.Loss) > 1e-5 {
		t.Errorf("symmetric images: plain %v / %v, flip %+v", r.Accuracy, r.Loss, r.Flip)
	}
	if _, err := ParseTTA("crop"); err == nil {
		t.Error("ParseTTA(crop): no error")
	}
}

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

// TestTranslate holds Translate to its definition: content moves d pixels
// down and right, rows and columns coming in are the edge's reflection, and
// d = 0 copies.
func TestTranslate(t *testing.T) {
	const res = 4
	x := make([]float32, 2*res*res) // two planes: v = 100·plane + 10·row + column
	for p := 0; p < 2; p++ {
		for i := 0; i < res; i++ {
			for j := 0; j < res; j++ {
				x[p*res*res+i*res+j] = float32(100*p + 10*i + j)
			}
		}
	}
	reflect := func(i int) int {
		if i < 0 {
			return -i
		}
		if i >= res {
			return 2*(res-1) - i
		}
		return i
	}
	for _, d := range []int{-2, -1, 0, 1, 3} {
		got := make([]float32, len(x))
		Translate(got, x, res, d)
		for p := 0; p < 2; p++ {
			for i := 0; i < res; i++ {
				for j := 0; j < res; j++ {
					want := float32(100*p + 10*reflect(i-d) + reflect(j-d))
					if v := got[p*res*res+i*res+j]; v != want {
						t.Fatalf("d=%d plane %d (%d,%d) = %v, want %v", d, p, i, j, v, want)
					}
				}
			}
		}
	}
}

// TestFlipTranslateTTA: on images whose every channel is one colour (so
// that mirroring and translating change nothing) flip-translate TTA gives
// the plain result and reports flip beside it (TestTTAAgainstDefinition
// holds the logits to the definition).
func TestFlipTranslateTTA(t *testing.T) {
	ds := learnable(30, 5)
	for i := 0; i < ds.Len(); i++ {
		img := ds.Image(i)
		for c := 0; c < 3; c++ {
			for p := 1; p < 1024; p++ {
				img[c*1024+p] = img[c*1024]
			}
		}
	}
	m, err := model.New(model.CIFAR10(0.25), model.Options{Seed: 6})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := NewEvaluator(m, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	ev.TTA = TTAFlipTranslate
	r, err := ev.Run(context.Background(), ds, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Flip == nil || r.FlipTranslate == nil {
		t.Fatalf("flip %v, flip-translate %v: want both", r.Flip, r.FlipTranslate)
	}
	if r.FlipTranslate.Accuracy != r.Accuracy || math.Abs(r.FlipTranslate.Loss-r.Loss) > 1e-5 {
		t.Errorf("uniform images: plain %v / %v, flip-translate %v / %v", r.Accuracy, r.Loss, r.FlipTranslate.Accuracy, r.FlipTranslate.Loss)
	}
	if got, err := ParseTTA("flip-translate"); err != nil || got != TTAFlipTranslate {
		t.Errorf("ParseTTA(flip-translate) = %q, %v", got, err)
	}
}

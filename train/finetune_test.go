package train

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/checkpoint"
	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
)

// twoClasses keeps the images of classes a and b of ds, relabelled 0 and 1.
func twoClasses(ds *data.Dataset, a, b int32) *data.Dataset {
	out := &data.Dataset{Classes: []string{ds.Classes[a], ds.Classes[b]}}
	for i, l := range ds.Labels {
		if l == a || l == b {
			out.Labels = append(out.Labels, map[int32]int32{a: 0, b: 1}[l])
			out.Pixels = append(out.Pixels, ds.Image(i)...)
		}
	}
	return out
}

// TestFineTuneFrozenBody trains a 10-class model, then fine-tunes it on two
// classes with the body frozen: the classifier is new and learns, every
// other parameter and BatchNorm statistic is bit for bit the checkpoint's,
// and the recipe records where it started and what was frozen.
func TestFineTuneFrozenBody(t *testing.T) {
	base := smallOptions(t, t.TempDir())
	if _, err := Run(context.Background(), base); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(base.OutDir, "last.bin")
	cfg, pre, err := FineTune(src, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Classes != 2 || cfg.Alpha != base.Config.Alpha || cfg.Resolution != base.Config.Resolution || pre.Mean != data.Mean {
		t.Fatalf("FineTune: %+v, %+v", cfg, pre)
	}
	o := smallOptions(t, t.TempDir())
	o.Config, o.Input = cfg, &pre
	o.Train, o.Test = twoClasses(learnable(200, 5), 3, 7), twoClasses(learnable(90, 6), 3, 7)
	o.Recipe.Epochs, o.Recipe.LR, o.Recipe.InitFrom, o.Recipe.Freeze = 3, FineTuneLR*10, src, FreezeBody
	var log bytes.Buffer
	o.Log = &log
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "the classifier is new (10 classes there, 2 here)") {
		t.Errorf("log does not say the classifier is new:\n%s", log.String())
	}
	if res.BestAcc < 0.9 {
		t.Errorf("fine-tuned accuracy %.3f on two separable classes", res.BestAcc)
	}
	_, before, err := ReadCheckpoint(src)
	if err != nil {
		t.Fatal(err)
	}
	h, after, err := ReadCheckpoint(filepath.Join(o.OutDir, "last.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if h.Recipe.Freeze != FreezeBody || h.Recipe.InitFrom != src || len(h.Classes) != 2 {
		t.Errorf("recipe %+v, classes %v", h.Recipe, h.Classes)
	}
	old := map[string][]float32{}
	for _, t := range before {
		if t.Info.Kind == checkpoint.KindParam || t.Info.Kind == checkpoint.KindState {
			old[t.Info.Name] = t.Data
		}
	}
	checked := 0
	for _, ts := range after {
		if ts.Info.Kind != checkpoint.KindParam && ts.Info.Kind != checkpoint.KindState {
			continue
		}
		if layers.InScope(ts.Info.Name, model.ClassifierScope) {
			if len(ts.Data) != 2*len(old[ts.Info.Name])/10 {
				t.Errorf("%s: %d values, want a 2-class classifier", ts.Info.Name, len(ts.Data))
			}
			continue
		}
		if !slices.Equal(ts.Data, old[ts.Info.Name]) {
			t.Errorf("frozen %s %s changed", ts.Info.Kind, ts.Info.Name)
		}
		checked++
	}
	if checked < 100 {
		t.Errorf("checked only %d frozen tensors", checked)
	}
}

// TestFineTuneAll: --freeze none changes the body too, and a checkpoint of
// another architecture is refused naming what differs.
func TestFineTuneAll(t *testing.T) {
	base := smallOptions(t, t.TempDir())
	base.Recipe.Epochs = 1
	if _, err := Run(context.Background(), base); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(base.OutDir, "last.bin")
	o := smallOptions(t, t.TempDir())
	o.Recipe.Epochs, o.Recipe.InitFrom, o.Recipe.Freeze = 1, src, FreezeNone
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	_, before, _ := ReadCheckpoint(src)
	_, after, _ := ReadCheckpoint(filepath.Join(o.OutDir, "last.bin"))
	if slices.Equal(before[0].Data, after[0].Data) {
		t.Errorf("%s unchanged by fine-tuning everything", before[0].Info.Name)
	}
	wide := smallOptions(t, t.TempDir())
	wide.Config.Alpha = 0.5
	wide.Recipe.InitFrom = src
	if _, err := Run(context.Background(), wide); err == nil || !strings.Contains(err.Error(), "mis-shaped stem/weight") {
		t.Errorf("another width: error %v, want one naming the mis-shaped tensors", err)
	}
}

package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/train"
)

// TestResumeConflict: a flag conflicts with a checkpoint only when it was
// given and names another setting, in the flag's own terms (an old
// checkpoint's "" schedule is cosine, its "" init He-normal, eval-every 0 is
// 1, output stride 0 is the paper's 16).
func TestResumeConflict(t *testing.T) {
	cfg, err := model.Preset("cifar10", 0.75)
	if err != nil {
		t.Fatal(err)
	}
	rec := train.DefaultRecipe()
	old := rec
	old.Schedule, old.DecayParams, old.Init, old.TTA, old.EvalEvery = "", "", "", "", 0
	hdr := train.Header{Config: cfg, Recipe: old}
	with := func(f func(*model.Config, *train.Recipe)) (model.Config, train.Recipe) {
		c, r := cfg, rec
		f(&c, &r)
		return c, r
	}
	for _, c := range []struct {
		name string
		set  []string
		edit func(*model.Config, *train.Recipe)
		want string // "" = no conflict
	}{
		{"same values given", []string{"alpha", "lr", "schedule", "decay-params", "eval-every", "epochs"}, func(*model.Config, *train.Recipe) {}, ""},
		{"other value not given", nil, func(c *model.Config, r *train.Recipe) { c.Alpha, r.LR = 1, 0.1 }, ""},
		{"alpha", []string{"alpha"}, func(c *model.Config, _ *train.Recipe) { c.Alpha = 1 }, "--alpha 1: the run in x.bin was started with 0.75"},
		{"output stride 16 is the paper's", []string{"output-stride"}, func(c *model.Config, _ *train.Recipe) { c.OutputStride = 16 }, ""},
		{"output stride 8", []string{"output-stride"}, func(c *model.Config, _ *train.Recipe) { c.OutputStride = 8 }, "--output-stride 8: the run in x.bin was started with 16"},
		{"dropout", []string{"dropout"}, func(c *model.Config, _ *train.Recipe) { c.Dropout = 0.2 }, "--dropout 0.2"},
		{"old init was He", []string{"weight-init"}, func(_ *model.Config, r *train.Recipe) { r.Init = "uniform" }, "--weight-init uniform: the run in x.bin was started with he"},
		{"tta", []string{"tta"}, func(_ *model.Config, r *train.Recipe) { r.TTA = train.TTAFlip }, "--tta flip"},
		{"no-augment", []string{"no-augment"}, func(_ *model.Config, r *train.Recipe) { r.Augment = false }, "--no-augment true: the run in x.bin was started with false"},
		{"seed", []string{"seed"}, func(_ *model.Config, r *train.Recipe) { r.Seed = 7 }, "--seed 7"},
		{"longer", []string{"epochs"}, func(_ *model.Config, r *train.Recipe) { r.Epochs = rec.Epochs + 100 }, ""},
		{"shorter", []string{"epochs"}, func(_ *model.Config, r *train.Recipe) { r.Epochs = rec.Epochs - 1 },
			fmt.Sprintf("--epochs %d: the run in x.bin has %d", rec.Epochs-1, rec.Epochs)},
	} {
		t.Run(c.name, func(t *testing.T) {
			set := map[string]bool{}
			for _, f := range c.set {
				set[f] = true
			}
			cf, r := with(c.edit)
			err := resumeConflict(set, "x.bin", cf, r, hdr)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("unexpected conflict: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("got %v, want an error with %q", err, c.want)
			}
		})
	}
	// SWA: a tail may be added to a run that had none, at any rate, and
	// extended; a run with one keeps its rate (0 and a tenth of --lr are
	// one rate).
	noTail, tail := hdr, hdr
	noTail.Recipe.SWAEpochs, tail.Recipe.SWAEpochs = 0, 20
	for _, c := range []struct {
		name string
		h    train.Header
		set  []string
		eps  int
		lr   float64
		want string
	}{
		{"a tail added", noTail, []string{"swa-epochs", "swa-lr"}, 20, 0.05, ""},
		{"the tail extended", tail, []string{"swa-epochs"}, 30, 0, ""},
		{"the tail's own rate", tail, []string{"swa-lr"}, 20, rec.LR / 10, ""},
		{"another rate", tail, []string{"swa-lr"}, 20, 0.05, "--swa-lr 0.05: the run in x.bin was started with 0.02"},
		{"the tail shortened", tail, []string{"swa-epochs"}, 10, 0, "--swa-epochs 10: the run in x.bin has 20"},
	} {
		r := rec
		r.SWAEpochs, r.SWALR = c.eps, c.lr
		set := map[string]bool{}
		for _, f := range c.set {
			set[f] = true
		}
		err := resumeConflict(set, "x.bin", cfg, r, c.h)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: unexpected conflict: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
	if err := initConflict(map[string]bool{"alpha": true}, "x.bin", cfg, cfg); err != nil {
		t.Errorf("--init with the checkpoint's own alpha: %v", err)
	}
	other, _ := model.Preset("imagenet", 0.75)
	if err := initConflict(map[string]bool{"config": true}, "x.bin", other, cfg); err == nil || !strings.Contains(err.Error(), "--config imagenet: the checkpoint x.bin holds a network with cifar10") {
		t.Errorf("--init --config imagenet on a cifar10 checkpoint: %v", err)
	}
}

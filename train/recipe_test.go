package train_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/train"
)

// TestRecipeFor: the rules a recipe follows for its configuration and
// purpose, and that a field the caller gave is kept.
func TestRecipeFor(t *testing.T) {
	def := train.DefaultRecipe()
	cifar, imagenet := model.CIFAR10(0.75), model.ImageNet(0.5)
	noAug := def
	noAug.Augment = false
	short := def
	short.Epochs = 50
	withEMA := def
	withEMA.EMA = 0.999
	budget := def
	budget.TimeBudget = 45 * time.Minute
	budgetNoAug := budget
	budgetNoAug.Augment = false
	cases := []struct {
		name   string
		cfg    model.Config
		p      train.Purpose
		r      train.Recipe
		given  []string
		epochs int
		lr     float64
		cutout int
		swa    int
		// the plan chooses the augmentation (BudgetAugment)
		planAug bool
	}{
		{"cifar10 from scratch", cifar, train.FromScratch, def, nil, 200, 0.2, 16, 80, false},
		{"a shorter schedule keeps two fifths for SWA", cifar, train.FromScratch, short, nil, 50, 0.2, 16, 20, false},
		{"imagenet: no Cutout, no tail", imagenet, train.FromScratch, def, nil, 200, 0.2, 0, 0, false},
		{"imagenet, Cutout and tail asked for", imagenet, train.FromScratch, def, []string{"cutout", "swa-epochs"}, 200, 0.2, 16, 80, false},
		{"without augmentation: no Cutout", cifar, train.FromScratch, noAug, nil, 200, 0.2, 0, 80, false},
		{"with an EMA: no tail", cifar, train.FromScratch, withEMA, nil, 200, 0.2, 16, 0, false},
		{"fine-tuning", cifar, train.FineTuning, def, nil, train.FineTuneEpochs, train.FineTuneLR, 0, 0, false},
		{"fine-tuning, rate and epochs given", cifar, train.FineTuning, def, []string{"lr", "epochs"}, 200, 0.2, 0, 0, false},
		{"a time budget: the plan chooses Cutout and flips", cifar, train.FromScratch, budget, nil, 200, 0.2, 16, 80, true},
		{"a time budget, Cutout given", cifar, train.FromScratch, budget, []string{"cutout"}, 200, 0.2, 16, 80, false},
		{"a time budget, alternating flips given", cifar, train.FromScratch, budget, []string{"alternate-flips"}, 200, 0.2, 16, 80, false},
		{"a time budget without augmentation", cifar, train.FromScratch, budgetNoAug, nil, 200, 0.2, 0, 80, false},
		{"a time budget on imagenet", imagenet, train.FromScratch, budget, nil, 200, 0.2, 0, 0, false},
		{"a time budget, fine-tuning", cifar, train.FineTuning, budget, nil, train.FineTuneEpochs, train.FineTuneLR, 0, 0, false},
	}
	for _, c := range cases {
		given := map[string]bool{}
		for _, g := range c.given {
			given[g] = true
		}
		got := train.RecipeFor(c.cfg, c.p, c.r, func(f string) bool { return given[f] })
		if got.Epochs != c.epochs || got.LR != c.lr || got.Cutout != c.cutout || got.SWAEpochs != c.swa || got.BudgetAugment != c.planAug {
			t.Errorf("%s: epochs %d lr %g cutout %d swa %d plan's augmentation %v, want %d %g %d %d %v", c.name, got.Epochs, got.LR, got.Cutout, got.SWAEpochs, got.BudgetAugment, c.epochs, c.lr, c.cutout, c.swa, c.planAug)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// TestRecipeFlags: every recipe field a flag sets is listed under that
// flag, in one spelling (so that a checkpoint's "" schedule and the flag's
// "cosine" agree), a negating flag negated.
func TestRecipeFlags(t *testing.T) {
	r := train.DefaultRecipe()
	r.Schedule, r.EvalEvery, r.SWALR, r.Augment = "", 0, 0, false
	got := map[string]any{}
	for _, f := range r.Flags() {
		if _, dup := got[f.Flag]; dup {
			t.Errorf("flag %s listed twice", f.Flag)
		}
		got[f.Flag] = f.Value
	}
	for flag, want := range map[string]any{"schedule": "cosine", "eval-every": 1, "swa-lr": 0.02, "no-augment": true, "lr": 0.2, "seed": uint64(1), "weight-init": "uniform"} {
		if fmt.Sprint(got[flag]) != fmt.Sprint(want) {
			t.Errorf("--%s: %v (%T), want %v (%T)", flag, got[flag], got[flag], want, want)
		}
	}
	if len(got) != 30 {
		t.Errorf("%d flags, want the 30 tagged fields", len(got))
	}
	// A low resolution's fraction and mode, left at their zero values,
	// are its defaults; without a low resolution they are off.
	if got["low-res-fraction"] != 0.0 || got["low-res-mode"] != "" {
		t.Errorf("without --low-res: fraction %v, mode %v", got["low-res-fraction"], got["low-res-mode"])
	}
	r.LowRes = 24
	for _, f := range r.Flags() {
		if want, ok := map[string]any{"low-res": 24, "low-res-fraction": train.DefaultLowResFraction, "low-res-mode": train.LowResResize}[f.Flag]; ok && f.Value != want {
			t.Errorf("--%s: %v, want %v", f.Flag, f.Value, want)
		}
	}
}

// TestEnumFlags: the recipe's enumerations are flag.Values: Set reads each
// name (and the empty spelling of old checkpoints), String gives it back,
// and anything else is a one-line error.
func TestEnumFlags(t *testing.T) {
	var (
		d train.Decay
		p train.ParamSet
		f train.Freeze
		a train.TTA
	)
	cases := []struct {
		v    flag.Value
		good map[string]string // input → String after Set
		bad  string
	}{
		{&d, map[string]string{"": "cosine", "cosine": "cosine", "linear": "linear", "step": "step"}, "exp"},
		{&p, map[string]string{"": "conv", "conv": "conv", "weights": "weights", "all": "all"}, "bias"},
		{&f, map[string]string{"": "none", "none": "none", "body": "body"}, "head"},
		{&a, map[string]string{"": "none", "none": "none", "flip": "flip", "flip-translate": "flip-translate"}, "rotate"},
	}
	for _, c := range cases {
		for in, want := range c.good {
			if err := c.v.Set(in); err != nil || c.v.String() != want {
				t.Errorf("%T Set(%q): %v, String %q, want %q", c.v, in, err, c.v.String(), want)
			}
		}
		if err := c.v.Set(c.bad); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%T Set(%q): %v, want a one-line error", c.v, c.bad, err)
		}
	}
}

// TestRunTakesSaved: a run given the checkpoint it resumes (Options.Saved,
// as cmd/train passes the one it read to check its flags) does not read
// the file again: here it is gone by then, and the run continues from it.
func TestRunTakesSaved(t *testing.T) {
	out := t.TempDir()
	r := train.DefaultRecipe()
	r.Epochs, r.BatchSize, r.EvalBatch, r.SWAEpochs = 2, 20, 50, 0
	cfg := model.CIFAR10(0.25)
	cfg.Resolution = 16
	o := train.Options{Recipe: r, Config: cfg, OutDir: out, Train: colours(100, 1), Test: colours(50, 2), StopAfter: 1}
	if _, err := train.Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	last := filepath.Join(out, "last.bin")
	saved, err := train.ReadSaved(nil, last)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(last, last+".away"); err != nil {
		t.Fatal(err)
	}
	o.StopAfter, o.Resume, o.Saved = 0, last, saved
	res, err := train.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Epochs != 2 {
		t.Fatalf("resumed to %d epochs, want 2", res.Epochs)
	}
}

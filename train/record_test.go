package train

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRunRecordUnreadable: a resumed run whose record is damaged (or
// missing) starts a new one, saying so when it was damaged.
func TestRunRecordUnreadable(t *testing.T) {
	for _, damaged := range []bool{false, true} {
		dir := t.TempDir()
		if damaged {
			if err := os.WriteFile(filepath.Join(dir, RunFile), []byte("{not json"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var log bytes.Buffer
		rn := &run{o: Options{OutDir: dir, Resume: filepath.Join(dir, "last.bin")}, r: DefaultRecipe(), logw: &log}
		rn.hdr.Epoch = 7
		if err := rn.writeRunRecord(time.Date(2026, 12, 3, 16, 0, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
		rec, err := ReadRunRecord(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Starts) != 1 || rec.Starts[0].Epoch != 7 || rec.Starts[0].Time != "2026-12-03T16:00:00Z" || rec.Recipe != DefaultRecipe() {
			t.Errorf("damaged %v: record %+v", damaged, rec)
		}
		if said := strings.Contains(log.String(), "starting a new record"); said != damaged {
			t.Errorf("damaged %v: log %q", damaged, log.String())
		}
	}
	if _, err := ReadRunRecord(t.TempDir()); err == nil || !strings.Contains(err.Error(), "run record") {
		t.Errorf("a folder without a record: %v", err)
	}
}

func TestRecipeString(t *testing.T) {
	r := DefaultRecipe()
	if got, want := r.String(), "200 epochs, batch 128, lr 0.2 (1 warm-up epoch, cosine decay), Nesterov momentum 0.9, weight decay 0.0005 (conv), label smoothing 0.1, augment, cutout 16, SWA 80 epochs at lr 0.02, init uniform, seed 1"; got != want {
		t.Errorf("default recipe:\n got %s\nwant %s", got, want)
	}
	r = Recipe{Epochs: 3, BatchSize: 64, LR: 0.01, WarmupEpochs: 0.5, Momentum: 0.8, WeightDecay: 1e-4, DecayParams: DecayAll, Schedule: ScheduleStep,
		Cutout: 16, TrivialAugment: true, RandomErasing: 0.25, MixUp: 0.2, CutMix: 1, EMA: 0.999, InitFrom: "best.bin", Freeze: FreezeBody, Seed: 2}
	if got, want := r.String(), "3 epochs, batch 64, lr 0.01 (0.5 warm-up epochs, step decay), momentum 0.8, weight decay 0.0001 (all), no augment, cutout 16, TrivialAugment, random erasing 0.25, mixup 0.2, cutmix 1, EMA 0.999, init he, from best.bin, freeze body, seed 2"; got != want {
		t.Errorf("every option:\n got %s\nwant %s", got, want)
	}
	r = DefaultRecipe()
	r.AlternateFlips = true
	if got, want := r.String(), ", label smoothing 0.1, augment (alternating flips), cutout 16, SWA 80 epochs at lr 0.02, init uniform"; !strings.Contains(got, want) {
		t.Errorf("alternating flips:\n got %s\nwant …%s…", got, want)
	}
	r = DefaultRecipe()
	r.MinLR, r.Schedule = 0.002, ScheduleLinear
	if got, want := r.String(), "200 epochs, batch 128, lr 0.2 (1 warm-up epoch, linear decay to 0.002), "; !strings.HasPrefix(got, want) {
		t.Errorf("a floor:\n got %s\nwant %s…", got, want)
	}
	r = DefaultRecipe()
	r.SWAEpochs, r.SWALR = 30, 0.05
	if got, want := r.String(), ", cutout 16, SWA 30 epochs at lr 0.05, init uniform"; !strings.Contains(got, want) {
		t.Errorf("an SWA tail:\n got %s\nwant …%s…", got, want)
	}
	r = DefaultRecipe()
	r.TimeBudget = 90 * time.Minute
	if got, want := r.String(), "epochs planned for a time budget of 1h30m0s, batch 128, lr 0.2 (1 warm-up epoch, cosine decay), Nesterov momentum 0.9, weight decay 0.0005 (conv), label smoothing 0.1, augment, cutout 16, SWA tail of 29% of the epochs at lr 0.02 when the plan reaches 150 epochs, init uniform, seed 1"; got != want {
		t.Errorf("a time budget:\n got %s\nwant %s", got, want)
	}
	r.BudgetAugment = true
	if got, want := r.String(), ", cutout 16, Cutout 12 and alternating flips if the plan is under 150 epochs, SWA tail"; !strings.Contains(got, want) {
		t.Errorf("the plan's augmentation:\n got %s\nwant …%s…", got, want)
	}
	r = DefaultRecipe()
	r.LowRes = 24
	if got, want := r.String(), ", cutout 16, the first 0.5 of the epochs at 24×24 (resize), SWA 80 epochs"; !strings.Contains(got, want) {
		t.Errorf("a low resolution:\n got %s\nwant …%s…", got, want)
	}
	r.LowResFraction, r.LowResMode = 0.3, LowResCrop
	if got, want := r.String(), ", the first 0.3 of the epochs at 24×24 (crop), "; !strings.Contains(got, want) {
		t.Errorf("a low resolution:\n got %s\nwant …%s…", got, want)
	}
}

// TestRemoveStaleTemps: the temporary files a killed run leaves (of its
// checkpoints, its record and its curves) go; everything else stays.
func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	stale := []string{".last.bin.tmp-123", ".best.bin.tmp-9", "." + RunFile + ".tmp-77", ".curves.png.tmp-5"}
	kept := []string{"last.bin", RunFile, "metrics.jsonl", "notes.txt", ".notes.txt.tmp-1"}
	for _, n := range append(slices.Clone(stale), kept...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	removeStaleTemps(dir)
	// What the folder holds afterwards is exactly what the run did not leave
	// half-written (atomicfile's own tests cover the mechanism).
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	slices.Sort(kept)
	if !slices.Equal(left, kept) {
		t.Errorf("the run folder holds %q after the clean-up, want %q", left, kept)
	}
}

package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomobilenet/mobilenet/internal/atomicfile"
	"github.com/gomobilenet/mobilenet/model"
)

// RunFile is the name of a run's record in its output folder (RunRecord).
const RunFile = "run.json"

// RunRecord is what a run's output folder says about the run, beside its
// checkpoints and metrics.jsonl: the network and the recipe (the
// checkpoint's, once resumed) and one entry per start or resume, so that a
// run continued over several sessions, perhaps on other machines, still
// says what ran where. Run writes it (RunFile) before the first step.
type RunRecord struct {
	Config model.Config `json:"config"`
	Recipe Recipe       `json:"recipe"`
	Starts []RunStart   `json:"starts"`
	// Plan is a time-budgeted run's last plan (Recipe.TimeBudget).
	Plan *BudgetPlan `json:"plan,omitempty"`
}

// RunStart is one start of a run: when, at which epoch, by which command
// on which machine (Options.Command and Options.Machine).
type RunStart struct {
	Time    string            `json:"time"`  // RFC 3339, UTC
	Epoch   int               `json:"epoch"` // epochs complete when it started
	Resume  string            `json:"resume,omitempty"`
	Command []string          `json:"command,omitempty"`
	Machine map[string]string `json:"machine,omitempty"`
}

// ReadRunRecord reads the record of the run in folder dir.
func ReadRunRecord(dir string) (*RunRecord, error) {
	b, err := os.ReadFile(filepath.Join(dir, RunFile))
	if err != nil {
		return nil, fmt.Errorf("run record: %w", err)
	}
	var rec RunRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("run record %s: %w", filepath.Join(dir, RunFile), err)
	}
	return &rec, nil
}

// writeRunRecord adds this start to the folder's record (a new record for
// a new run, or when the old one is missing or unreadable, which it says
// on the run's log) and writes it atomically.
func (rn *run) writeRunRecord(now time.Time) error {
	rec := &RunRecord{}
	if rn.o.Resume != "" {
		old, err := ReadRunRecord(rn.o.OutDir)
		switch {
		case err == nil:
			rec = old
		case !errors.Is(err, fs.ErrNotExist):
			fmt.Fprintf(rn.logw, "%v: starting a new record\n", err)
		}
	}
	rec.Config, rec.Recipe, rec.Plan = rn.hdr.Config, rn.r, rn.hdr.Plan
	rec.Starts = append(rec.Starts, RunStart{Time: now.UTC().Format(time.RFC3339), Epoch: rn.hdr.Epoch, Resume: rn.o.Resume,
		Command: rn.o.Command, Machine: rn.o.Machine})
	return writeRunFile(rn.o.OutDir, rec)
}

// writeRunFile writes the run record into dir, atomically.
func writeRunFile(dir string, rec *RunRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, RunFile), append(b, '\n')); err != nil {
		return fmt.Errorf("run record: %w", err)
	}
	return nil
}

// count writes n and the unit, plural unless n is 1 ("1 epoch", "0.5
// warm-up epochs").
func count[N int | float64](n N, unit string) string {
	if n == 1 {
		return fmt.Sprintf("%v %s", n, unit)
	}
	return fmt.Sprintf("%v %ss", n, unit)
}

// String describes the recipe on one line, the settings a reader needs to
// reproduce a run ("200 epochs, batch 128, lr 0.2 (1 warm-up epoch, cosine
// decay), Nesterov momentum 0.9, weight decay 0.0005 (conv), label
// smoothing 0.1, augment, cutout 16, SWA 80 epochs at lr 0.02, init
// uniform, seed 1" for the default); options left off are not mentioned.
func (r Recipe) String() string {
	sched, decay := r.Schedule.String(), r.DecayParams.String()
	warm := count(r.WarmupEpochs, "warm-up epoch")
	if r.MinLR > 0 {
		sched += fmt.Sprintf(" decay to %g", r.MinLR)
	} else {
		sched += " decay"
	}
	length := count(r.Epochs, "epoch")
	if r.TimeBudget > 0 {
		length = fmt.Sprintf("epochs planned for a time budget of %v", r.TimeBudget)
	}
	parts := []string{
		fmt.Sprintf("%s, batch %d, lr %g (%s, %s)", length, r.BatchSize, r.LR, warm, sched),
	}
	mom := fmt.Sprintf("momentum %g", r.Momentum)
	if r.Nesterov {
		mom = "Nesterov " + mom
	}
	parts = append(parts, mom, fmt.Sprintf("weight decay %g (%s)", r.WeightDecay, decay))
	if r.LabelSmoothing > 0 {
		parts = append(parts, fmt.Sprintf("label smoothing %g", r.LabelSmoothing))
	}
	if r.Augment && r.AlternateFlips {
		parts = append(parts, "augment (alternating flips)")
	} else if r.Augment {
		parts = append(parts, "augment")
	} else {
		parts = append(parts, "no augment")
	}
	opt := func(on bool, format string, v any) {
		if on {
			parts = append(parts, fmt.Sprintf(format, v))
		}
	}
	opt(r.Cutout > 0, "cutout %d", r.Cutout)
	opt(r.BudgetAugment, "%s", fmt.Sprintf("Cutout %d and alternating flips if the plan is under %d epochs", ShortCutout, minSWAPlan))
	opt(r.TrivialAugment, "%s", "TrivialAugment")
	opt(r.RandomErasing > 0, "random erasing %g", r.RandomErasing)
	opt(r.MixUp > 0, "mixup %g", r.MixUp)
	opt(r.CutMix > 0, "cutmix %g", r.CutMix)
	opt(r.EMA > 0, "EMA %g", r.EMA)
	if c := r.Canonical(); c.LowRes > 0 {
		parts = append(parts, fmt.Sprintf("the first %g of the epochs at %d×%d (%s)", c.LowResFraction, c.LowRes, c.LowRes, c.LowResMode))
	}
	switch {
	case r.SWAEpochs > 0 && r.TimeBudget > 0:
		parts = append(parts, fmt.Sprintf("SWA tail of %.0f%% of the epochs at lr %g when the plan reaches %d epochs", 100*float64(r.SWAEpochs)/float64(r.TotalEpochs()), r.SWARate(), minSWAPlan))
	case r.SWAEpochs > 0:
		parts = append(parts, fmt.Sprintf("SWA %s at lr %g", count(r.SWAEpochs, "epoch"), r.SWARate()))
	}
	init := r.Init // as given when it does not parse ("" is he: WeightInit)
	if wi, err := r.WeightInit(); err == nil {
		init = wi.String()
	}
	parts = append(parts, "init "+init)
	opt(r.InitFrom != "", "from %s", r.InitFrom)
	opt(r.Freeze != "" && r.Freeze != FreezeNone, "freeze %s", r.Freeze)
	parts = append(parts, fmt.Sprintf("seed %d", r.Seed))
	return strings.Join(parts, ", ")
}

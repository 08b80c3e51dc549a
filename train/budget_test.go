package train

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomobilenet/mobilenet/model"
)

// TestPlanEpochs: the epochs that fit the remaining time, split between the
// schedule and the SWA tail by the recipe's share from 150 epochs on; the
// end of a schedule is never planned before the next epoch, and no longer
// moves once the tail has begun; a plan that fits stands until there is
// room for 1.5 epochs more.
func TestPlanEpochs(t *testing.T) {
	cases := []struct {
		name               string
		remaining, per     float64
		done, epochs, swa  int
		share              float64
		planned            int
		wantMain, wantTail int
	}{
		{"fresh, 45 min at 56 s an epoch", 2700, 56, 0, 200, 0, 0, 0, 48, 0},
		{"fresh, a share but too short for a tail", 2700, 56, 0, 200, 80, 80.0 / 280, 0, 48, 0},
		{"long enough for the tail's share", 280 * 60, 60, 0, 200, 80, 80.0 / 280, 0, 200, 80},
		{"a slower machine plans fewer", 2000, 100, 10, 48, 0, 0, 0, 30, 0},
		{"a faster one more", 3000, 30, 10, 48, 0, 0, 0, 110, 0},
		{"over budget: end now", -5, 60, 12, 48, 0, 0, 0, 12, 0},
		{"nothing done yet, no time: one epoch", 0, 60, 0, 48, 0, 0, 0, 1, 0},
		{"in the tail: only the tail moves", 600, 60, 210, 200, 80, 80.0 / 280, 0, 200, 20},
		{"in the tail, over budget: end now", -1, 60, 210, 200, 80, 80.0 / 280, 0, 200, 10},
		// The plan of 45 epochs stands while it fits and the time left
		// holds fewer than 1.5 epochs more than it needs.
		{"a plan that fits stands", 36.2 * 59.9, 59.9, 9, 45, 0, 0, 45, 45, 0},
		{"not room enough to grow", 37.4 * 59.9, 59.9, 9, 45, 0, 0, 45, 45, 0},
		{"room to grow", 37.6 * 59.9, 59.9, 9, 45, 0, 0, 45, 46, 0},
		{"a plan that no longer fits shrinks", 35.9 * 59.9, 59.9, 9, 45, 0, 0, 45, 44, 0},
		{"grows by what fits", 40.2 * 59.9, 59.9, 9, 45, 0, 0, 45, 49, 0},
		// Session 46's first 45-minute run ended its 42-epoch schedule with
		// 63 s left at 62.7 s an epoch, and planned a 43rd (the rate rose
		// again): once the schedule has ended, the run ends.
		{"the schedule has ended", 63, 62.7, 42, 42, 0, 0, 42, 42, 0},
		{"… even with epochs to spare", 300, 62.7, 42, 42, 0, 0, 42, 42, 0},
	}
	for _, c := range cases {
		main, tail := planEpochs(c.remaining, epochCost{full: c.per, low: c.per}, c.done, c.epochs, c.swa, c.share, c.planned)
		if main != c.wantMain || tail != c.wantTail {
			t.Errorf("%s: %d + %d epochs, want %d + %d", c.name, main, tail, c.wantMain, c.wantTail)
		}
	}
}

// TestPlanEpochsLowRes: with low-resolution epochs (Recipe.LowRes) a plan
// counts each epoch at its own cost, the low ones being a share of the
// schedule it plans: 45 minutes at 56 s a full epoch and 32 s a low one,
// half of them low, fit 61 (31 low: 992 + 30·56 = 2,672 s; 62 would need
// 2,728), where 48 fit at 56 s alone; the same after 20 low epochs, and
// with a tail from 150 epochs on, whose epochs are full ones.
func TestPlanEpochsLowRes(t *testing.T) {
	half := func(main int) int { return int(math.Round(0.5 * float64(main))) }
	cases := []struct {
		name               string
		remaining          float64
		cost               epochCost
		done, epochs, swa  int
		share              float64
		planned            int
		wantMain, wantTail int
	}{
		{"fresh", 2700, epochCost{full: 56, low: 32, lowUntil: half}, 0, 200, 0, 0, 0, 61, 0},
		{"after 20 low epochs", 2700 - 20*32, epochCost{full: 56, low: 32, lowUntil: half}, 20, 61, 0, 0, 61, 61, 0},
		{"after the switch: full epochs only", 2700 - 31*32 - 10*56, epochCost{full: 56, low: 32}, 41, 61, 0, 0, 61, 61, 0},
		{"no low epochs", 2700, epochCost{full: 56, low: 32}, 0, 200, 0, 0, 0, 48, 0},
		// 200 + 80 epochs at 60 s (full) and 40 s (low, half of the 200):
		// 100·40 + 180·60 = 14,800 s.
		{"with a tail", 14800, epochCost{full: 60, low: 40, lowUntil: half}, 0, 200, 80, 80.0 / 280, 0, 200, 80},
	}
	for _, c := range cases {
		main, tail := planEpochs(c.remaining, c.cost, c.done, c.epochs, c.swa, c.share, c.planned)
		if main != c.wantMain || tail != c.wantTail {
			t.Errorf("%s: %d + %d epochs, want %d + %d", c.name, main, tail, c.wantMain, c.wantTail)
		}
	}
}

// TestCalibrateLeavesNoTrace: timing the full resolution before the first
// plan of a run at its low resolution leaves every variable and BatchNorm
// statistic as it was, and the gradients clear.
func TestCalibrateLeavesNoTrace(t *testing.T) {
	o := lowResOptions(t, t.TempDir(), "")
	rn, err := openRun(o)
	if err != nil {
		t.Fatal(err)
	}
	defer rn.close()
	before := rn.store().Tensors()
	sec, err := rn.calibrate(2)
	if err != nil || !(sec > 0) {
		t.Fatalf("calibrate: %v s, %v", sec, err)
	}
	after := rn.store().Tensors()
	for i := range before {
		if !slices.Equal(before[i].Data, after[i].Data) {
			t.Errorf("%s changed", before[i].Info.Name)
		}
	}
	for i, g := range rn.tr.grads {
		if g == nil {
			continue
		}
		for _, v := range g.Data().([]float32) {
			if v != 0 {
				t.Fatalf("gradient %d not cleared", i)
			}
		}
	}
	if _, err := rn.calibrate(100); err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("more steps than an epoch has: %v", err)
	}
	for i, x := range rn.store().Tensors() { // put back after an error too
		if !slices.Equal(before[i].Data, x.Data) {
			t.Errorf("after the error: %s changed", x.Info.Name)
		}
	}
}

// TestTimeBudgetLowRes: a budgeted run with low-resolution epochs plans
// them (their count and cost in the plan, in its checkpoint and log) and
// switches to the full resolution after them.
func TestTimeBudgetLowRes(t *testing.T) {
	out := t.TempDir()
	o := lowResOptions(t, out, "")
	o.Recipe.Epochs, o.Recipe.TimeBudget = 1000, time.Minute
	var log bytes.Buffer
	o.Log, o.StopAfter = &log, 2
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	h, _, err := ReadCheckpoint(out + "/last.bin")
	if err != nil {
		t.Fatal(err)
	}
	p := h.Plan
	if p == nil || p.LowResEpochs != int(math.Round(0.5*float64(h.Recipe.Epochs))) || p.LowResEpochs < 3 || !(p.LowResEpochSeconds > 0 && p.EpochSeconds > 0) {
		t.Fatalf("after 2 epochs: plan %+v, recipe epochs %d", p, h.Recipe.Epochs)
	}
	if h.FullResFrom != 0 || !strings.Contains(log.String(), "at the low resolution at") {
		t.Errorf("after 2 epochs: switched at %d; log:\n%s", h.FullResFrom, log.String())
	}
}

// TestTimeBudget: a budgeted run plans its epochs (recorded in its
// checkpoints, run.json and the log), ends its schedule (the last
// epoch's rate near 0 of the cosine) and does not take much longer than
// its budget; resumed, it continues the plan with the time already spent.
func TestTimeBudget(t *testing.T) {
	out := t.TempDir()
	r := DefaultRecipe()
	r.BatchSize, r.EvalBatch, r.SWAEpochs, r.Epochs = 10, 50, 0, 1000
	r.TimeBudget = 3 * time.Second
	cfg := model.CIFAR10(0.25)
	cfg.Resolution = 16
	o := Options{Recipe: r, Config: cfg, OutDir: out, Train: learnable(300, 1), Test: learnable(50, 2), StopAfter: 2}
	start := time.Now()
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := ReadCheckpoint(out + "/last.bin")
	if err != nil {
		t.Fatal(err)
	}
	if h.Plan == nil || h.Plan.Plans < 2 || h.Recipe.Epochs >= 1000 || h.Recipe.Epochs < 2 || h.Elapsed <= 0 {
		t.Fatalf("after 2 epochs: plan %+v, recipe epochs %d, elapsed %g", h.Plan, h.Recipe.Epochs, h.Elapsed)
	}
	rec, err := ReadRunRecord(out)
	if err != nil || rec.Plan == nil || rec.Recipe.Epochs != h.Recipe.Epochs {
		t.Fatalf("run.json: %+v, %v (the checkpoint's plan: %d epochs)", rec, err, h.Recipe.Epochs)
	}
	o.StopAfter, o.Resume = 0, out+"/last.bin"
	if res, err = Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	h, _, err = ReadCheckpoint(out + "/last.bin")
	if err != nil {
		t.Fatal(err)
	}
	if res.Epochs != h.Recipe.Epochs || res.Epochs != h.Plan.Epochs {
		t.Fatalf("ended after %d epochs; the plan says %d (recipe %d)", res.Epochs, h.Plan.Epochs, h.Recipe.Epochs)
	}
	// The budget is planned, not enforced to the millisecond: one epoch's
	// worth over it at most (and the set-up, which the plan counts only
	// from the first step).
	if over := took - r.TimeBudget; over > 3*time.Second && over.Seconds() > 2*h.Plan.EpochSeconds {
		t.Errorf("took %v for a budget of %v", took, r.TimeBudget)
	}
	b, err := os.ReadFile(out + "/metrics.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var last EpochRecord
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	if last.LR > 0.05*r.LR { // the cosine's last steps, planned to the end
		t.Errorf("the last epoch ended at rate %g of the peak %g: the schedule was cut short", last.LR, r.LR)
	}
	t.Logf("%d epochs in %v (plan %+v), last rate %.2g", res.Epochs, took, *h.Plan, last.LR)
}

// TestTimeBudgetCountsSetUp: the wall time before Run (Options.Started:
// cmd/train's loading of the data) counts against the budget.
func TestTimeBudgetCountsSetUp(t *testing.T) {
	out := t.TempDir()
	r := DefaultRecipe()
	r.BatchSize, r.EvalBatch, r.SWAEpochs, r.Epochs = 10, 50, 0, 1000
	r.TimeBudget = time.Minute
	cfg := model.CIFAR10(0.25)
	cfg.Resolution = 16
	const setUp = 40 * time.Second
	o := Options{Recipe: r, Config: cfg, OutDir: out, Train: learnable(100, 1), Test: learnable(20, 2), StopAfter: 1, Started: time.Now().Add(-setUp)}
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	h, _, err := ReadCheckpoint(out + "/last.bin")
	if err != nil {
		t.Fatal(err)
	}
	if h.Elapsed < setUp.Seconds() || h.Plan == nil || h.Plan.Elapsed < setUp.Seconds() {
		t.Fatalf("elapsed %.1f s, plan %+v: the %v before Run not counted", h.Elapsed, h.Plan, setUp)
	}
	// 20 s left: the plan fits them, not the minute.
	if left := float64(h.Plan.Epochs) * h.Plan.EpochSeconds; left > (r.TimeBudget-setUp).Seconds()+2*h.Plan.EpochSeconds {
		t.Errorf("planned %d epochs of %.2g s for the 20 s left", h.Plan.Epochs, h.Plan.EpochSeconds)
	}
}

// cancelOn cancels a context when a line written to it contains a string.
type cancelOn struct {
	s      string
	cancel context.CancelFunc
}

func (c cancelOn) Write(p []byte) (int, error) {
	if strings.Contains(string(p), c.s) {
		c.cancel()
	}
	return len(p), nil
}

// planAugmentOptions is a small run (alpha 0.25 at 16×16, 30 batches an
// epoch) with a time budget whose plan chooses the augmentation.
func planAugmentOptions(t *testing.T, budget time.Duration) Options {
	r := DefaultRecipe()
	r.BatchSize, r.EvalBatch, r.SWAEpochs, r.Epochs = 10, 50, 0, 1000
	r.TimeBudget, r.BudgetAugment = budget, true
	cfg := model.CIFAR10(0.25)
	cfg.Resolution = 16
	return Options{Recipe: r, Config: cfg, OutDir: t.TempDir(), Train: learnable(300, 1), Test: learnable(50, 2)}
}

// TestTimeBudgetAugment: a budgeted run whose plan chooses the augmentation
// (Recipe.BudgetAugment) and plans under minSWAPlan epochs trains with the
// short recipe's Cutout and alternating flips from the epoch after its
// first plan's (recorded in the checkpoint's recipe and plan). Interrupted
// in that first epoch, it resumes with DefaultRecipe's augmentation for the
// rest of it and the short recipe's after; finished, its record says so.
func TestTimeBudgetAugment(t *testing.T) {
	o := planAugmentOptions(t, 4*time.Second)
	out := o.OutDir
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.Log = cancelOn{"alternating flips from epoch", cancel}
	res, err := Run(ctx, o)
	if err != nil || !res.Interrupted {
		t.Fatalf("interrupted after the first plan: %+v, %v", res, err)
	}
	h, _, err := ReadCheckpoint(out + "/last.bin")
	if err != nil {
		t.Fatal(err)
	}
	if h.Epoch != 0 || h.Batch == 0 || h.Plan == nil || h.Plan.AugmentFrom != 2 || h.Recipe.Cutout != ShortCutout || !h.Recipe.AlternateFlips {
		t.Fatalf("interrupted in epoch 1 after the first plan: epoch %d batch %d, plan %+v, cutout %d, alternating flips %v", h.Epoch, h.Batch, h.Plan, h.Recipe.Cutout, h.Recipe.AlternateFlips)
	}

	o.Log, o.Resume = nil, out+"/last.bin"
	rn, err := openRun(o)
	if err != nil {
		t.Fatal(err)
	}
	first, next := rn.epochLoader(0).Config(), rn.epochLoader(1).Config()
	rn.close()
	if first.Cutout != DefaultRecipe().Cutout || first.AlternateFlips || next.Cutout != ShortCutout || !next.AlternateFlips {
		t.Fatalf("resumed: epoch 1 with Cutout %d (alternating flips %v), epoch 2 with %d (%v); want %d (false) then %d (true)",
			first.Cutout, first.AlternateFlips, next.Cutout, next.AlternateFlips, DefaultRecipe().Cutout, ShortCutout)
	}
	if res, err = Run(context.Background(), o); err != nil || res.Interrupted {
		t.Fatalf("resumed to the end: %+v, %v", res, err)
	}
	rec, err := ReadRunRecord(out)
	if err != nil || rec.Plan == nil || rec.Plan.AugmentFrom != 2 || rec.Recipe.Cutout != ShortCutout || !rec.Recipe.AlternateFlips || rec.Recipe.Epochs >= minSWAPlan {
		t.Fatalf("run.json: %+v, %v", rec, err)
	}
}

// TestTimeBudgetAugmentLong: a plan of minSWAPlan epochs or more keeps
// DefaultRecipe's Cutout and random flips.
func TestTimeBudgetAugmentLong(t *testing.T) {
	o := planAugmentOptions(t, 10*time.Hour)
	out := o.OutDir
	var log strings.Builder
	o.StopAfter, o.Log = 1, &log
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	h, _, err := ReadCheckpoint(out + "/last.bin")
	if err != nil {
		t.Fatal(err)
	}
	if h.Plan == nil || h.Plan.Epochs < minSWAPlan || h.Plan.AugmentFrom != 0 || h.Recipe.Cutout != DefaultRecipe().Cutout || h.Recipe.AlternateFlips || !strings.Contains(log.String(), "keeps Cutout 16 and random flips") {
		t.Fatalf("plan %+v, cutout %d, alternating flips %v; log:\n%s", h.Plan, h.Recipe.Cutout, h.Recipe.AlternateFlips, log.String())
	}
}

// TestTimeBudgetResumedMidEpoch: a run resumed in the middle of an epoch
// counts the rest of that epoch as the fraction of an epoch it is, or, under
// half an epoch, not at all (its last plan's cost of an epoch stands); it
// does not take the rest for a whole epoch and plan more epochs than fit.
func TestTimeBudgetResumedMidEpoch(t *testing.T) {
	for _, c := range []struct {
		name   string
		images int // at 10 a batch; interrupted after the first plan, about step 23
	}{
		{"under half an epoch left", 300},
		{"over half an epoch left", 600},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := planAugmentOptions(t, 10*time.Hour)
			o.Recipe.BudgetAugment = false
			o.Train = learnable(c.images, 1)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			o.Log = cancelOn{"s an epoch (evaluation and checkpoints included)", cancel}
			if res, err := Run(ctx, o); err != nil || !res.Interrupted {
				t.Fatalf("interrupted after the first plan: %+v, %v", res, err)
			}
			o.Log, o.Resume = nil, o.OutDir+"/last.bin"
			rn, err := openRun(o)
			if err != nil {
				t.Fatal(err)
			}
			defer rn.close()
			before := rn.budget.plan.EpochSeconds
			nb := rn.loader.NumBatches()
			frac := float64(nb-rn.hdr.Batch) / float64(nb)
			if rn.hdr.Epoch != 0 || rn.hdr.Batch == 0 || before <= 0 {
				t.Fatalf("resumed at epoch %d, batch %d, with a plan of %g s an epoch", rn.hdr.Epoch, rn.hdr.Batch, before)
			}
			// The rest of the epoch took as long as that fraction of
			// an epoch of three times the last plan's cost.
			rn.budget.last = time.Now().Add(-time.Duration(3 * before * frac * float64(time.Second)))
			if err := rn.afterEpoch(0); err != nil {
				t.Fatal(err)
			}
			got := rn.budget.plan.EpochSeconds
			want := 3 * before
			if frac < 0.5 {
				want = before
			}
			if math.Abs(got-want) > 0.02*want {
				t.Errorf("resumed at batch %d of %d: planned at %.4g s an epoch after the rest of it, want %.4g (the last plan's %.4g)", rn.hdr.Batch, nb, got, want, before)
			}
		})
	}
}

package train

import (
	"fmt"
	"math"
	"time"

	"github.com/gomobilenet/mobilenet/data"
)

// Time budgets (Recipe.TimeBudget): the run plans its length so that its
// schedule ends within the budget, rather than being cut off mid-schedule
// with its learning rate still high (Li, Yumer & Ramanan, "Budgeted
// training", ICLR 2020: a schedule planned to reach zero at the budget
// beats a truncated one at every budget).
//
// The first plan is made after the first steps (planSteps, inside the
// warm-up, whose rates do not depend on the plan), from their speed and an
// estimate of evaluation's share; after every epoch the run plans again
// from the measured wall time of its epochs, evaluations and checkpoints
// included, so that a machine that slows down or speeds up moves the end
// of the schedule with it. The plan is in every checkpoint (Header.Plan,
// Recipe.Epochs and SWAEpochs), so a resumed run continues it, counting the
// wall time already spent (Header.Elapsed).

// BudgetPlan is what a budgeted run planned last.
type BudgetPlan struct {
	Budget       string  `json:"budget"`        // Recipe.TimeBudget, e.g. "1h30m0s"
	Epochs       int     `json:"epochs"`        // of the schedule
	SWAEpochs    int     `json:"swa_epochs"`    // of the tail (0: none)
	EpochSeconds float64 `json:"epoch_seconds"` // measured wall time of an epoch, evaluations and checkpoints included
	Elapsed      float64 `json:"elapsed_s"`     // wall time spent when it was made
	Plans        int     `json:"plans"`         // how many times the run has planned
	// AugmentFrom > 0 is the epoch (from 1) from which the recipe's
	// Cutout and AlternateFlips, chosen by the first plan
	// (Recipe.BudgetAugment), apply; the epochs before it trained with
	// DefaultRecipe's Cutout and random flips.
	AugmentFrom int `json:"augment_from,omitempty"`
}

// String is the plan on one line, as the log gives it.
func (p BudgetPlan) String() string {
	tail := ""
	if p.SWAEpochs > 0 {
		tail = fmt.Sprintf(" + %d SWA", p.SWAEpochs)
	}
	return fmt.Sprintf("time budget %s: %d epochs%s at %.3g s an epoch (evaluation and checkpoints included), %.0f s spent", p.Budget, p.Epochs, tail, p.EpochSeconds, p.Elapsed)
}

// augmentLine is the log line of the first plan's choice of augmentation.
func (p BudgetPlan) augmentLine() string {
	if p.AugmentFrom == 0 {
		return fmt.Sprintf("time budget %s: a plan of %d epochs or more keeps Cutout %d and random flips", p.Budget, minSWAPlan, DefaultRecipe().Cutout)
	}
	return fmt.Sprintf("time budget %s: the short recipe's Cutout %d and alternating flips from epoch %d (a plan under %d epochs)", p.Budget, ShortCutout, p.AugmentFrom, minSWAPlan)
}

// planSteps is how many steps the first plan measures.
const planSteps = 20

// minSWAPlan is the shortest run (epochs, schedule and tail) that keeps an
// SWA tail: the tail was measured on runs of 220–280 epochs
// (results/EXPERIMENTS.md), not on short ones.
const minSWAPlan = 150

// ShortCutout is the short recipe's Cutout, which a budgeted run plans
// for fewer than minSWAPlan epochs (Recipe.BudgetAugment) trains with,
// beside alternating flips: measured at 14–48 epochs, where DefaultRecipe's
// 16 and random flips were measured at 100–280 (results/EXPERIMENTS.md).
const ShortCutout = 12

// planEpochs divides the epochs that fit the remaining time among the
// schedule and the tail: done epochs complete, per seconds an epoch, the
// recipe's share of the tail (tailShare, 0: none), planned the epochs
// (schedule and tail) of the current plan (0 before the first). It never
// plans fewer epochs than one more than done (the schedule must end),
// never moves the end of the schedule once the tail has begun (only the
// tail's length), and keeps a tail only for runs of minSWAPlan epochs or
// more.
//
// A plan that still fits stands until the time left holds growMargin
// epochs more than it needs: a speed measured on the boundary between two
// epoch counts would otherwise move the schedule's end back and forth
// from one epoch to the next.
func planEpochs(remaining, per float64, done, epochs, swa int, tailShare float64, planned int) (int, int) {
	fit := 0.0 // epochs that fit in the time left
	if per > 0 && remaining > 0 {
		fit = remaining / per
	}
	left := int(math.Floor(fit))
	if need := float64(planned - done); planned > done && need <= fit && fit < need+growMargin {
		left = planned - done // the plan fits, and there is not room enough to grow
	}
	if planned > 0 && done >= planned {
		left = 0 // the schedule has ended: another epoch would raise the rate again
	}
	total := done + left
	if done == 0 {
		total = max(total, 1) // a run trains at least an epoch
	}
	if swa > 0 && done >= epochs { // in the tail: only its length moves
		return epochs, max(total-epochs, done-epochs)
	}
	if left == 0 && done > 0 { // no whole epoch fits: end here
		return done, 0
	}
	tail := 0
	if tailShare > 0 && total >= minSWAPlan {
		tail = int(math.Round(float64(total) * tailShare))
	}
	main := max(total-tail, done+1)
	return main, total - main
}

// growMargin is the time left, in epochs beyond what the current plan
// needs, at which a plan grows by one or more epochs.
const growMargin = 1.5

// budget is a run's planner.
type budget struct {
	limit     time.Duration
	before    time.Duration // wall time of the run's earlier starts
	start     time.Time     // this start's training began (the epochs' measure)
	origin    time.Time     // this start began (its wall time's)
	tailShare float64
	plan      BudgetPlan
	firstStep int // the step the first measurement starts at
	measured  time.Time
	epochs    int // epochs completed in this start
}

// newBudget prepares the planner of a run whose recipe has a time budget
// (nil without one).
func (rn *run) newBudget() *budget {
	r := rn.r
	if r.TimeBudget <= 0 {
		return nil
	}
	b := &budget{limit: r.TimeBudget, before: time.Duration(rn.hdr.Elapsed * float64(time.Second)), start: time.Now(), origin: rn.o.Started, firstStep: rn.hdr.Step}
	if b.origin.IsZero() || b.origin.After(b.start) {
		b.origin = b.start
	}
	if r.SWAEpochs > 0 {
		b.tailShare = float64(r.SWAEpochs) / float64(r.TotalEpochs())
	}
	if rn.hdr.Plan != nil {
		b.plan = *rn.hdr.Plan
	}
	return b
}

// elapsed is the run's wall time so far: its earlier starts', and this
// one's since it began (Options.Started: its set-up included).
func (b *budget) elapsed() time.Duration { return b.before + time.Since(b.origin) }

// afterStep makes the first plan once planSteps steps have been timed
// (and nothing when the run already has one).
func (rn *run) afterStep() error {
	b := rn.budget
	if b == nil || b.plan.Plans > 0 {
		return nil
	}
	if rn.hdr.Step == b.firstStep+2 { // the first steps build and warm the machine
		b.measured = time.Now()
	}
	if rn.hdr.Step != b.firstStep+2+planSteps {
		return nil
	}
	perStep := time.Since(b.measured).Seconds() / planSteps
	// Evaluation and checkpoints, until measured: the test set at about
	// three times the training speed (inference alone), every EvalEvery.
	perEpoch := perStep * float64(rn.loader.NumBatches())
	perEpoch += perStep / float64(rn.r.BatchSize) * float64(rn.o.Test.Len()) / 3 / float64(max(rn.r.EvalEvery, 1))
	return rn.replan(perEpoch)
}

// afterEpoch plans again from the wall time of this start's epochs (since
// its training began: the epochs, their evaluations, and the checkpoints
// of all but this one).
func (rn *run) afterEpoch() error {
	b := rn.budget
	if b == nil {
		return nil
	}
	b.epochs++
	return rn.replan(time.Since(b.start).Seconds() / float64(b.epochs))
}

// replan fits the run into the budget at per seconds an epoch: the
// recipe's Epochs and SWAEpochs, the schedule's length, and the plan the
// checkpoints record.
//
// The ranks of a data-parallel run plan from the mean of their measures, so
// that they plan alike.
func (rn *run) replan(per float64) error {
	b := rn.budget
	el := b.elapsed().Seconds()
	if n := rn.comm.Size(); n > 1 {
		v := []float64{per, el}
		if err := rn.comm.AllreduceSum64(v); err != nil {
			return fmt.Errorf("train: time budget: %w", err)
		}
		per, el = v[0]/float64(n), v[1]/float64(n)
	}
	planned := 0
	if b.plan.Plans > 0 {
		planned = rn.r.Epochs + rn.r.SWAEpochs
	}
	main, tail := planEpochs(b.limit.Seconds()-el, per, rn.hdr.Epoch, rn.r.Epochs, rn.r.SWAEpochs, b.tailShare, planned)
	first := b.plan.Plans == 0
	changed := main != rn.r.Epochs || tail != rn.r.SWAEpochs || first
	rn.r.Epochs, rn.r.SWAEpochs = main, tail
	rn.hdr.Recipe.Epochs, rn.hdr.Recipe.SWAEpochs = main, tail
	rn.sched.Total = main * rn.loader.NumBatches()
	from := b.plan.AugmentFrom
	if first && rn.r.BudgetAugment && main+tail < minSWAPlan {
		from = rn.hdr.Epoch + 2 // the epoch after this one
		if err := rn.shortAugment(); err != nil {
			return err
		}
	}
	b.plan = BudgetPlan{Budget: b.limit.String(), Epochs: main, SWAEpochs: tail, EpochSeconds: per, Elapsed: el, Plans: b.plan.Plans + 1, AugmentFrom: from}
	rn.hdr.Plan = &b.plan
	if !changed {
		return nil
	}
	fmt.Fprintf(rn.logw, "%s\n", b.plan)
	if first && rn.r.BudgetAugment {
		fmt.Fprintf(rn.logw, "%s\n", b.plan.augmentLine())
	}
	if !rn.primary() {
		return nil
	}
	rec, err := ReadRunRecord(rn.o.OutDir)
	if err != nil {
		return fmt.Errorf("train: time budget: %w", err)
	}
	rec.Recipe, rec.Plan = rn.r, rn.hdr.Plan
	return writeRunFile(rn.o.OutDir, rec)
}

// shortAugment switches the run to the short recipe's augmentation from
// the next epoch on: the current epoch's batches keep coming from the
// loader it started with (run.early).
func (rn *run) shortAugment() error {
	lc := rn.loader.Config()
	lc.Cutout, lc.AlternateFlips = ShortCutout, true
	l, err := data.NewLoader(rn.o.Train, lc)
	if err != nil {
		return fmt.Errorf("train: time budget: %w", err)
	}
	rn.early, rn.loader = rn.loader, l
	rn.r.Cutout, rn.r.AlternateFlips = ShortCutout, true
	rn.hdr.Recipe.Cutout, rn.hdr.Recipe.AlternateFlips = ShortCutout, true
	return nil
}

// epochLoader is the loader of epoch (from 0): run.early before the plan's
// augmentation applies.
func (rn *run) epochLoader(epoch int) *data.Loader {
	if rn.early != nil && rn.hdr.Plan != nil && epoch+1 < rn.hdr.Plan.AugmentFrom {
		return rn.early
	}
	return rn.loader
}

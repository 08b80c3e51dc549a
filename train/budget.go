package train

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/layers"
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
	// LowResEpochs of the schedule train at Recipe.LowRes, at
	// LowResEpochSeconds an epoch (the plans made before the switch to
	// the configuration's resolution: 0 after it).
	LowResEpochs       int     `json:"low_res_epochs,omitempty"`
	LowResEpochSeconds float64 `json:"low_res_epoch_seconds,omitempty"`
}

// String is the plan on one line, as the log gives it.
func (p BudgetPlan) String() string {
	tail := ""
	if p.SWAEpochs > 0 {
		tail = fmt.Sprintf(" + %d SWA", p.SWAEpochs)
	}
	low := ""
	if p.LowResEpochs > 0 {
		low = fmt.Sprintf(", the first %d at the low resolution at %.3g s", p.LowResEpochs, p.LowResEpochSeconds)
	}
	return fmt.Sprintf("time budget %s: %d epochs%s at %.3g s an epoch%s (evaluation and checkpoints included), %.0f s spent", p.Budget, p.Epochs, tail, p.EpochSeconds, low, p.Elapsed)
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

// epochCost is what the epochs of a plan cost: the seconds of an epoch at
// the configuration's resolution (full) and at the low resolution (low),
// and lowUntil, the epochs (from 0) below which a plan of main schedule
// epochs trains at the low resolution (nil: none; Recipe.LowRes).
type epochCost struct {
	full, low float64
	lowUntil  func(main int) int
}

// need is the wall time of the epochs from done to total of a plan whose
// schedule has main epochs.
func (c epochCost) need(done, main, total int) float64 {
	low := 0
	if c.lowUntil != nil {
		low = max(0, min(c.lowUntil(main), total)-done)
	}
	return float64(low)*c.low + float64(total-done-low)*c.full
}

// planEpochs divides the epochs that fit the remaining time among the
// schedule and the tail: done epochs complete, their costs c, the
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
func planEpochs(remaining float64, c epochCost, done, epochs, swa int, tailShare float64, planned int) (int, int) {
	inTail := swa > 0 && done >= epochs
	split := func(total int) (int, int) { // the schedule's epochs and the tail's
		if inTail { // only the tail's length moves
			return epochs, max(total-epochs, done-epochs)
		}
		tail := 0
		if tailShare > 0 && total >= minSWAPlan {
			tail = int(math.Round(float64(total) * tailShare))
		}
		main := max(total-tail, done+1)
		return main, total - main
	}
	need := func(total int) float64 {
		main, tail := split(total)
		return c.need(done, main, main+tail)
	}
	left := 0 // whole epochs that fit in the time left
	if c.full > 0 && remaining > 0 {
		for left < maxPlan && need(done+left+1) <= remaining {
			left++
		}
	}
	if planned > done {
		if n := need(planned); n <= remaining && remaining < n+growMargin*c.full {
			left = planned - done // the plan fits, and there is not room enough to grow
		}
	}
	if planned > 0 && done >= planned {
		left = 0 // the schedule has ended: another epoch would raise the rate again
	}
	total := done + left
	if done == 0 {
		total = max(total, 1) // a run trains at least an epoch
	}
	if left == 0 && done > 0 && !inTail { // no whole epoch fits: end here
		return done, 0
	}
	return split(total)
}

// maxPlan bounds the epochs a plan adds (a budget of years at a
// millisecond an epoch).
const maxPlan = 1 << 20

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
	last      time.Time  // the end of this start's last epoch (start before the first)
	low, full epochTimes // this start's epochs at the low resolution (Recipe.LowRes) and at the configuration's
	resumedAt int        // the batches of its first epoch a resumed run had trained before this start (Header.Batch)
	first     float64    // the first plan's estimate of an epoch at the resolution it measured
	firstFull float64    // and at the full resolution, when that was the low one (calibrate)
}

// epochTimes are the wall times of some epochs, n of them (a fraction for
// the rest of an epoch that a resumed run began before it stopped).
type epochTimes struct {
	sum float64
	n   float64
}

func (e *epochTimes) add(d time.Duration, frac float64) { e.sum += d.Seconds(); e.n += frac }

func (e epochTimes) mean() float64 { return e.sum / e.n }

// newBudget prepares the planner of a run whose recipe has a time budget
// (nil without one).
func (rn *run) newBudget() *budget {
	r := rn.r
	if r.TimeBudget <= 0 {
		return nil
	}
	b := &budget{limit: r.TimeBudget, before: time.Duration(rn.hdr.Elapsed * float64(time.Second)), start: time.Now(), origin: rn.o.Started, firstStep: rn.hdr.Step, resumedAt: rn.hdr.Batch}
	b.last = b.start
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
	b.first = rn.epochSeconds(perStep)
	if rn.lowResAt(rn.hdr.Epoch) { // time the full resolution too
		full, err := rn.calibrate(calibrateSteps)
		if err != nil {
			return fmt.Errorf("train: time budget: %w", err)
		}
		b.firstFull = rn.epochSeconds(full)
	}
	return rn.replan()
}

// epochSeconds is the first plan's estimate of an epoch from the seconds
// of a training step: the steps, and evaluation and checkpoints until
// they are measured (the test set at about three times the training
// speed, inference alone, every EvalEvery).
func (rn *run) epochSeconds(perStep float64) float64 {
	e := perStep * float64(rn.loader.NumBatches())
	return e + perStep/float64(rn.r.BatchSize)*float64(rn.o.Test.Len())/3/float64(max(rn.r.EvalEvery, 1))
}

// calibrateSteps is how many full-resolution steps the first plan of a run
// that begins at its low resolution times (after one to warm the graph).
const calibrateSteps = 4

// calibrate times the full-resolution trainer's forward and backward
// passes on steps batches of the current epoch (the optimizer's update, a
// percent of a step, left out) and puts back what they changed (the
// BatchNorm statistics; the gradients are cleared): the seconds of a
// full-resolution step, which the first plan of a run that begins at its
// low resolution needs before any such epoch has run. The run's own
// batches and random draws are not touched.
func (rn *run) calibrate(steps int) (sec float64, err error) {
	saved := rn.store().Tensors()
	defer func() {
		if _, rerr := rn.store().Restore(saved, layers.LoadOptions{}); rerr != nil && err == nil {
			err = fmt.Errorf("timing the full resolution: %w", rerr)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var start time.Time
	n := 0
	for b := range rn.loader.Epoch(ctx, rn.hdr.Epoch, 0) {
		if b.Err != nil {
			return 0, b.Err
		}
		if n == 1 {
			start = time.Now()
		}
		_, _, err := rn.tr.forwardBackward(b.X, b.Y, b.Y2, b.Lam)
		zeroGrads(rn.tr.grads)
		if err != nil {
			return 0, fmt.Errorf("timing the full resolution: %w", err)
		}
		if n++; n > steps {
			break
		}
	}
	if n <= steps {
		return 0, fmt.Errorf("timing the full resolution: an epoch of %d batches, fewer than %d", n, steps+1)
	}
	return time.Since(start).Seconds() / float64(steps), nil
}

// afterEpoch plans again from the wall time of this start's epochs (since
// its training began: the epochs, their evaluations, and the checkpoints
// of all but this one), epoch (from 0) being the one just completed.
//
// A run resumed in the middle of an epoch has trained only the rest of it
// in this start: that counts as the fraction of an epoch it is, and not
// at all under half an epoch, whose time this start's set-up and first
// steps would weigh too much (the last plan's costs stand until an epoch
// of this start has been measured: costs) — unless the run has no plan
// yet, whose costs would be none.
func (rn *run) afterEpoch(epoch int) error {
	b := rn.budget
	if b == nil {
		return nil
	}
	now := time.Now()
	frac := 1.0
	if b.resumedAt > 0 {
		nb := rn.loader.NumBatches()
		frac = float64(nb-b.resumedAt) / float64(nb)
		b.resumedAt = 0
	}
	if frac >= 0.5 || b.plan.Plans == 0 {
		if rn.lowResAt(epoch) {
			b.low.add(now.Sub(b.last), frac)
		} else {
			b.full.add(now.Sub(b.last), frac)
		}
	}
	b.last = now
	return rn.replan()
}

// costs are the seconds an epoch takes at each resolution, as measured in
// this start: the first plan's estimates until an epoch has completed at
// that resolution (a resumed run: its last plan's, Header.Plan); a resumed
// run still at its low resolution counts the full one's epochs at the low
// one's times the ratio the first plan measured (Header.Plan), or the
// pixels' ratio (an overestimate: the small maps' fixed costs do not
// shrink with them) if it has none.
func (rn *run) costs() epochCost {
	b := rn.budget
	c := epochCost{full: b.first, low: b.first}
	if b.firstFull > 0 {
		c.full = b.firstFull
	}
	if b.first == 0 { // resumed: the plan was made before this start
		c.full, c.low = b.plan.EpochSeconds, b.plan.EpochSeconds
		if b.plan.LowResEpochSeconds > 0 {
			c.low = b.plan.LowResEpochSeconds
		}
	}
	ratio := 1.0 // full over low
	if rn.low != nil {
		full := float64(rn.m.Config.Resolution) / float64(rn.r.LowRes)
		ratio = full * full
		if p := b.plan; p.LowResEpochSeconds > 0 && p.EpochSeconds > 0 {
			ratio = p.EpochSeconds / p.LowResEpochSeconds
		}
		if rn.hdr.FullResFrom == 0 {
			f := rn.r.Canonical().LowResFraction
			c.lowUntil = func(main int) int { return int(math.Round(f * float64(main))) }
		}
	}
	switch {
	case b.full.n > 0:
		c.full = b.full.mean()
		if b.low.n > 0 {
			c.low = b.low.mean()
		}
	case b.low.n > 0:
		c.low = b.low.mean()
		if b.firstFull > 0 {
			c.full = b.firstFull
		} else {
			c.full = c.low * ratio
		}
	}
	return c
}

// replan fits the run into the budget at the measured costs of its epochs: the
// recipe's Epochs and SWAEpochs, the schedule's length, and the plan the
// checkpoints record.
//
// The ranks of a data-parallel run plan from the mean of their measures, so
// that they plan alike.
func (rn *run) replan() error {
	b := rn.budget
	el := b.elapsed().Seconds()
	c := rn.costs()
	if n := rn.comm.Size(); n > 1 {
		v := []float64{c.full, c.low, el}
		if err := rn.comm.AllreduceSum64(v); err != nil {
			return fmt.Errorf("train: time budget: %w", err)
		}
		c.full, c.low, el = v[0]/float64(n), v[1]/float64(n), v[2]/float64(n)
	}
	planned := 0
	if b.plan.Plans > 0 {
		planned = rn.r.Epochs + rn.r.SWAEpochs
	}
	main, tail := planEpochs(b.limit.Seconds()-el, c, rn.hdr.Epoch, rn.r.Epochs, rn.r.SWAEpochs, b.tailShare, planned)
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
	b.plan = BudgetPlan{Budget: b.limit.String(), Epochs: main, SWAEpochs: tail, EpochSeconds: c.full, Elapsed: el, Plans: b.plan.Plans + 1, AugmentFrom: from}
	if c.lowUntil != nil {
		b.plan.LowResEpochs, b.plan.LowResEpochSeconds = rn.r.LowResEpochs(), c.low
	}
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
	short := func(l *data.Loader) (*data.Loader, error) { // l's configuration with the short recipe's augmentation
		lc := l.Config()
		lc.Cutout, lc.AlternateFlips = ShortCutout, true
		s, err := data.NewLoader(rn.o.Train, lc)
		if err != nil {
			return nil, fmt.Errorf("train: time budget: %w", err)
		}
		return s, nil
	}
	l, err := short(rn.loader)
	if err != nil {
		return err
	}
	rn.early, rn.loader = rn.loader, l
	if lo := rn.low; lo != nil {
		if l, err = short(lo.loader); err != nil {
			return err
		}
		lo.early, lo.loader = lo.loader, l
	}
	rn.r.Cutout, rn.r.AlternateFlips = ShortCutout, true
	rn.hdr.Recipe.Cutout, rn.hdr.Recipe.AlternateFlips = ShortCutout, true
	return nil
}

// epochLoader is the loader of epoch (from 0): run.early before the plan's
// augmentation applies.
func (rn *run) epochLoader(epoch int) *data.Loader {
	early := rn.early != nil && rn.hdr.Plan != nil && epoch+1 < rn.hdr.Plan.AugmentFrom
	switch low := rn.lowResAt(epoch); {
	case low && early:
		return rn.low.early
	case low:
		return rn.low.loader
	case early:
		return rn.early
	}
	return rn.loader
}

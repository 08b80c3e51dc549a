package train

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/gomobilenet/mobilenet/internal/progress"
	"github.com/schollz/progressbar/v3"
)

// Run trains until the recipe's last epoch, an interruption (ctx
// cancelled: the current step finishes and last.bin is written) or an error.
//
// An epoch is: its steps (trainEpoch; an EMA follows each), the SWA tail's
// average (updateSWA), the evaluation when due (evaluateEpoch: the raw
// weights and the average, with test-time augmentation), the log line and
// the metrics.jsonl record, and the checkpoints; then the ranks agree on
// whether to go on.
func Run(ctx context.Context, o Options) (*Result, error) {
	rn, err := openRun(o)
	if err != nil {
		return nil, err
	}
	defer rn.close()
	for epoch := rn.hdr.Epoch; epoch < rn.r.TotalEpochs(); epoch++ {
		if o.StopAfter > 0 && epoch >= o.StopAfter {
			rn.res.Interrupted = true
			break
		}
		rn.startEpoch(epoch)
		st, err := rn.trainEpoch(ctx, epoch)
		if err != nil {
			return rn.res, err
		}
		// An interruption after the epoch's last step lets the epoch
		// finish (its evaluation, log line and checkpoints) and stops
		// after it: a resume then starts the next epoch rather than an
		// empty one.
		if st.stopped && rn.hdr.Batch < rn.epochLoader(epoch).NumBatches() {
			return rn.res, rn.interrupted(epoch)
		}
		if err := rn.updateSWA(context.Background(), epoch); err != nil {
			return rn.res, err
		}
		rec := rn.closeEpoch(epoch, st)
		tested, improved := fmt.Sprintf("not evaluated (--eval-every %d)", rn.r.EvalEvery), false
		if evalDue(epoch+1, rn.r.TotalEpochs(), rn.r.EvalEvery) {
			if tested, improved, err = rn.evaluateEpoch(epoch, rec); err != nil {
				return rn.res, err
			}
		}
		if err := rn.appendMetrics(rec); err != nil {
			return rn.res, err
		}
		fmt.Fprintf(rn.logw, "epoch %d/%d: train loss %.4f acc %.4f | %s | %.0fs, %.0f img/s%s\n", rn.hdr.Epoch, rn.r.TotalEpochs(),
			rn.res.LastLoss, rec.TrainAcc, tested, st.seconds, rec.TrainImagesPS, commNote(rec))
		if err := rn.afterEpoch(epoch); err != nil { // a time budget plans again
			return rn.res, err
		}
		if err := rn.save("last.bin"); err != nil {
			return rn.res, err
		}
		if improved {
			if err := rn.save("best.bin"); err != nil {
				return rn.res, err
			}
		}
		if stop, err := rn.agree(st.stopped || ctx.Err() != nil); err != nil || stop {
			rn.res.Interrupted = stop && rn.hdr.Epoch < rn.r.TotalEpochs() // the last epoch is the run's end
			return rn.res, err
		}
	}
	return rn.res, nil
}

// save writes a checkpoint of the run's current state (rank 0; every rank
// calls it, as it first averages the ranks' statistics).
func (rn *run) save(name string) error {
	if rn.budget != nil {
		rn.hdr.Elapsed = rn.budget.elapsed().Seconds()
	}
	if err := rn.syncStats(); err != nil {
		return err
	}
	if !rn.primary() {
		return nil
	}
	avg, _ := rn.average(rn.hdr.Epoch)
	ts, err := snapshot(rn.store(), rn.opt, avg)
	if err != nil {
		return err
	}
	return WriteCheckpoint(filepath.Join(rn.o.OutDir, name), rn.hdr, ts)
}

// epochStats are the training figures of one epoch.
type epochStats struct {
	lossSum       float64
	correct, seen int
	seconds       float64
	stopped       bool // interrupted (in a job: some rank was) after the last step
}

// trainEpoch runs the epoch's remaining steps, stopping early (after a
// whole step) when ctx is cancelled.
func (rn *run) trainEpoch(ctx context.Context, epoch int) (epochStats, error) {
	var st epochStats
	r, hdr := rn.r, &rn.hdr
	start := time.Now()
	var bar *progressbar.ProgressBar
	if rn.progw != nil {
		bar = progress.New(rn.progw, rn.loader.NumBatches(), fmt.Sprintf("epoch %d/%d", epoch+1, r.TotalEpochs()), false)
		bar.Set(hdr.Batch)
		defer bar.Finish()
	}
	lctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := rn.trainerFor(epoch)
	for b := range rn.epochLoader(epoch).Epoch(lctx, epoch, hdr.Batch) {
		if b.Err != nil {
			return st, fmt.Errorf("train: epoch %d: %w", epoch+1, b.Err)
		}
		l, c, stop, err := tr.step(b.X, b.Y, b.Y2, b.Lam, rn.lr(hdr.Step), ctx.Err() != nil)
		if err != nil {
			return st, fmt.Errorf("train: step %d: %w", hdr.Step, err)
		}
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return st, diverged(rn.o.OutDir, fmt.Sprintf("training loss is %v at epoch %d, batch %d (step %d)", l, epoch+1, hdr.Batch+1, hdr.Step))
		}
		if rn.avg != nil {
			rn.avg.update(hdr.Step)
		}
		st.correct += c
		st.seen += r.BatchSize
		st.lossSum += l * float64(r.BatchSize)
		hdr.Step++
		if err := rn.afterStep(); err != nil {
			return st, err
		}
		hdr.Batch++
		if bar != nil {
			el := time.Since(start).Seconds()
			bar.Describe(fmt.Sprintf("epoch %d/%d loss %.3f acc %.3f %.0f img/s", epoch+1, r.TotalEpochs(), st.lossSum/float64(st.seen), float64(st.correct)/float64(st.seen), float64(st.seen)/el))
			bar.Add(1)
		}
		if stop {
			st.stopped = true
			break
		}
	}
	st.seconds = time.Since(start).Seconds()
	return st, nil
}

// interrupted writes last.bin mid-epoch.
func (rn *run) interrupted(epoch int) error {
	rn.res.Interrupted = true
	if err := rn.save("last.bin"); err != nil {
		return err
	}
	fmt.Fprintf(rn.logw, "interrupted at epoch %d, batch %d: wrote %s\n", epoch+1, rn.hdr.Batch, filepath.Join(rn.o.OutDir, "last.bin"))
	return nil
}

// evalDue reports whether the epoch that has just completed (counted from
// 1) is evaluated: every one, or every every-th and the last.
func evalDue(done, epochs, every int) bool {
	return every <= 1 || done%every == 0 || done >= epochs
}

package train

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// evaluateEpoch evaluates the weights after epoch (and the weight average,
// when one is kept, which the checkpoints then stand for), adds the figures
// to the epoch's record, and returns the log line's part for them and
// whether the checkpoint's figure improved on the best.
func (rn *run) evaluateEpoch(epoch int, rec *EpochRecord) (string, bool, error) {
	hdr, res := &rn.hdr, rn.res
	if err := rn.syncStats(); err != nil {
		return "", false, err
	}
	ev, err := rn.testWith(nil, epoch, "")
	if err != nil {
		return "", false, err
	}
	// The figure a checkpoint stands for is the one cmd/eval reproduces
	// from it: the average's when there is one.
	reported := ev
	avg, avgName := rn.average(epoch + 1)
	var evAvg EvalResult
	if avg != nil {
		if evAvg, err = rn.testWith(avg, epoch, "the weight average's "); err != nil {
			return "", false, err
		}
		reported = evAvg
	}
	rn.store().Mode().SetTraining(true)
	hdr.TestAcc, res.LastAcc = reported.Accuracy, reported.Accuracy
	improved := reported.Accuracy > hdr.BestAcc
	if improved {
		hdr.BestAcc, res.BestAcc = reported.Accuracy, reported.Accuracy
	}
	rec.TestLoss, rec.TestAcc, rec.EvalImagesPS = &ev.Loss, &ev.Accuracy, &ev.ImagesPS
	line := fmt.Sprintf("test loss %.4f acc %.4f", ev.Loss, ev.Accuracy)
	if ev.Flip != nil {
		rec.TestAccFlip, rec.TestLossFlip = &ev.Flip.Accuracy, &ev.Flip.Loss
		line += fmt.Sprintf(" | flip TTA %.4f", ev.Flip.Accuracy)
	}
	if ev.FlipTranslate != nil {
		rec.TestAccFlipTranslate, rec.TestLossFlipTranslate = &ev.FlipTranslate.Accuracy, &ev.FlipTranslate.Loss
		line += fmt.Sprintf(" | flip-translate TTA %.4f", ev.FlipTranslate.Accuracy)
	}
	if avg != nil {
		a := &AverageRecord{TestAcc: evAvg.Accuracy, TestLoss: evAvg.Loss}
		line += fmt.Sprintf(" | %s %.4f", strings.ToUpper(avgName), evAvg.Accuracy)
		if evAvg.Flip != nil {
			a.TestAccFlip = &evAvg.Flip.Accuracy
			line += fmt.Sprintf(" (flip %.4f)", evAvg.Flip.Accuracy)
		}
		if evAvg.FlipTranslate != nil {
			a.TestAccFlipTranslate = &evAvg.FlipTranslate.Accuracy
		}
		if avgName == "ema" {
			rec.EMA = a
		} else {
			rec.SWA = a
		}
	}
	return line, improved, nil
}

// testWith evaluates on the test set the current weights, or the weight
// average avg (swapped in for it), refusing a non-finite loss (what names
// the weights in that error).
func (rn *run) testWith(avg *ema, epoch int, what string) (EvalResult, error) {
	if avg != nil {
		avg.swap()
		defer avg.swap()
	}
	ev, err := rn.eval.Run(context.Background(), rn.o.Test, rn.progw)
	if err != nil {
		return ev, err
	}
	if math.IsNaN(ev.Loss) || math.IsInf(ev.Loss, 0) {
		return ev, diverged(rn.o.OutDir, fmt.Sprintf("%stest loss is %v after epoch %d", what, ev.Loss, epoch+1))
	}
	return ev, nil
}

// closeEpoch moves the header and the result past epoch (counted from 0)
// and returns the epoch's training figures as its metrics.jsonl record.
func (rn *run) closeEpoch(epoch int, st epochStats) *EpochRecord {
	hdr, res := &rn.hdr, rn.res
	hdr.Epoch, hdr.Batch = epoch+1, 0
	res.Epochs = hdr.Epoch
	if st.seen > 0 {
		res.LastLoss = st.lossSum / float64(st.seen)
	}
	rec := &EpochRecord{Epoch: hdr.Epoch, Step: hdr.Step, LR: rn.lr(hdr.Step - 1), TrainLoss: res.LastLoss,
		TrainAcc: float64(st.correct) / float64(max(st.seen, 1)), TrainSeconds: st.seconds, TrainImagesPS: float64(st.seen) / st.seconds}
	if inside, waited, steps := rn.trainerFor(epoch).CommTimes(); steps > 0 {
		// Rank 0's: the time in the gradient all-reduces, and the part of
		// it the steps waited for.
		in, w := inside.Seconds(), waited.Seconds()
		rec.AllreduceSeconds, rec.AllreduceWaitSeconds = &in, &w
	}
	return rec
}

// commNote is the epoch line's note of the gradient all-reduces' time (""
// in one process).
func commNote(rec *EpochRecord) string {
	if rec.AllreduceSeconds == nil {
		return ""
	}
	in, wait := *rec.AllreduceSeconds, *rec.AllreduceWaitSeconds
	return fmt.Sprintf(" (all-reduce %.1fs, %.1fs of it waited for, %.0f%% of the epoch)", in, wait, 100*wait/rec.TrainSeconds)
}

// appendMetrics adds an epoch's record to metrics.jsonl (rank 0).
func (rn *run) appendMetrics(rec *EpochRecord) error {
	if !rn.primary() {
		return nil
	}
	return appendJSON(filepath.Join(rn.o.OutDir, "metrics.jsonl"), rec)
}

func appendJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("metrics log: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("metrics log: %w", err)
	}
	return f.Close()
}

// EpochRecord is an epoch's line of metrics.jsonl: the training figures of
// every epoch, the test figures of an evaluated one (absent otherwise), the
// test-time augmentations' and the weight average's when they ran, and the
// all-reduce's time in a data-parallel run.
type EpochRecord struct {
	Epoch         int     `json:"epoch"`
	Step          int     `json:"step"`
	LR            float64 `json:"lr"` // of the epoch's last step
	TrainLoss     float64 `json:"train_loss"`
	TrainAcc      float64 `json:"train_acc"`
	TrainSeconds  float64 `json:"train_seconds"`
	TrainImagesPS float64 `json:"train_images_per_s"`

	TestLoss              *float64 `json:"test_loss,omitempty"`
	TestAcc               *float64 `json:"test_acc,omitempty"`
	EvalImagesPS          *float64 `json:"eval_images_per_s,omitempty"`
	TestAccFlip           *float64 `json:"test_acc_tta_flip,omitempty"`
	TestLossFlip          *float64 `json:"test_loss_tta_flip,omitempty"`
	TestAccFlipTranslate  *float64 `json:"test_acc_tta_flip_translate,omitempty"`
	TestLossFlipTranslate *float64 `json:"test_loss_tta_flip_translate,omitempty"`

	// EMA and SWA are the weight average's figures (Recipe.EMA, or the SWA
	// tail), written as test_acc_ema, test_loss_ema, … (MarshalJSON).
	EMA *AverageRecord `json:"-"`
	SWA *AverageRecord `json:"-"`

	AllreduceSeconds     *float64 `json:"allreduce_seconds,omitempty"`
	AllreduceWaitSeconds *float64 `json:"allreduce_wait_seconds,omitempty"`
}

// AverageRecord is a weight average's test figures in an EpochRecord.
type AverageRecord struct {
	TestAcc, TestLoss    float64
	TestAccFlip          *float64
	TestAccFlipTranslate *float64
}

// MarshalJSON writes the record as one flat object, the weight average's
// figures under test_acc_ema (_swa), test_loss_ema, test_acc_ema_tta_flip
// and test_acc_ema_tta_flip_translate, as metrics.jsonl has always had
// them.
func (r EpochRecord) MarshalJSON() ([]byte, error) {
	type plain EpochRecord // without this method
	b, err := json.Marshal(plain(r))
	if err != nil {
		return nil, err
	}
	extra := map[string]any{}
	for name, a := range map[string]*AverageRecord{"ema": r.EMA, "swa": r.SWA} {
		if a == nil {
			continue
		}
		extra["test_acc_"+name], extra["test_loss_"+name] = a.TestAcc, a.TestLoss
		if a.TestAccFlip != nil {
			extra["test_acc_"+name+"_tta_flip"] = *a.TestAccFlip
		}
		if a.TestAccFlipTranslate != nil {
			extra["test_acc_"+name+"_tta_flip_translate"] = *a.TestAccFlipTranslate
		}
	}
	if len(extra) == 0 {
		return b, nil
	}
	more, err := json.Marshal(extra)
	if err != nil {
		return nil, err
	}
	return append(append(b[:len(b)-1], ','), more[1:]...), nil
}

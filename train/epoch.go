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
func (rn *run) evaluateEpoch(epoch int, rec map[string]any) (string, bool, error) {
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
	rec["test_loss"], rec["test_acc"], rec["eval_images_per_s"] = ev.Loss, ev.Accuracy, ev.ImagesPS
	line := fmt.Sprintf("test loss %.4f acc %.4f", ev.Loss, ev.Accuracy)
	if ev.Flip != nil {
		rec["test_acc_tta_flip"], rec["test_loss_tta_flip"] = ev.Flip.Accuracy, ev.Flip.Loss
		line += fmt.Sprintf(" | flip TTA %.4f", ev.Flip.Accuracy)
	}
	if ev.FlipTranslate != nil {
		rec["test_acc_tta_flip_translate"], rec["test_loss_tta_flip_translate"] = ev.FlipTranslate.Accuracy, ev.FlipTranslate.Loss
		line += fmt.Sprintf(" | flip-translate TTA %.4f", ev.FlipTranslate.Accuracy)
	}
	if avg != nil {
		rec["test_acc_"+avgName], rec["test_loss_"+avgName] = evAvg.Accuracy, evAvg.Loss
		line += fmt.Sprintf(" | %s %.4f", strings.ToUpper(avgName), evAvg.Accuracy)
		if evAvg.Flip != nil {
			rec["test_acc_"+avgName+"_tta_flip"] = evAvg.Flip.Accuracy
			line += fmt.Sprintf(" (flip %.4f)", evAvg.Flip.Accuracy)
		}
		if evAvg.FlipTranslate != nil {
			rec["test_acc_"+avgName+"_tta_flip_translate"] = evAvg.FlipTranslate.Accuracy
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
func (rn *run) closeEpoch(epoch int, st epochStats) map[string]any {
	hdr, res := &rn.hdr, rn.res
	hdr.Epoch, hdr.Batch = epoch+1, 0
	res.Epochs = hdr.Epoch
	if st.seen > 0 {
		res.LastLoss = st.lossSum / float64(st.seen)
	}
	rec := map[string]any{"epoch": hdr.Epoch, "step": hdr.Step, "lr": rn.lr(hdr.Step - 1), "train_loss": res.LastLoss,
		"train_acc": float64(st.correct) / float64(max(st.seen, 1)), "train_seconds": st.seconds, "train_images_per_s": float64(st.seen) / st.seconds}
	if inside, waited, steps := rn.tr.CommTimes(); steps > 0 {
		// Rank 0's: the time in the gradient all-reduces, and the part of
		// it the steps waited for.
		rec["allreduce_seconds"], rec["allreduce_wait_seconds"] = inside.Seconds(), waited.Seconds()
	}
	return rec
}

// commNote is the epoch line's note of the gradient all-reduces' time (""
// in one process).
func commNote(rec map[string]any) string {
	in, ok := rec["allreduce_seconds"].(float64)
	if !ok {
		return ""
	}
	return fmt.Sprintf(" (all-reduce %.1fs, %.1fs of it waited for, %.0f%% of the epoch)", in, rec["allreduce_wait_seconds"], 100*rec["allreduce_wait_seconds"].(float64)/rec["train_seconds"].(float64))
}

// appendMetrics adds an epoch's record to metrics.jsonl (rank 0).
func (rn *run) appendMetrics(rec map[string]any) error {
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

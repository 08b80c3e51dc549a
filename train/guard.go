package train

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/internal/atomicfile"
	"github.com/gomobilenet/mobilenet/internal/sysmem"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
)

// DataRecord identifies the data a run trains and evaluates on: image
// counts and content fingerprints (data.Dataset.Fingerprint). A checkpoint
// stores it; resuming on other data is refused unless asked for.
type DataRecord struct {
	TrainImages      int    `json:"train_images"`
	TrainFingerprint string `json:"train_fingerprint"`
	TestImages       int    `json:"test_images"`
	TestFingerprint  string `json:"test_fingerprint"`
	// HeldOut is the fraction of a training set held out as the test data
	// (Options.HeldOut; 0: the test data are a set of their own).
	HeldOut float64 `json:"held_out,omitempty"`
}

func describeData(trainSet, testSet *data.Dataset, heldOut float64) *DataRecord {
	return &DataRecord{TrainImages: trainSet.Len(), TrainFingerprint: trainSet.Fingerprint(),
		TestImages: testSet.Len(), TestFingerprint: testSet.Fingerprint(), HeldOut: heldOut}
}

// ErrDataChanged is returned (wrapped) when a run is resumed on data other
// than its checkpoint's.
var ErrDataChanged = errors.New("the data differs from the checkpoint's")

// checkData compares the checkpoint's data record with the data at hand.
// Checkpoints written before the record existed (rec == nil) pass.
func checkData(rec, now *DataRecord, allow bool) error {
	if rec == nil || allow {
		return nil
	}
	var diffs []string
	if rec.TrainImages != now.TrainImages || rec.TrainFingerprint != now.TrainFingerprint {
		diffs = append(diffs, fmt.Sprintf("training set: %d images (fingerprint %s) now, %d (%s) in the checkpoint", now.TrainImages, now.TrainFingerprint, rec.TrainImages, rec.TrainFingerprint))
	}
	if rec.TestImages != now.TestImages || rec.TestFingerprint != now.TestFingerprint {
		diffs = append(diffs, fmt.Sprintf("test set: %d images (fingerprint %s) now, %d (%s) in the checkpoint", now.TestImages, now.TestFingerprint, rec.TestImages, rec.TestFingerprint))
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrDataChanged, strings.Join(diffs, "; "))
}

// ErrTooLarge is returned (wrapped) when a graph would not fit in the
// memory this machine has available.
var ErrTooLarge = errors.New("does not fit in memory")

// CheckMemory refuses a training run (a training graph of batch trainBatch
// and an inference graph of batch evalBatch; either may be 0 for none)
// whose estimated memory exceeds what the machine has available.
func CheckMemory(cfg model.Config, trainBatch, evalBatch int) error {
	var need int64
	for _, g := range []struct {
		batch    int
		training bool
	}{{trainBatch, true}, {evalBatch, false}} {
		if g.batch == 0 {
			continue
		}
		n, err := cfg.MemoryEstimate(g.batch, g.training)
		if err != nil {
			return err
		}
		need += n
	}
	avail, ok := sysmem.Available()
	if !ok || need <= avail {
		return nil
	}
	what := fmt.Sprintf("training at batch %d and evaluation at batch %d", trainBatch, evalBatch)
	switch {
	case evalBatch == 0:
		what = fmt.Sprintf("training at batch %d", trainBatch)
	case trainBatch == 0:
		what = fmt.Sprintf("inference at batch %d", evalBatch)
	}
	return fmt.Errorf("MobileNet %s alpha %g resolution %d, %s: needs about %s, %w (%s available); lower the batch size or the resolution",
		cfg.Name, cfg.Alpha, cfg.Resolution, what, sysmem.Format(need), ErrTooLarge, sysmem.Format(avail))
}

// removeStaleTemps deletes the temporary files of the writes of a run that
// were cut short — checkpoints, RunFile and the curves (a killed process
// leaves them; they are never read). Other files of the folder are left
// alone. A file it cannot remove is only untidy: the error is dropped.
func removeStaleTemps(dir string) {
	_ = atomicfile.RemoveStale(dir, "*.bin", RunFile, "curves.png")
}

// checkMemory is CheckMemory for a MobileNet; other networks are not
// estimated.
func checkMemory(n layers.Network, trainBatch, evalBatch int) error {
	if m, ok := n.(*model.Model); ok {
		return CheckMemory(m.Config, trainBatch, evalBatch)
	}
	return nil
}

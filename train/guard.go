package train

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/internal/atomicfile"
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
// memory this machine has available (model.ErrTooLarge).
var ErrTooLarge = model.ErrTooLarge

// CheckMemory refuses a training run (a training graph of batch trainBatch
// and an inference graph of batch evalBatch; either may be 0 for none)
// whose estimated memory exceeds what the machine has available
// (model.CheckMemory).
func CheckMemory(cfg model.Config, trainBatch, evalBatch int) error {
	return model.CheckMemory(cfg, trainBatch, evalBatch)
}

// removeStaleTemps deletes the temporary files of the writes of a run that
// were cut short — checkpoints, RunFile and the curves (a killed process
// leaves them; they are never read). Other files of the folder are left
// alone. A file it cannot remove is only untidy: the error is dropped.
func removeStaleTemps(dir string) {
	_ = atomicfile.RemoveStale(dir, "*.bin", RunFile, "curves.png")
}

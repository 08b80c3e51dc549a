package train

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/gomobilenet/mobilenet/evaluate"

	"github.com/gomobilenet/mobilenet/checkpoint"
	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/model"
)

// Checkpoints are files of package checkpoint (its doc describes the
// format and has a Python reader; scripts/read_checkpoint.py is a complete
// one, tested against this package) whose header is a Header, and whose
// tensors are the model's variables (kinds param and state), the
// optimizer's velocities and, with Recipe.EMA, the weight average (kind
// ema, which loaders use).

// Header is the JSON header of a checkpoint.
type Header struct {
	Config  model.Config `json:"config"`
	Epoch   int          `json:"epoch"`    // epochs completed
	Batch   int          `json:"batch"`    // batches completed in the current epoch (0 at an epoch boundary)
	Step    int          `json:"step"`     // optimizer steps taken
	Recipe  Recipe       `json:"recipe"`   // the training hyper-parameters
	BestAcc float64      `json:"best_acc"` // best test accuracy so far
	TestAcc float64      `json:"test_acc"` // test accuracy of the last evaluation
	// Data identifies the training and test data (absent in checkpoints
	// written before it existed, and in WriteModel's).
	Data *DataRecord `json:"data,omitempty"`
	// Classes names the classifier's outputs, and Input is the
	// preprocessing the model was trained with (both absent in checkpoints
	// written before they existed: see ClassNames and Preprocess).
	Classes []string         `json:"class_names,omitempty"`
	Input   *data.Preprocess `json:"input,omitempty"`
	Tensors []TensorInfo     `json:"tensors"`
	// Ranks is the number of ranks of the data-parallel run that wrote it
	// (0: one process).
	Ranks int `json:"ranks,omitempty"`
	// Network names the network of a run given Options.Network ("" for a
	// MobileNet, which Config describes).
	Network string `json:"network,omitempty"`
	// Elapsed is the wall time the run has trained for, over all its
	// starts, and Plan its last plan: a run with Recipe.TimeBudget only.
	Elapsed float64     `json:"elapsed_s,omitempty"`
	Plan    *BudgetPlan `json:"plan,omitempty"`
	// FullResFrom is the epoch (from 1) at which a run with Recipe.LowRes
	// left its low-resolution epochs for the configuration's resolution,
	// once it has (0 before: Recipe.LowResEpochs of the current Epochs
	// decides); a plan that grows afterwards does not bring them back.
	FullResFrom int `json:"full_res_from,omitempty"`
}

// TensorInfo locates one tensor of a checkpoint.
type TensorInfo = checkpoint.TensorInfo

// Tensor is a named float32 tensor of a checkpoint.
type Tensor = checkpoint.Tensor

// WriteCheckpoint writes the header and tensors to path atomically (h's
// Tensors field is set from the tensors).
func WriteCheckpoint(path string, h Header, tensors []Tensor) error {
	return checkpoint.Write(path, h, tensors)
}

// ErrNotCheckpoint is returned (wrapped) for files that are not checkpoints
// of this format, or are damaged.
var ErrNotCheckpoint = checkpoint.ErrNotCheckpoint

// ReadCheckpoint reads and validates a checkpoint: magic, version, checksum,
// header and that every tensor lies inside the data section.
func ReadCheckpoint(path string) (Header, []Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Header{}, nil, fmt.Errorf("load checkpoint %s: %w", path, err)
	}
	h, ts, err := parseCheckpoint(b)
	if err != nil {
		return Header{}, nil, fmt.Errorf("load checkpoint %s: %w", path, err)
	}
	return h, ts, nil
}

func parseCheckpoint(b []byte) (Header, []Tensor, error) {
	var h Header
	raw, ts, err := checkpoint.Decode(b)
	if err != nil {
		return h, nil, err
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, nil, fmt.Errorf("%w: header: %v", ErrNotCheckpoint, err)
	}
	return h, ts, nil
}

// ClassNames are the names of the checkpoint's classes: the recorded ones,
// CIFAR-10's for older CIFAR-10 checkpoints of 10 classes, else "class 0",
// "class 1", …; recorded reports which.
func (h Header) ClassNames() (names []string, recorded bool) {
	return evaluate.ClassNames(h.Classes, h.Config)
}

// Preprocess is the checkpoint's input preprocessing: the recorded one, or
// CIFAR-10's for older checkpoints (the only data they were trained on).
func (h Header) Preprocess() data.Preprocess {
	if h.Input != nil {
		return *h.Input
	}
	return data.CIFAR10Preprocess()
}

package train

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/dist"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
)

// Options configure a training run.
type Options struct {
	// Recipe of a new run. When resuming, the checkpoint's recipe applies
	// and only Recipe.Epochs and SWAEpochs count: above the checkpoint's,
	// they extend the run (0 keeps it). A run given SWA epochs it did not
	// have takes Recipe.SWALR with them; the schedule of a run already in
	// its SWA tail can no longer be extended.
	Recipe Recipe
	// Config is the MobileNet to train (ignored with Network, or when
	// resuming: the checkpoint's).
	Config model.Config
	// Network, when not nil, is the network to train instead of a
	// MobileNet: any layers.Network of float32 variables taking square RGB
	// images (layers.NewNetwork builds one from a function). Its variables
	// are initialised as the caller made them (Recipe.Init and Seed do not
	// apply); a resumed run must be given the same network, whose variables
	// the checkpoint restores by name. Everything else (the optimizer,
	// schedules, augmentation, EMA, SWA, checkpoints, metrics,
	// data-parallel ranks) is as for MobileNet; LoadModel and the commands
	// read MobileNet checkpoints only (LoadInto reads any).
	Network layers.Network
	// NetworkName describes Network in the log and its checkpoints
	// (Header.Network; "" is "custom network").
	NetworkName string
	Depthwise   layers.DepthwiseImpl
	// Precision of the matrix products (layers.Precision: FP32, the zero
	// value, or BF16). A run may change it on resume; Machine records it.
	Precision layers.Precision
	OutDir    string // checkpoints and logs
	Resume    string // checkpoint to continue from ("" = start afresh)
	Train     *data.Dataset
	Test      *data.Dataset
	// Input is the data's preprocessing (normalisation, evaluation
	// resize), recorded in the checkpoints (nil: CIFAR-10's).
	Input *data.Preprocess
	// Log gets a line per epoch and the run's notices (nil: silent).
	Log io.Writer
	// Progress gets the progress bars of the epochs and evaluations,
	// redrawn in place (nil: none). Give it a terminal, not a log file:
	// cmd/train sets it only when stderr is one (--progress).
	Progress io.Writer
	// Started is when this start of the run began, for a time budget's
	// clock (zero: when Run is called). cmd/train gives the time the
	// command started, so that loading the data counts against the budget.
	Started time.Time
	// StopAfter > 0 stops (as an interruption would) once that many epochs
	// are complete; a resumed run continues exactly.
	StopAfter int
	// HeldOut records (in the checkpoints' DataRecord) that Test is that
	// fraction of a training set held out (data.Dataset.Split), so that a
	// resume can hold out the same part; 0 when Test is a set of its own.
	HeldOut float64
	// AllowDataChange lets a resumed run continue on data other than the
	// checkpoint's (a different --limit, or other files): the schedule
	// and the position in the epoch then no longer match the data. Without
	// it such a resume fails with ErrDataChanged.
	AllowDataChange bool
	// Command and Machine go into the run's record (RunFile, RunRecord):
	// the command line that started or resumed the run, and facts of the
	// machine and compute settings (CPU, threads, GEMM backend, …). Both
	// may be nil.
	Command []string
	Machine map[string]string
	// Saved, when not nil, is the checkpoint Resume (or Recipe.InitFrom)
	// names, already read by the caller (ReadSaved: cmd/train reads it to
	// check its flags against it): Run takes it rather than read the file
	// again.
	Saved *Saved
	// Comm makes the run one rank of a data-parallel job (nil: one
	// process). Every rank calls Run with the same options and data; each
	// takes its part of every global batch (Recipe.BatchSize, which the
	// ranks must divide), gradients are averaged before each step, rank
	// 0's initial weights (or the checkpoint it reads, for Resume) reach
	// every rank, and evaluation is shared out and summed. Rank 0 alone
	// writes OutDir (checkpoints, metrics, the run record) and the log and
	// progress bars. A resumed run needs the number of ranks that wrote
	// the checkpoint.
	Comm dist.Comm
}

// Result summarises a run.
type Result struct {
	Epochs      int // epochs completed
	Interrupted bool
	BestAcc     float64
	LastAcc     float64
	LastLoss    float64        // mean training loss of the last epoch
	Model       *model.Model   // the MobileNet trained (nil with Options.Network)
	Network     layers.Network // the network trained (Model, or Options.Network)
}

// ErrTooFewImages is returned (wrapped) when the training set does not fill
// one batch.
var ErrTooFewImages = errors.New("too few training images")

// ErrDiverged is returned when the training or the test loss becomes NaN
// or infinite.
var ErrDiverged = errors.New("training diverged")

// diverged is the ErrDiverged error for what happened, saying which
// checkpoint is left.
func diverged(outDir, what string) error {
	last := "no checkpoint was written yet"
	if _, err := os.Stat(filepath.Join(outDir, "last.bin")); err == nil {
		last = "the last good checkpoint, " + filepath.Join(outDir, "last.bin") + ", is untouched"
	}
	return fmt.Errorf("%w: %s; %s; try a lower learning rate", ErrDiverged, what, last)
}

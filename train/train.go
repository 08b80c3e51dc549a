// Package train trains MobileNet on CIFAR-10 through Gorgonia's autodiff:
// SGD with Nesterov momentum and weight decay, warm-up and cosine learning
// rate, augmentation, per-epoch evaluation, metrics log and atomic,
// exactly resumable checkpoints.
package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gomobilenet/mobilenet/evaluate"
	"github.com/gomobilenet/mobilenet/internal/progress"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/dist"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/schollz/progressbar/v3"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Recipe holds the training hyper-parameters; a checkpoint stores it.
type Recipe struct {
	Epochs       int     `json:"epochs"`
	BatchSize    int     `json:"batch_size"`
	EvalBatch    int     `json:"eval_batch"`
	LR           float64 `json:"lr"`                 // peak learning rate
	Schedule     string  `json:"schedule,omitempty"` // decay after the warm-up: ScheduleCosine ("" too), ScheduleLinear or ScheduleStep
	MinLR        float64 `json:"min_lr,omitempty"`   // where the cosine and linear decays end (0: at 0); below LR, not with ScheduleStep
	Momentum     float64 `json:"momentum"`
	Nesterov     bool    `json:"nesterov"`
	WeightDecay  float64 `json:"weight_decay"`
	DecayParams  string  `json:"decay_params,omitempty"` // what WeightDecay applies to: DecayConv ("" too), DecayWeights or DecayAll
	WarmupEpochs float64 `json:"warmup_epochs"`
	// LabelSmoothing ε trains against (1−ε)·one-hot + ε/K (Szegedy et al.,
	// 2016); evaluation always uses the plain labels.
	LabelSmoothing float64 `json:"label_smoothing"`
	// Augment turns on the configuration's augmentation (Augmentation):
	// CIFAR-10's padded crop and flip, or ImageNet's random resized crop
	// and flip.
	Augment bool `json:"augment"`
	// AlternateFlips makes Augment's horizontal flips alternate from epoch
	// to epoch instead of being drawn anew (data.LoaderConfig).
	AlternateFlips bool `json:"alternate_flips,omitempty"`
	// Cutout > 0 blanks a random Cutout×Cutout square of every training
	// image (DeVries & Taylor, 2017); 0 turns it off.
	Cutout int `json:"cutout,omitempty"`
	// TrivialAugment applies TrivialAugment Wide after the crop and flip
	// (32×32 data only); RandomErasing > 0 is the probability of erasing a
	// random rectangle of each image (data.LoaderConfig).
	TrivialAugment bool    `json:"trivial_augment,omitempty"`
	RandomErasing  float64 `json:"random_erasing,omitempty"`
	// MixUp and CutMix > 0 mix each training batch's images in pairs with
	// a weight drawn from Beta(α, α) of that α, and train on the mixed
	// labels (data.Mix; with both on, each batch takes one of them); 0 is
	// off.
	MixUp  float64 `json:"mixup,omitempty"`
	CutMix float64 `json:"cutmix,omitempty"`
	// EMA > 0 keeps an exponential moving average of the weights and
	// BatchNorm statistics, updated after every step (avg = EMA·avg +
	// (1−EMA)·current); each epoch evaluates it beside the raw weights,
	// checkpoints store it, and cmd/eval and cmd/predict use it. 0 is off.
	EMA float64 `json:"ema,omitempty"`
	// SWAEpochs > 0 appends that many epochs of stochastic weight averaging
	// (Izmailov et al., 2018) to the schedule's Epochs: a constant rate
	// SWALR, the weights averaged with equal weights at the end of each
	// of those epochs, and the average's BatchNorm statistics recomputed
	// on SWABatches training batches (torch.optim.swa_utils.update_bn).
	// The run lasts Epochs+SWAEpochs epochs; each tail epoch evaluates the
	// average beside the raw weights, and the checkpoints written in the
	// tail hold it (cmd/eval and cmd/predict use it). 0 is off; not with
	// EMA.
	SWAEpochs int `json:"swa_epochs,omitempty"`
	// SWALR is the tail's constant learning rate; 0 is a tenth of LR.
	SWALR float64 `json:"swa_lr,omitempty"`
	// TTA "flip" also evaluates each epoch with flip test-time
	// augmentation, logged separately ("" is off).
	TTA string `json:"tta,omitempty"`
	// EvalEvery N > 1 evaluates on the test set only after every Nth epoch
	// and after the last (Keras's validation_freq): the epochs between log
	// their training figures only, and last.bin still follows every epoch.
	// Evaluating never changes training, so a run's weights do not depend
	// on it; 0 and 1 evaluate every epoch.
	EvalEvery int `json:"eval_every,omitempty"`
	// Init is the weight initialisation, as layers.ParseInit reads it:
	// "uniform" (PyTorch's default) or "he"; "" is "he", what checkpoints
	// written before the field existed used.
	Init string `json:"init,omitempty"`
	// InitFrom is the checkpoint a fine-tuning run started from (its
	// weights, not its optimizer or schedule; see Options and FineTune).
	InitFrom string `json:"init_from,omitempty"`
	// Freeze is FreezeNone ("" too) or FreezeBody: train only the
	// classifier, every other parameter and BatchNorm statistic frozen.
	Freeze string `json:"freeze,omitempty"`
	// SyncBN synchronises BatchNorm across the ranks of a data-parallel
	// run (layers.Store.SyncBatchNorm): every rank normalises with the
	// statistics of the whole global batch, as one process would. Off,
	// each rank normalises with its own part (DDP's default), and the
	// running statistics are averaged across ranks before every
	// evaluation and checkpoint. One process ignores it.
	SyncBN bool   `json:"sync_bn,omitempty"`
	Seed   uint64 `json:"seed"`
}

// SWABatches is how many training batches the average's BatchNorm
// statistics are recomputed on at the end of each SWA epoch (their
// equal-weight mean; fewer when an epoch has fewer).
const SWABatches = 100

// TotalEpochs is the length of the run: the schedule's Epochs and the SWA
// tail's.
func (r Recipe) TotalEpochs() int { return r.Epochs + r.SWAEpochs }

// SWARate is the SWA tail's learning rate: SWALR, or a tenth of LR when it
// is 0.
func (r Recipe) SWARate() float64 {
	if r.SWALR > 0 {
		return r.SWALR
	}
	return r.LR / 10
}

// WeightInit is the recipe's weight initialisation.
func (r Recipe) WeightInit() (layers.Init, error) {
	if r.Init == "" {
		return layers.HeNormal, nil
	}
	return layers.ParseInit(r.Init)
}

// DefaultRecipe is the recipe cmd/train uses on CIFAR-10. Its peak learning
// rate, 0.2, won at every width measured (results/EXPERIMENTS.md): alpha 0.25
// over 10 epochs, two seeds, +2.0 points against 0.1; alpha 0.5, +1.8; alpha
// 0.75, 87.5% after 42 epochs against 0.1's 87.3% after 50. Its Cutout of 16
// pixels (of 32) gave 89.17% after 100 epochs at alpha 0.75 against 88.05%
// without, with the training accuracy 90.3% against 97.5%: the regulariser
// that closes the gap between the two. Its 200 epochs gave 89.61% (seed 1)
// and 89.56% (seed 2) at alpha 0.75, +0.44 on 100 epochs of seed 1; its SWA
// tail of 80 epochs at 0.02 after them, 90.16% and 90.19% (40: 90.21% and
// 89.75%; 60: 90.27% and 89.97%). It is meant for 32×32 images; cmd/train
// turns Cutout off for the imagenet configuration, without augmentation and
// for fine-tuning unless --cutout is given, and the SWA tail off for the
// imagenet configuration and fine-tuning unless --swa-epochs is given (two
// fifths of --epochs otherwise).
func DefaultRecipe() Recipe {
	return Recipe{Epochs: 200, BatchSize: 128, EvalBatch: 250, LR: 0.2, Schedule: ScheduleCosine, Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4, DecayParams: DecayConv, WarmupEpochs: 1, LabelSmoothing: 0.1, Augment: true, Cutout: 16, SWAEpochs: 80, Init: "uniform", Seed: 1}
}

// Validate reports what is wrong with the recipe.
func (r Recipe) Validate() error {
	switch {
	case r.Epochs <= 0:
		return fmt.Errorf("epochs %d: must be positive", r.Epochs)
	case r.BatchSize <= 0:
		return fmt.Errorf("batch size %d: must be positive", r.BatchSize)
	case r.EvalBatch <= 0:
		return fmt.Errorf("eval batch size %d: must be positive", r.EvalBatch)
	case !(r.LR > 0) || math.IsInf(r.LR, 0):
		return fmt.Errorf("learning rate %g: must be positive", r.LR)
	case !(r.MinLR >= 0 && r.MinLR < r.LR):
		return fmt.Errorf("minimum learning rate %g: must be in [0, the peak rate %g)", r.MinLR, r.LR)
	case r.MinLR > 0 && r.Schedule == ScheduleStep:
		return fmt.Errorf("minimum learning rate %g: the step schedule has its own end rate (the peak/100); give it with the cosine or linear schedule", r.MinLR)
	case r.Momentum < 0 || r.Momentum >= 1:
		return fmt.Errorf("momentum %g: must be in [0, 1)", r.Momentum)
	case r.WeightDecay < 0:
		return fmt.Errorf("weight decay %g: must not be negative", r.WeightDecay)
	case r.WarmupEpochs < 0:
		return fmt.Errorf("warm-up %g epochs: must not be negative", r.WarmupEpochs)
	case r.Cutout < 0 || r.Cutout > model.MaxResolution:
		return fmt.Errorf("cutout %d: must be in [0, %d] (and at most the image size)", r.Cutout, model.MaxResolution)
	case !(r.LabelSmoothing >= 0 && r.LabelSmoothing < 1):
		return fmt.Errorf("label smoothing %g: must be in [0, 1)", r.LabelSmoothing)
	case !(r.RandomErasing >= 0 && r.RandomErasing <= 1):
		return fmt.Errorf("random erasing probability %g: must be in [0, 1]", r.RandomErasing)
	case !(r.EMA >= 0 && r.EMA < 1):
		return fmt.Errorf("EMA decay %g: must be in [0, 1)", r.EMA)
	case r.SWAEpochs < 0:
		return fmt.Errorf("SWA epochs %d: must not be negative", r.SWAEpochs)
	case !(r.SWALR >= 0) || math.IsInf(r.SWALR, 0):
		return fmt.Errorf("SWA learning rate %g: must not be negative (0: a tenth of the peak rate)", r.SWALR)
	case r.SWAEpochs > 0 && r.EMA > 0:
		return fmt.Errorf("EMA decay %g with %d SWA epochs: keep one weight average, not both", r.EMA, r.SWAEpochs)
	case r.EvalEvery < 0:
		return fmt.Errorf("eval every %d epochs: must not be negative", r.EvalEvery)
	case r.AlternateFlips && !r.Augment:
		return data.ErrNoFlipsToAlternate
	}
	if _, err := ParseTTA(r.TTA); err != nil {
		return err
	}
	if _, err := ParseSchedule(r.Schedule); err != nil {
		return err
	}
	if _, err := ParseDecayParams(r.DecayParams); err != nil {
		return err
	}
	if err := (data.Mix{MixUp: r.MixUp, CutMix: r.CutMix}).Validate(); err != nil {
		return err
	}
	if _, err := r.WeightInit(); err != nil {
		return err
	}
	switch r.Freeze {
	case "", FreezeNone, FreezeBody:
	default:
		return fmt.Errorf("freeze %q: want %s or %s", r.Freeze, FreezeNone, FreezeBody)
	}
	return nil
}

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

// Run trains until the recipe's last epoch, an interruption (ctx
// cancelled: the current step finishes and last.bin is written) or an error.
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
		st, err := rn.trainEpoch(ctx, epoch)
		if err != nil {
			return rn.res, err
		}
		if st.stopped {
			return rn.res, rn.interrupted(epoch)
		}
		if err := rn.finishEpoch(epoch, st); err != nil {
			return rn.res, err
		}
		if stop, err := rn.agree(ctx.Err() != nil); err != nil || stop {
			rn.res.Interrupted = stop
			return rn.res, err
		}
	}
	return rn.res, nil
}

// run is one training run in progress.
type run struct {
	o      Options
	r      Recipe
	hdr    Header         // what the next checkpoint records
	net    layers.Network // what is trained
	m      *model.Model   // net when it is a MobileNet, else nil
	opt    *SGD
	comm   dist.Comm // the ranks (Local: one process)
	avg    *ema      // nil without Recipe.EMA
	swa    *swaTail  // nil without Recipe.SWAEpochs
	tr     *Trainer
	eval   *Evaluator
	loader *data.Loader
	sched  Schedule
	logw   io.Writer
	progw  io.Writer // nil: no bars
	res    *Result
}

// openRun starts a run afresh (from Options.Init's weights when set) or
// resumes one: a resumed run takes its model, recipe and optimizer
// settings from the checkpoint, read before anything is built.
func openRun(o Options) (*run, error) {
	rn := &run{o: o, r: o.Recipe, logw: o.Log, progw: o.Progress, comm: commOf(o.Comm)}
	if rn.logw == nil || !rn.primary() {
		rn.logw = io.Discard
	}
	if !rn.primary() {
		rn.progw = nil
	}
	ranks := rn.comm.Size()
	if o.Resume == "" {
		if err := rn.r.Validate(); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	if o.Train == nil || o.Test == nil {
		return nil, fmt.Errorf("train: no data")
	}
	if rn.primary() {
		if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	var saved []Tensor
	dataNow := describeData(o.Train, o.Test, o.HeldOut) // hashes every image: once
	rn.hdr = Header{Config: o.Config}
	if o.Resume != "" {
		h, ts, err := readShared(rn.comm, o.Resume)
		if err != nil {
			return nil, err
		}
		if max(h.Ranks, 1) != ranks {
			return nil, fmt.Errorf("resume %s: %w: written by a run of %d, resumed with %d; continue it with mpirun -np %d (each batch's split, and so each step, depends on the number)", o.Resume, ErrRanks, max(h.Ranks, 1), ranks, max(h.Ranks, 1))
		}
		if err := checkData(h.Data, dataNow, o.AllowDataChange); err != nil {
			return nil, fmt.Errorf("resume %s: %w", o.Resume, err)
		}
		rn.hdr, saved, rn.r = h, ts, h.Recipe
		if err := rn.extend(o.Recipe); err != nil {
			return nil, fmt.Errorf("resume %s: %w", o.Resume, err)
		}
	} else {
		pre := data.CIFAR10Preprocess()
		if o.Input != nil {
			pre = *o.Input
		}
		rn.hdr.Input = &pre
	}
	r := rn.r
	if r.BatchSize%ranks != 0 {
		return nil, fmt.Errorf("train: %w: batch size %d: %d ranks do not divide it (the batch size is the global batch)", ErrRanks, r.BatchSize, ranks)
	}
	rn.hdr.Recipe, rn.hdr.Data, rn.hdr.Classes = r, dataNow, o.Train.Classes
	rn.hdr.Ranks = 0
	if ranks > 1 {
		rn.hdr.Ranks = ranks
	}
	if rn.hdr.Input == nil { // resuming a checkpoint from before it was recorded
		pre := data.CIFAR10Preprocess()
		rn.hdr.Input = &pre
	}
	wrap := func(err error) error {
		if o.Resume != "" {
			return fmt.Errorf("resume %s: %w", o.Resume, err)
		}
		return fmt.Errorf("train: %w", err)
	}
	init, err := r.WeightInit()
	if err != nil {
		return nil, wrap(err)
	}
	rn.opt = NewSGD(r.Momentum, r.WeightDecay, r.Nesterov)
	rn.opt.DecayParams = r.DecayParams
	if err := rn.openNetwork(init); err != nil {
		return nil, wrap(err)
	}
	switch {
	case o.Resume != "":
		if err := restore(rn.store(), rn.opt, saved); err != nil {
			return nil, wrap(err)
		}
	case r.InitFrom != "":
		if err := initFrom(rn.net, r.InitFrom, rn.logw); err != nil {
			return nil, wrap(err)
		}
	}
	if err := freeze(rn.store(), r.Freeze); err != nil {
		return nil, wrap(err)
	}
	// Rank 0's weights and statistics everywhere (equal already when every
	// rank initialised from the same seed or read the same bytes: this
	// makes sure of it).
	if err := broadcastVars(rn.comm, rn.store().Vars()); err != nil {
		return nil, wrap(err)
	}
	if o.Train.Len() < r.BatchSize {
		return nil, fmt.Errorf("train: %w: %d images make no batch of %d", ErrTooFewImages, o.Train.Len(), r.BatchSize)
	}
	if err := model.CheckNetworkMemory(rn.net, r.BatchSize/ranks, r.EvalBatch); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if rn.primary() {
		removeStaleTemps(o.OutDir)
	}
	fmt.Fprintf(rn.logw, "%s, %d classes: %d train, %d test images, %d epochs, batch %d, out %s\n",
		rn.describe(), rn.net.Classes(), o.Train.Len(), o.Test.Len(), r.TotalEpochs(), r.BatchSize, o.OutDir)
	if o.Resume != "" {
		fmt.Fprintf(rn.logw, "resuming %s at epoch %d, batch %d (step %d); model, recipe and optimizer settings from the checkpoint\n", o.Resume, rn.hdr.Epoch, rn.hdr.Batch, rn.hdr.Step)
	}
	fmt.Fprintf(rn.logw, "recipe: %v\n", r)
	if ranks > 1 {
		bn := "each rank's own, averaged across ranks before every evaluation and checkpoint (--sync-bn: the whole batch's)"
		if r.SyncBN {
			bn = "synchronised: the whole global batch's, on every rank"
		}
		fmt.Fprintf(rn.logw, "data-parallel: %d ranks (%s), %d images a rank a step; BatchNorm statistics %s\n", ranks, rn.comm.Name(), r.BatchSize/ranks, bn)
		if r.SyncBN {
			rn.store().SyncBatchNorm(rn.comm.AllreduceSum64)
		}
	}
	lc := data.LoaderConfig{BatchSize: r.BatchSize, Resolution: rn.net.InputShape()[1], Input: rn.hdr.Input, Shuffle: true, Cutout: r.Cutout, AlternateFlips: r.AlternateFlips,
		TrivialAugment: r.TrivialAugment, RandomErasing: r.RandomErasing, Mix: data.Mix{MixUp: r.MixUp, CutMix: r.CutMix}, Seed: r.Seed, DropLast: true,
		Shard: data.Shard{Rank: rn.comm.Rank(), Size: ranks}}
	if r.Augment {
		if rn.m != nil {
			lc.Augment, lc.RandomResizedCrop = Augmentation(rn.m.Config)
		} else { // CIFAR-10's crop for 32×32 images, ImageNet's otherwise
			lc.Augment, lc.RandomResizedCrop = o.Train.FixedSize(), !o.Train.FixedSize()
		}
	}
	if rn.loader, err = data.NewLoader(o.Train, lc); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	perEpoch := rn.loader.NumBatches()
	rn.sched = Schedule{Base: r.LR, Min: r.MinLR, Warmup: int(r.WarmupEpochs * float64(perEpoch)), Total: r.Epochs * perEpoch, Decay: r.Schedule}
	if rn.tr, err = NewTrainer(rn.net, rn.loader.PartSize(), rn.opt); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	rn.tr.LabelSmoothing, rn.tr.Comm = r.LabelSmoothing, rn.comm
	if rn.eval, err = NewEvaluator(rn.net, r.EvalBatch); err != nil {
		rn.tr.Close()
		return nil, fmt.Errorf("train: %w", err)
	}
	rn.eval.TTA, rn.eval.Input, rn.eval.Comm = r.TTA, rn.hdr.Input, rn.comm
	if err := rn.openSWA(lc, saved); err != nil {
		rn.close()
		return nil, wrap(err)
	}
	if r.EMA > 0 {
		rn.avg = newEMA(rn.store(), r.EMA)
		if o.Resume != "" && !restoreEMA(rn.avg, saved) {
			fmt.Fprintf(rn.logw, "the checkpoint has no weight average: it starts from the current weights\n")
		}
	}
	if rn.primary() {
		if err := rn.writeRunRecord(time.Now()); err != nil {
			rn.close()
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	rn.res = &Result{Model: rn.m, Network: rn.net, BestAcc: rn.hdr.BestAcc, LastAcc: rn.hdr.TestAcc, Epochs: rn.hdr.Epoch}
	rn.store().Mode().SetTraining(true)
	return rn, nil
}

// openNetwork sets the network the run trains: Options.Network, or the
// MobileNet of the header's configuration, initialised by init from the
// recipe's seed.
func (rn *run) openNetwork(init layers.Init) error {
	o, r := rn.o, rn.r
	if o.Network != nil {
		if layers.IsNilNetwork(o.Network) || o.Network.VarStore() == nil {
			return errors.New("the network has no variables (nil)")
		}
		if rn.hdr.Network == "" && o.Resume != "" {
			return fmt.Errorf("the checkpoint is a MobileNet's (%s); resume it without Options.Network", rn.hdr.Config.Describe())
		}
		rn.net, rn.hdr.Config = o.Network, model.Config{}
		rn.hdr.Network = o.NetworkName
		if rn.hdr.Network == "" {
			rn.hdr.Network = "custom network"
		}
		if m, ok := o.Network.(*model.Model); ok {
			rn.m = m
		}
		rn.store().SetPrecision(o.Precision)
		return nil
	}
	if rn.hdr.Network != "" {
		return fmt.Errorf("the checkpoint is of a %s, not a MobileNet: resume it with that network (Options.Network)", rn.hdr.Network)
	}
	m, err := model.New(rn.hdr.Config, model.Options{Seed: r.Seed, Depthwise: o.Depthwise, Init: init, Precision: o.Precision})
	if err != nil {
		return err
	}
	rn.net, rn.m = m, m
	return nil
}

// store is the trained network's Store.
func (rn *run) store() *layers.Store { return rn.net.VarStore() }

// describe names the network in the log.
func (rn *run) describe() string {
	if rn.m != nil && rn.o.Network == nil {
		return "MobileNet v1 " + rn.m.Config.Describe()
	}
	in := rn.net.InputShape()
	return fmt.Sprintf("%s, input %d×%d×%d, %d parameters", rn.hdr.Network, in[0], in[1], in[2], rn.store().NumParams())
}

func (rn *run) close() {
	rn.tr.Close()
	rn.eval.Close()
	rn.swa.close()
}

// extend applies what a resume may change of the checkpoint's recipe: more
// epochs of the schedule (not once the SWA tail has begun) and more SWA
// epochs (with asked's SWALR when the run had none).
func (rn *run) extend(asked Recipe) error {
	r := &rn.r
	if asked.Epochs > r.Epochs {
		if r.SWAEpochs > 0 && (rn.hdr.Epoch > r.Epochs || rn.hdr.Epoch == r.Epochs && rn.hdr.Batch > 0) {
			return fmt.Errorf("epochs %d: the run has begun its SWA tail (after its %d epochs), and its schedule can no longer be extended", asked.Epochs, r.Epochs)
		}
		r.Epochs = asked.Epochs
	}
	if asked.SWAEpochs > r.SWAEpochs {
		if r.SWAEpochs == 0 {
			r.SWALR = asked.SWALR
		}
		r.SWAEpochs = asked.SWAEpochs
		if err := r.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// primary reports whether this process writes the run's files and log:
// rank 0 of a data-parallel job, or the one process.
func (rn *run) primary() bool { return rn.comm.Rank() == 0 }

// agree returns whether any rank says stop (stop itself in one process).
func (rn *run) agree(stop bool) (bool, error) {
	if rn.comm.Size() == 1 {
		return stop, nil
	}
	v := []float32{0}
	if stop {
		v[0] = 1
	}
	if err := rn.comm.AllreduceSum(v); err != nil {
		return false, fmt.Errorf("train: %w", err)
	}
	return v[0] > 0, nil
}

// syncStats averages the ranks' BatchNorm running statistics, the model's
// and the weight average's (a no-op in one process).
func (rn *run) syncStats() error {
	if rn.comm.Size() == 1 {
		return nil
	}
	if err := averageStats(rn.comm, runningStats(rn.store())); err != nil {
		return err
	}
	if rn.avg != nil { // the EMA's statistics follow each rank's
		rn.avg.swap()
		err := averageStats(rn.comm, runningStats(rn.store()))
		rn.avg.swap()
		return err
	}
	return nil
}

// save writes a checkpoint of the run's current state (rank 0; every rank
// calls it, as it first averages the ranks' statistics).
func (rn *run) save(name string) error {
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
	for b := range rn.loader.Epoch(lctx, epoch, hdr.Batch) {
		if b.Err != nil {
			return st, fmt.Errorf("train: epoch %d: %w", epoch+1, b.Err)
		}
		l, c, stop, err := rn.tr.step(b.X, b.Y, b.Y2, b.Lam, rn.lr(hdr.Step), ctx.Err() != nil)
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

// finishEpoch folds the weights into the SWA average in the tail,
// evaluates (the raw weights, and the average when kept), logs the epoch
// and writes last.bin, and best.bin when the test accuracy improved.
func (rn *run) finishEpoch(epoch int, st epochStats) error {
	hdr, res := &rn.hdr, rn.res
	if err := rn.updateSWA(context.Background(), epoch); err != nil {
		return err
	}
	if !evalDue(epoch+1, rn.r.TotalEpochs(), rn.r.EvalEvery) {
		return rn.finishUnevaluated(epoch, st)
	}
	if err := rn.syncStats(); err != nil {
		return err
	}
	ev, err := rn.eval.Run(context.Background(), rn.o.Test, rn.progw)
	if err != nil {
		return err
	}
	if math.IsNaN(ev.Loss) || math.IsInf(ev.Loss, 0) {
		return diverged(rn.o.OutDir, fmt.Sprintf("test loss is %v after epoch %d", ev.Loss, epoch+1))
	}
	// The figure a checkpoint stands for is the one cmd/eval reproduces
	// from it: the average's when there is one.
	reported := ev
	var evAvg EvalResult
	avg, avgName := rn.average(epoch + 1)
	if avg != nil {
		avg.swap()
		evAvg, err = rn.eval.Run(context.Background(), rn.o.Test, rn.progw)
		avg.swap()
		if err != nil {
			return err
		}
		if math.IsNaN(evAvg.Loss) || math.IsInf(evAvg.Loss, 0) {
			return diverged(rn.o.OutDir, fmt.Sprintf("the weight average's test loss is %v after epoch %d", evAvg.Loss, epoch+1))
		}
		reported = evAvg
	}
	rn.store().Mode().SetTraining(true)
	rec := rn.closeEpoch(epoch, st)
	hdr.TestAcc, res.LastAcc = reported.Accuracy, reported.Accuracy
	improved := reported.Accuracy > hdr.BestAcc
	if improved {
		hdr.BestAcc, res.BestAcc = reported.Accuracy, reported.Accuracy
	}
	rec["test_loss"], rec["test_acc"], rec["eval_images_per_s"] = ev.Loss, ev.Accuracy, ev.ImagesPS
	extra := ""
	if ev.Flip != nil {
		rec["test_acc_tta_flip"], rec["test_loss_tta_flip"] = ev.Flip.Accuracy, ev.Flip.Loss
		extra += fmt.Sprintf(" | flip TTA %.4f", ev.Flip.Accuracy)
	}
	if ev.FlipTranslate != nil {
		rec["test_acc_tta_flip_translate"], rec["test_loss_tta_flip_translate"] = ev.FlipTranslate.Accuracy, ev.FlipTranslate.Loss
		extra += fmt.Sprintf(" | flip-translate TTA %.4f", ev.FlipTranslate.Accuracy)
	}
	if avg != nil {
		rec["test_acc_"+avgName], rec["test_loss_"+avgName] = evAvg.Accuracy, evAvg.Loss
		extra += fmt.Sprintf(" | %s %.4f", strings.ToUpper(avgName), evAvg.Accuracy)
		if evAvg.Flip != nil {
			rec["test_acc_"+avgName+"_tta_flip"] = evAvg.Flip.Accuracy
			extra += fmt.Sprintf(" (flip %.4f)", evAvg.Flip.Accuracy)
		}
		if evAvg.FlipTranslate != nil {
			rec["test_acc_"+avgName+"_tta_flip_translate"] = evAvg.FlipTranslate.Accuracy
		}
	}
	if err := rn.appendMetrics(rec); err != nil {
		return err
	}
	fmt.Fprintf(rn.logw, "epoch %d/%d: train loss %.4f acc %.4f | test loss %.4f acc %.4f%s | %.0fs, %.0f img/s%s\n", hdr.Epoch, rn.r.TotalEpochs(), res.LastLoss, rec["train_acc"], ev.Loss, ev.Accuracy, extra, st.seconds, rec["train_images_per_s"], commNote(rec))
	if err := rn.save("last.bin"); err != nil {
		return err
	}
	if improved {
		return rn.save("best.bin")
	}
	return nil
}

// evalDue reports whether the epoch that has just completed (counted from
// 1) is evaluated: every one, or every every-th and the last.
func evalDue(done, epochs, every int) bool {
	return every <= 1 || done%every == 0 || done >= epochs
}

// finishUnevaluated ends an epoch that Recipe.EvalEvery does not evaluate:
// it logs the training figures and writes last.bin, whose test accuracy
// stays that of the last evaluation (Header.TestAcc).
func (rn *run) finishUnevaluated(epoch int, st epochStats) error {
	rec := rn.closeEpoch(epoch, st)
	if err := rn.appendMetrics(rec); err != nil {
		return err
	}
	fmt.Fprintf(rn.logw, "epoch %d/%d: train loss %.4f acc %.4f | not evaluated (--eval-every %d) | %.0fs, %.0f img/s%s\n", rn.hdr.Epoch, rn.r.TotalEpochs(), rn.res.LastLoss, rec["train_acc"], rn.r.EvalEvery, st.seconds, rec["train_images_per_s"], commNote(rec))
	return rn.save("last.bin")
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

// Trainer runs training steps on one graph of a network: forward, loss,
// backward through Gorgonia's autodiff, and the optimizer's update.
type Trainer struct {
	n              layers.Network
	store          *layers.Store
	net            *layers.Net
	targets        *G.Node
	vm             G.VM
	params         G.Nodes
	vars           []*layers.Var
	opt            *SGD
	lossV, logitsV G.Value
	onehot         []float32
	grads          []*tensor.Dense
	buckets        []bucket // of the gradient all-reduce, made on first use
	bucketFloats   int      // their size (0: BucketFloats)
	comm           commTimes
	// LabelSmoothing ε in [0, 1): the loss is taken against
	// (1−ε)·one-hot + ε/K instead of the one-hot labels.
	LabelSmoothing float64
	// Comm, when it has more than one rank, makes each step this rank's
	// part of a data-parallel step: the batch given is the rank's part of
	// the global batch, the gradients are averaged over the ranks (in
	// buckets, BucketFloats) before the optimizer's update, and the loss
	// and correct count returned are the whole batch's. Every rank must
	// step in turn, with equal weights and optimizer state (Run
	// broadcasts rank 0's at the start).
	Comm dist.Comm
}

// NewTrainer builds the training graph of a network (a MobileNet,
// *model.Model, or any layers.Network of float32 variables) for the given
// batch size.
func NewTrainer(n layers.Network, batch int, opt *SGD) (*Trainer, error) {
	switch {
	case layers.IsNilNetwork(n):
		return nil, errors.New("trainer: no network (nil)")
	case opt == nil:
		return nil, errors.New("trainer: no optimizer (nil; train.NewSGD makes one)")
	case n.VarStore() == nil || n.VarStore().Dtype() != tensor.Float32:
		return nil, errors.New("trainer: the network's variables must be float32")
	}
	if err := model.CheckNetworkMemory(n, batch, 0); err != nil {
		return nil, err
	}
	g := G.NewGraph()
	net, err := n.BuildNet(g, batch, false)
	if err != nil {
		return nil, err
	}
	k := n.Classes()
	t := &Trainer{n: n, store: n.VarStore(), net: net, opt: opt, onehot: make([]float32, batch*k)}
	t.targets = G.NewMatrix(g, t.store.Dtype(), G.WithShape(batch, k), G.WithName("targets"))
	loss, err := layers.SoftmaxCrossEntropy(net.Logits, t.targets)
	if err != nil {
		return nil, err
	}
	t.params = net.Learnables()
	t.vars = net.Builder.LearnableVars()
	if _, err := G.Grad(loss, t.params...); err != nil {
		return nil, fmt.Errorf("gradient: %w", err)
	}
	G.Read(loss, &t.lossV)
	G.Read(net.Logits, &t.logitsV)
	if t.vm, err = layers.NewTapeMachine(g, G.BindDualValues(t.params...)); err != nil {
		return nil, err
	}
	t.grads = make([]*tensor.Dense, len(t.params))
	return t, nil
}

// Close releases the machine.
func (t *Trainer) Close() { t.vm.Close() }

// Step trains on one batch (x: batch×3×R×R normalised pixels, y: labels)
// with learning rate lr, and returns the batch's loss and how many images it
// classified correctly (before the update). A NaN loss is returned as is and
// the update is skipped.
func (t *Trainer) Step(x []float32, y []int, lr float64) (float64, int, error) {
	return t.StepMixed(x, y, nil, 1, lr)
}

// StepMixed is Step on a batch of mixed images (data.Mix: MixUp, CutMix):
// image i's target is lam·y[i] + (1−lam)·y2[i], each label smoothed as
// Step smooths it; an image counts as correct when its top class is the
// label of the larger weight. y2 nil (with lam 1) is Step.
func (t *Trainer) StepMixed(x []float32, y, y2 []int, lam, lr float64) (float64, int, error) {
	l, c, _, err := t.step(x, y, y2, lam, lr, false)
	return l, c, err
}

// step is StepMixed that also says whether to stop after it: stop, or, in
// a data-parallel job, any rank's stop (so that every rank stops after the
// same step).
func (t *Trainer) step(x []float32, y, y2 []int, lam, lr float64, stop bool) (float64, int, bool, error) {
	l, c, err := t.forwardBackward(x, y, y2, lam)
	if err != nil {
		zeroGrads(t.grads)
		return l, c, stop, err
	}
	if t.Comm != nil && t.Comm.Size() > 1 {
		return t.reduceAndStep(l, c, stop, lr)
	}
	if math.IsNaN(l) || math.IsInf(l, 0) {
		zeroGrads(t.grads)
		return l, c, stop, nil
	}
	return l, c, stop, t.opt.Step(lr, t.vars, t.grads)
}

// forwardBackward runs the graph on a batch and leaves the gradients in
// t.grads; it returns the loss and the number of images classified
// correctly.
func (t *Trainer) forwardBackward(x []float32, y, y2 []int, lam float64) (float64, int, error) {
	k := t.n.Classes()
	batch := len(t.onehot) / k
	if len(x) != t.net.Input.Shape().TotalSize() || len(y) < batch || (y2 != nil && len(y2) < batch) {
		return 0, 0, fmt.Errorf("batch of %d values and %d labels, want %v and %d", len(x), len(y), t.net.Input.Shape(), batch)
	}
	if !(t.LabelSmoothing >= 0 && t.LabelSmoothing < 1) {
		return 0, 0, fmt.Errorf("label smoothing %g: must be in [0, 1)", t.LabelSmoothing)
	}
	if !(lam >= 0 && lam <= 1) || (y2 == nil && lam != 1) {
		return 0, 0, fmt.Errorf("mixing weight %g: must be in [0, 1], and 1 without second labels", lam)
	}
	if err := mixedTargets(t.onehot, y[:batch], y2, lam, k, t.LabelSmoothing); err != nil {
		return 0, 0, err
	}
	if lam < 0.5 {
		y = y2 // accuracy against the label of the larger weight
	}
	if err := G.Let(t.net.Input, tensor.New(tensor.WithShape(t.net.Input.Shape()...), tensor.WithBacking(x))); err != nil {
		return 0, 0, err
	}
	if err := G.Let(t.targets, tensor.New(tensor.WithShape(batch, k), tensor.WithBacking(t.onehot))); err != nil {
		return 0, 0, err
	}
	t.vm.Reset()
	if err := t.vm.RunAll(); err != nil {
		return 0, 0, err
	}
	if err := t.store.SyncBatchNormErr(); err != nil {
		return 0, 0, fmt.Errorf("synchronised BatchNorm: %w", err)
	}
	l := float64(*t.lossV.(*G.F32))
	correct := 0
	lg := t.logitsV.Data().([]float32)
	for i := 0; i < batch; i++ {
		if p, _ := evaluate.Top1(lg[i*k : (i+1)*k]); p == y[i] {
			correct++
		}
	}
	for i, p := range t.params {
		gv, err := p.Grad()
		if err != nil {
			return l, correct, fmt.Errorf("gradient of %s: %w", p.Name(), err)
		}
		t.grads[i] = gv.(*tensor.Dense)
	}
	return l, correct, nil
}

// mixedTargets writes lam·smooth(y) + (1−lam)·smooth(y2) into dst (N×k);
// y2 nil is smoothTargets. Both smoothings put eps/k everywhere, so only a
// share (1−lam)·(1−eps) moves from each row's y to its y2.
func mixedTargets(dst []float32, y, y2 []int, lam float64, k int, eps float64) error {
	if err := smoothTargets(dst, y, k, eps); err != nil || y2 == nil || lam == 1 {
		return err
	}
	moved := float32((1 - lam) * (1 - eps))
	for i, c2 := range y2[:len(y)] {
		if c2 < 0 || c2 >= k {
			return fmt.Errorf("label %d outside [0, %d)", c2, k)
		}
		dst[i*k+y[i]] -= moved
		dst[i*k+c2] += moved
	}
	return nil
}

// smoothTargets writes the training targets of labels y into dst (len(y)×k):
// (1−eps)·one-hot + eps/k.
func smoothTargets(dst []float32, y []int, k int, eps float64) error {
	off := float32(eps / float64(k))
	on := float32(1-eps) + off
	for i := range dst {
		dst[i] = off
	}
	for i, c := range y {
		if c < 0 || c >= k {
			return fmt.Errorf("label %d outside [0, %d)", c, k)
		}
		dst[i*k+c] = on
	}
	return nil
}

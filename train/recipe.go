package train

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
)

// Recipe holds the training hyper-parameters; a checkpoint stores it. A
// field's `flag` tag names the cmd/train flag that sets it (",negate": the
// flag sets the opposite), which is how the command tells a resumed run's
// recipe from the flags it is given (Recipe.Flags).
type Recipe struct {
	Epochs       int      `json:"epochs" flag:"epochs"`
	BatchSize    int      `json:"batch_size" flag:"batch-size"`
	EvalBatch    int      `json:"eval_batch" flag:"eval-batch-size"`
	LR           float64  `json:"lr" flag:"lr"`                       // peak learning rate
	Schedule     Decay    `json:"schedule,omitempty" flag:"schedule"` // decay after the warm-up: ScheduleCosine ("" too), ScheduleLinear or ScheduleStep
	MinLR        float64  `json:"min_lr,omitempty" flag:"min-lr"`     // where the cosine and linear decays end (0: at 0); below LR, not with ScheduleStep
	Momentum     float64  `json:"momentum" flag:"momentum"`
	Nesterov     bool     `json:"nesterov"`
	WeightDecay  float64  `json:"weight_decay" flag:"weight-decay"`
	DecayParams  ParamSet `json:"decay_params,omitempty" flag:"decay-params"` // what WeightDecay applies to: DecayConv ("" too), DecayWeights or DecayAll
	WarmupEpochs float64  `json:"warmup_epochs" flag:"warmup"`
	// LabelSmoothing ε trains against (1−ε)·one-hot + ε/K (Szegedy et al.,
	// 2016); evaluation always uses the plain labels.
	LabelSmoothing float64 `json:"label_smoothing" flag:"label-smoothing"`
	// Augment turns on the configuration's augmentation (Augmentation):
	// CIFAR-10's padded crop and flip, or ImageNet's random resized crop
	// and flip.
	Augment bool `json:"augment" flag:"no-augment,negate"`
	// AlternateFlips makes Augment's horizontal flips alternate from epoch
	// to epoch instead of being drawn anew (data.LoaderConfig).
	AlternateFlips bool `json:"alternate_flips,omitempty" flag:"alternate-flips"`
	// Cutout > 0 blanks a random Cutout×Cutout square of every training
	// image (DeVries & Taylor, 2017); 0 turns it off.
	Cutout int `json:"cutout,omitempty" flag:"cutout"`
	// TrivialAugment applies TrivialAugment Wide after the crop and flip
	// (32×32 data only); RandomErasing > 0 is the probability of erasing a
	// random rectangle of each image (data.LoaderConfig).
	TrivialAugment bool    `json:"trivial_augment,omitempty" flag:"trivial-augment"`
	RandomErasing  float64 `json:"random_erasing,omitempty" flag:"random-erasing"`
	// MixUp and CutMix > 0 mix each training batch's images in pairs with
	// a weight drawn from Beta(α, α) of that α, and train on the mixed
	// labels (data.Mix; with both on, each batch takes one of them); 0 is
	// off.
	MixUp  float64 `json:"mixup,omitempty" flag:"mixup"`
	CutMix float64 `json:"cutmix,omitempty" flag:"cutmix"`
	// EMA > 0 keeps an exponential moving average of the weights and
	// BatchNorm statistics, updated after every step (avg = EMA·avg +
	// (1−EMA)·current); each epoch evaluates it beside the raw weights,
	// checkpoints store it, and cmd/eval and cmd/predict use it. 0 is off.
	EMA float64 `json:"ema,omitempty" flag:"ema"`
	// SWAEpochs > 0 appends that many epochs of stochastic weight averaging
	// (Izmailov et al., 2018) to the schedule's Epochs: a constant rate
	// SWALR, the weights averaged with equal weights at the end of each
	// of those epochs, and the average's BatchNorm statistics recomputed
	// on SWABatches training batches (torch.optim.swa_utils.update_bn).
	// The run lasts Epochs+SWAEpochs epochs; each tail epoch evaluates the
	// average beside the raw weights, and the checkpoints written in the
	// tail hold it (cmd/eval and cmd/predict use it). 0 is off; not with
	// EMA.
	SWAEpochs int `json:"swa_epochs,omitempty" flag:"swa-epochs"`
	// SWALR is the tail's constant learning rate; 0 is a tenth of LR.
	SWALR float64 `json:"swa_lr,omitempty" flag:"swa-lr"`
	// TTA "flip" also evaluates each epoch with flip test-time
	// augmentation, logged separately ("" is off).
	TTA TTA `json:"tta,omitempty" flag:"tta"`
	// EvalEvery N > 1 evaluates on the test set only after every Nth epoch
	// and after the last (Keras's validation_freq): the epochs between log
	// their training figures only, and last.bin still follows every epoch.
	// Evaluating never changes training, so a run's weights do not depend
	// on it; 0 and 1 evaluate every epoch.
	EvalEvery int `json:"eval_every,omitempty" flag:"eval-every"`
	// Init is the weight initialisation, as layers.ParseInit reads it:
	// "uniform" (PyTorch's default) or "he"; "" is "he", what checkpoints
	// written before the field existed used.
	Init string `json:"init,omitempty" flag:"weight-init"`
	// InitFrom is the checkpoint a fine-tuning run started from (its
	// weights, not its optimizer or schedule; see Options and FineTune).
	InitFrom string `json:"init_from,omitempty"`
	// Freeze is FreezeNone ("" too) or FreezeBody: train only the
	// classifier, every other parameter and BatchNorm statistic frozen.
	Freeze Freeze `json:"freeze,omitempty"`
	// SyncBN synchronises BatchNorm across the ranks of a data-parallel
	// run (layers.Store.SyncBatchNorm): every rank normalises with the
	// statistics of the whole global batch, as one process would. Off,
	// each rank normalises with its own part (DDP's default), and the
	// running statistics are averaged across ranks before every
	// evaluation and checkpoint. One process ignores it.
	SyncBN bool `json:"sync_bn,omitempty" flag:"sync-bn"`
	// TimeBudget > 0 plans the run to end within that much wall time
	// (budget.go): Epochs and SWAEpochs become the plan's, made after the
	// first steps and again after every epoch from the measured speed,
	// evaluations and checkpoints included. The tail keeps its share of
	// the run when the plan reaches 150 epochs, else the run has none.
	TimeBudget time.Duration `json:"time_budget,omitempty" flag:"time-budget"`
	// BudgetAugment lets a budgeted run's first plan choose the
	// augmentation for the length it plans (budget.go): a plan of fewer
	// than 150 epochs trains with the short recipe's Cutout (ShortCutout)
	// and alternating flips from the next epoch on (BudgetPlan.AugmentFrom),
	// a longer one keeps Cutout and the random flips. RecipeFor sets it for
	// budgeted CIFAR-10 runs from scratch given neither Cutout nor
	// AlternateFlips.
	BudgetAugment bool `json:"budget_augment,omitempty"`
	// LowRes > 0 trains the schedule's first LowResEpochs epochs on
	// LowRes×LowRes inputs: progressive resizing (fast.ai; MosaicML
	// Composer's ProgressiveResizing), more epochs in the same time. The
	// epochs after, the SWA tail and every evaluation use the
	// configuration's resolution; the same variables train at both sizes
	// (model.Model.AtResolution). A MobileNet only; 0 is off.
	LowRes int `json:"low_res,omitempty" flag:"low-res"`
	// LowResFraction is the share of Epochs trained at LowRes (0: half).
	LowResFraction float64 `json:"low_res_fraction,omitempty" flag:"low-res-fraction"`
	// LowResMode is how a low-resolution image is made: LowResResize (""
	// too) resamples the whole augmented image to LowRes×LowRes (fast.ai's
	// way, for any data); LowResCrop takes a random LowRes×LowRes window of
	// it, so that objects keep their size (32×32 images: the cifar10
	// configuration; what MosaicML found better on CIFAR-10).
	LowResMode string `json:"low_res_mode,omitempty" flag:"low-res-mode"`
	Seed       uint64 `json:"seed" flag:"seed"`
}

// The ways of making a low-resolution image (Recipe.LowResMode).
const (
	LowResCrop   = "crop"
	LowResResize = "resize"
)

// DefaultLowResFraction is Recipe.LowResFraction's default.
const DefaultLowResFraction = 0.5

// LowResEpochs is how many of the schedule's Epochs train at LowRes: its
// LowResFraction (DefaultLowResFraction when 0), rounded; 0 without LowRes.
func (r Recipe) LowResEpochs() int {
	if r.LowRes <= 0 {
		return 0
	}
	f := r.LowResFraction
	if f == 0 {
		f = DefaultLowResFraction
	}
	return int(math.Round(f * float64(r.Epochs)))
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

// DefaultRecipe is the recipe for MobileNet on CIFAR-10 from scratch: 200
// epochs of Nesterov SGD at a peak rate of 0.2 (1 warm-up epoch, cosine
// decay), label smoothing 0.1, crop and flip with Cutout 16, then an
// 80-epoch SWA tail. It is meant for 32×32 images; RecipeFor adapts it to
// other configurations and to fine-tuning. What each choice was worth, and
// the accuracy it reaches: docs/training.md and results/EXPERIMENTS.md.
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
	case r.BudgetAugment && (r.TimeBudget <= 0 || !r.Augment):
		return fmt.Errorf("augmentation chosen by the plan: needs a time budget and augmentation")
	case r.LowRes < 0:
		return fmt.Errorf("low resolution %d: must not be negative (0: off)", r.LowRes)
	case !(r.LowResFraction >= 0 && r.LowResFraction <= 1):
		return fmt.Errorf("low-resolution fraction %g: must be in [0, 1] (0: %g)", r.LowResFraction, DefaultLowResFraction)
	case r.LowRes == 0 && (r.LowResFraction != 0 || r.LowResMode != ""):
		return fmt.Errorf("low-resolution fraction or mode without a low resolution (--low-res)")
	case r.LowResMode != "" && r.LowResMode != LowResCrop && r.LowResMode != LowResResize:
		return fmt.Errorf("low-resolution mode %q: want %s or %s", r.LowResMode, LowResCrop, LowResResize)
	}
	if r.TimeBudget < 0 {
		return fmt.Errorf("time budget %v: must not be negative", r.TimeBudget)
	}
	if _, err := ParseTTA(string(r.TTA)); err != nil {
		return err
	}
	if _, err := ParseSchedule(string(r.Schedule)); err != nil {
		return err
	}
	if _, err := ParseDecayParams(string(r.DecayParams)); err != nil {
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

// Canonical returns r with every field in one spelling of its meaning: the
// default schedule, weight-decay set and TTA by name, "" Init as the "he"
// of old checkpoints, EvalEvery 0 as 1, SWALR 0 as its rate (SWARate),
// Freeze "" as FreezeNone, a low resolution's fraction and mode by their
// defaults. Two recipes that train alike are then equal.
func (r Recipe) Canonical() Recipe {
	c := r
	if v, err := ParseSchedule(string(c.Schedule)); err == nil {
		c.Schedule = v
	}
	if v, err := ParseDecayParams(string(c.DecayParams)); err == nil {
		c.DecayParams = v
	}
	if v, err := ParseTTA(string(c.TTA)); err == nil {
		c.TTA = v
	}
	if v, err := c.WeightInit(); err == nil {
		c.Init = v.String()
	}
	c.EvalEvery = max(c.EvalEvery, 1)
	c.SWALR = c.SWARate()
	if c.Freeze == "" {
		c.Freeze = FreezeNone
	}
	if c.LowRes > 0 {
		if c.LowResFraction == 0 {
			c.LowResFraction = DefaultLowResFraction
		}
		if c.LowResMode == "" {
			c.LowResMode = LowResResize
		}
	}
	return c
}

// FlagValue is a recipe field as the flag that sets it says it.
type FlagValue struct {
	Flag  string // the field's `flag` tag
	Value any    // the canonical value, negated for a negating flag
}

// Flags lists the fields a flag sets (the `flag` tags), in field order,
// with their canonical values in the flags' terms: what a command compares
// with a checkpoint's recipe.
func (r Recipe) Flags() []FlagValue {
	c := reflect.ValueOf(r.Canonical())
	t := c.Type()
	var out []FlagValue
	for i := 0; i < t.NumField(); i++ {
		tag, ok := t.Field(i).Tag.Lookup("flag")
		if !ok {
			continue
		}
		name, negate, _ := strings.Cut(tag, ",")
		v := c.Field(i).Interface()
		if b, isBool := v.(bool); isBool && negate == "negate" {
			v = !b
		}
		out = append(out, FlagValue{Flag: name, Value: v})
	}
	return out
}

// Purpose is what a run is for; its recipe depends on it.
type Purpose int

// The purposes.
const (
	FromScratch Purpose = iota // a network from its initialisation
	FineTuning                 // from a checkpoint's weights (Recipe.InitFrom)
)

// RecipeFor completes r for the configuration cfg and purpose p: the
// fields the caller chose (given, by their `flag` tags) stay, the others
// follow the rules measured on this project (results/EXPERIMENTS.md):
//   - fine-tuning trains FineTuneEpochs epochs at the peak rate FineTuneLR;
//   - Cutout (DefaultRecipe's 16, measured on 32×32 CIFAR-10 from scratch)
//     only for the cifar10 configuration trained from scratch with
//     augmentation;
//   - the SWA tail, two fifths of Epochs (DefaultRecipe's 80 after 200),
//     only for the cifar10 configuration from scratch without an EMA;
//   - with a time budget, the cifar10 configuration from scratch with
//     augmentation and neither Cutout nor AlternateFlips given: the
//     augmentation chosen by the plan's length (BudgetAugment).
func RecipeFor(cfg model.Config, p Purpose, r Recipe, given func(flag string) bool) Recipe {
	def := DefaultRecipe()
	if p == FineTuning {
		if !given("lr") {
			r.LR = FineTuneLR
		}
		if !given("epochs") {
			r.Epochs = FineTuneEpochs
		}
	}
	scratchCIFAR := cfg.Name == "cifar10" && p == FromScratch
	if !given("cutout") && (!scratchCIFAR || !r.Augment) {
		r.Cutout = 0
	}
	if !given("swa-epochs") {
		r.SWAEpochs = r.Epochs * def.SWAEpochs / def.Epochs
		if !scratchCIFAR || r.EMA > 0 {
			r.SWAEpochs = 0
		}
	}
	r.BudgetAugment = r.TimeBudget > 0 && scratchCIFAR && r.Augment && !given("cutout") && !given("alternate-flips")
	return r
}

package main

import (
	"flag"
	"fmt"
	"runtime"
	"time"

	"github.com/gomobilenet/mobilenet/dist"
	"github.com/gomobilenet/mobilenet/internal/cli"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/train"
)

// flags are cmd/train's flags, parsed; set names those given.
type flags struct {
	set        map[string]bool
	config     *string
	alpha      *float64
	resolution *int
	outStride  *int
	dropout    *float64
	epochs     *int
	batch      *int
	evalBatch  *int
	lr         *float64
	schedule   *train.Decay
	minLR      *float64
	warmup     *float64
	momentum   *float64
	smoothing  *float64
	wd         *float64
	decayOn    *train.ParamSet
	noAugment  *bool
	altFlips   *bool
	cutout     *int
	trivial    *bool
	erasing    *float64
	mixup      *float64
	cutmix     *float64
	emaDecay   *float64
	swaEpochs  *int
	swaLR      *float64
	tta        *train.TTA
	cpuProfile *string
	evalEvery  *int
	weightInit *string
	initPath   *string
	freezeWhat *train.Freeze
	dataDir    *string
	valSplit   *float64
	strict     *bool
	streamMode *string
	out        *string
	seed       *uint64
	maxTime    *time.Duration
	timeBudget *time.Duration
	lowRes     *int
	lowFrac    *float64
	lowMode    *string
	threads    *int
	resume     *string
	limit      *int
	allowData  *bool
	noDownload *bool
	depthwise  *string
	blasName   *string
	precision  *string
	progress   *string
	summary    *bool
	syncBN     *bool
	distWait   *time.Duration
}

// parseFlags reads args; (nil, nil) after -h.
func parseFlags(args []string) (*flags, error) {
	def := train.DefaultRecipe()
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: go run ./cmd/train [flags]\n\nTrains MobileNet v1 on CIFAR-10 or an image folder (or prints its summary with --summary).\n\nFlags:")
		fs.PrintDefaults()
	}
	f := &flags{set: map[string]bool{}}
	f.config = fs.String("config", "cifar10", "network configuration: cifar10 (32×32 inputs, stem stride 1) or imagenet (stride-2 stem, resolution 224 unless --resolution)")
	f.alpha = fs.Float64("alpha", 1.0, "width multiplier, in (0, 1.5]")
	f.resolution = fs.Int("resolution", 0, "input resolution (resolution multiplier); 0 = the configuration's (32 for cifar10, 224 for imagenet)")
	f.outStride = fs.Int("output-stride", 0, "input size over the last feature map's: 0 keeps the paper's strides (16 for cifar10, 32 for imagenet); 8 makes cifar10's last stride-2 block stride 1 (4×4 maps, +40% mult-adds at alpha 0.75)")
	f.dropout = fs.Float64("dropout", 0, "dropout rate before the classifier, in [0, 1)")
	f.epochs = fs.Int("epochs", def.Epochs, fmt.Sprintf("training epochs (%d with --init unless given)", train.FineTuneEpochs))
	f.batch = fs.Int("batch-size", def.BatchSize, "training batch size")
	f.evalBatch = fs.Int("eval-batch-size", def.EvalBatch, "evaluation batch size")
	f.lr = fs.Float64("lr", def.LR, fmt.Sprintf("peak learning rate (after a linear warm-up, then --schedule); %g with --init unless given", train.FineTuneLR))
	f.schedule = new(train.Decay)
	*f.schedule = def.Schedule
	fs.Var(f.schedule, "schedule", "learning rate decay after the warm-up: cosine or linear (to --min-lr, 0 by default) or step (÷10 at 50% and at 75% of the run)")
	f.minLR = fs.Float64("min-lr", def.MinLR, "learning rate the cosine and linear schedules end at (0: they decay to 0)")
	f.warmup = fs.Float64("warmup", def.WarmupEpochs, "warm-up epochs")
	f.momentum = fs.Float64("momentum", def.Momentum, "Nesterov momentum")
	f.smoothing = fs.Float64("label-smoothing", def.LabelSmoothing, "label smoothing ε in [0, 1): train against (1−ε)·one-hot + ε/K")
	f.wd = fs.Float64("weight-decay", def.WeightDecay, "weight decay (coupled, as PyTorch's SGD) on the parameters --decay-params names")
	f.decayOn = new(train.ParamSet)
	*f.decayOn = def.DecayParams
	fs.Var(f.decayOn, "decay-params", "what --weight-decay applies to: conv (standard and pointwise convolutions and the classifier; not depthwise filters, BatchNorm parameters nor biases), weights (every weight tensor, depthwise filters too) or all (every parameter, BatchNorm and biases too)")
	f.noAugment = fs.Bool("no-augment", false, "disable augmentation (cifar10: random crop and flip; imagenet: random resized crop and flip)")
	f.altFlips = fs.Bool("alternate-flips", def.AlternateFlips, "flip each training image in every other epoch (its first flip drawn from --seed) instead of at random each epoch")
	f.cutout = fs.Int("cutout", def.Cutout, "blank a random NxN square of each training image (Cutout; 0 = off; the default applies to cifar10 training from scratch with augmentation, and is 0 otherwise)")
	f.trivial = fs.Bool("trivial-augment", false, "TrivialAugment Wide after the crop and flip (one of 14 image operations at a random strength; 32×32 data)")
	f.erasing = fs.Float64("random-erasing", 0, "probability of erasing a random rectangle (2–33% of the image) of each training image (0 = off)")
	f.mixup = fs.Float64("mixup", 0, "MixUp: blend each training image with another of its batch, weight drawn from Beta(α, α) with this α (e.g. 0.2 or 1; 0 = off)")
	f.cutmix = fs.Float64("cutmix", 0, "CutMix: paste a box of another image of the batch into each training image, area drawn from Beta(α, α) with this α (e.g. 1; 0 = off; with --mixup, each batch takes one)")
	f.emaDecay = fs.Float64("ema", def.EMA, "keep an exponential moving average of the weights with this decay (e.g. 0.999) and evaluate it each epoch; checkpoints then stand for it (0 = off)")
	f.swaEpochs = fs.Int("swa-epochs", def.SWAEpochs, "stochastic weight averaging: after the --epochs of the schedule, this many more at the constant rate --swa-lr, the weights averaged at each one's end (BatchNorm statistics recomputed for the average); checkpoints then stand for the average (0 = off; unless given, two fifths of --epochs for the cifar10 configuration from scratch and 0 otherwise; with --resume it may extend a run, a finished one too)")
	f.swaLR = fs.Float64("swa-lr", def.SWALR, "learning rate of the --swa-epochs (0: a tenth of --lr)")
	f.tta = new(train.TTA)
	*f.tta = def.TTA
	fs.Var(f.tta, "tta", "also evaluate each epoch with test-time augmentation: flip, flip-translate (which reports flip too; six passes a batch) or none")
	f.cpuProfile = fs.String("cpuprofile", "", "write a CPU profile of the whole run (loading, training, evaluation) to this file")
	f.evalEvery = fs.Int("eval-every", def.EvalEvery, "evaluate on the test set every N epochs and after the last (0 or 1: every epoch); the epochs between log training figures only")
	f.weightInit = fs.String("weight-init", def.Init, "weight initialisation: uniform (PyTorch's default, U(±1/√fan_in)) or he (He-normal, fan_out)")
	f.initPath = fs.String("init", "", "start from this checkpoint's weights (fine-tuning: a new run; the classifier is new when the class count differs)")
	f.freezeWhat = new(train.Freeze)
	*f.freezeWhat = train.FreezeNone
	fs.Var(f.freezeWhat, "freeze", "with --init: body trains only the classifier (every other weight and BatchNorm statistic frozen), none fine-tunes everything")
	f.dataDir = fs.String("data", cli.DefaultDataDir(), "CIFAR-10 folder (holding or to receive cifar-10-batches-bin; $"+cli.DataEnv+" moves the default) or an image folder ROOT/<class>/<image>")
	f.valSplit = fs.Float64("val-split", 0.1, "image folders without val/ or test/: the fraction of each class held out for evaluation; CIFAR-10, when given: evaluate on this fraction of each class of the training set (drawn by --seed) instead of the test set")
	f.strict = fs.Bool("strict-images", false, "image folders: stop at an unreadable image instead of skipping it")
	f.streamMode = fs.String("stream", "auto", "image folders: auto streams a folder whose decoded images would not fit in memory (decoded batch by batch by the loader's workers, each rank its own part), always streams, never refuses such a folder")
	f.out = fs.String("out", "checkpoints", "output folder for checkpoints and logs")
	f.seed = fs.Uint64("seed", def.Seed, "random seed (weights, shuffling, augmentation, validation split)")
	f.maxTime = fs.Duration("max-time", 0, "stop training after this much wall time (e.g. 2h50m; 0 = no limit) as Ctrl-C does: last.bin written mid-epoch, --resume continues")
	f.timeBudget = fs.Duration("time-budget", 0, "plan the run to end within this much wall time (e.g. 1h30m; evaluation and checkpoints included): the epochs are planned from the measured speed after the first steps and again after every epoch, so that the schedule ends at the budget rather than being cut off; on CIFAR-10 from scratch a plan under 150 epochs also trains with Cutout 12 and alternating flips unless --cutout or --alternate-flips is given (0 = --epochs decides)")
	f.lowRes = fs.Int("low-res", 0, "progressive resizing: train the first --low-res-fraction of the schedule's epochs on NxN inputs (e.g. 24 for the 32×32 cifar10 network), which cost fewer seconds an epoch; the rest, the SWA tail and every evaluation at the network's resolution, the same weights at both (0 = off)")
	f.lowFrac = fs.Float64("low-res-fraction", 0, "with --low-res: the share of the schedule's epochs trained at the low resolution (0: 0.5)")
	f.lowMode = fs.String("low-res-mode", "", "with --low-res: resize (the whole augmented image resampled to NxN; the default) or crop (a random NxN window of each augmented 32×32 image, objects keeping their size)")
	f.threads = fs.Int("threads", runtime.NumCPU(), "CPU threads to use")
	f.resume = fs.String("resume", "", "checkpoint to resume from (e.g. checkpoints/last.bin); the model and recipe come from it (a flag contradicting them is an error), --epochs and --swa-epochs may extend it")
	f.limit = fs.Int("limit", 0, "CIFAR-10: use only the first N images of each split (0 = all)")
	f.allowData = fs.Bool("allow-data-change", false, "with --resume: continue even if the data differs from the checkpoint's (e.g. another --limit)")
	f.noDownload = fs.Bool("no-download", false, "fail instead of downloading CIFAR-10 when it is missing")
	f.depthwise = fs.String("depthwise", "fused", "depthwise implementation: fused or perchannel")
	f.blasName = fs.String("blas", cli.DefaultBLAS(), cli.BLASUsage)
	f.precision = fs.String("precision", cli.DefaultPrecision, cli.PrecisionUsage)
	f.progress = fs.String("progress", "auto", "progress bars: auto (when standard error is a terminal; a log file gets the per-epoch lines only), on or off")
	f.summary = fs.Bool("summary", false, "print the per-layer summary (parameters, mult-adds) and exit")
	f.syncBN = fs.Bool("sync-bn", false, "under mpirun: normalise every BatchNorm with the statistics of the whole global batch (SyncBatchNorm) instead of each rank's part")
	f.distWait = fs.Duration("dist-timeout", dist.DefaultTimeout, "under mpirun: how long a rank waits for the others in one exchange before it ends the job (a rank dead, hung or unreachable)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	return f, nil
}

// network is the MobileNet the flags describe (a resumed or fine-tuned run
// takes the checkpoint's: prepare).
func (f *flags) network() (model.Config, error) {
	cfg, err := model.Preset(*f.config, *f.alpha)
	if err != nil {
		return cfg, err
	}
	if *f.resolution != 0 {
		cfg.Resolution = *f.resolution
	}
	cfg.Dropout, cfg.OutputStride = *f.dropout, *f.outStride
	return cfg, cfg.Validate()
}

// recipe is the recipe the flags give for cfg: the flags given, and for the
// rest train.RecipeFor's rules for the run's purpose.
func (f *flags) recipe(cfg model.Config) (train.Recipe, error) {
	if *f.freezeWhat != train.FreezeNone && *f.initPath == "" {
		return train.Recipe{}, fmt.Errorf("--freeze %s: needs --init (a checkpoint to start from)", *f.freezeWhat)
	}
	if *f.timeBudget != 0 && f.set["epochs"] {
		return train.Recipe{}, fmt.Errorf("--time-budget plans the epochs: give --time-budget or --epochs, not both")
	}
	if *f.initPath != "" && *f.resume != "" {
		return train.Recipe{}, fmt.Errorf("--init starts a new run and --resume continues one: give one of them")
	}
	r := train.Recipe{Epochs: *f.epochs, BatchSize: *f.batch, EvalBatch: *f.evalBatch, LR: *f.lr, MinLR: *f.minLR, Momentum: *f.momentum, Nesterov: true,
		WeightDecay: *f.wd, WarmupEpochs: *f.warmup, LabelSmoothing: *f.smoothing, Augment: !*f.noAugment, AlternateFlips: *f.altFlips, Cutout: *f.cutout,
		TrivialAugment: *f.trivial, RandomErasing: *f.erasing, MixUp: *f.mixup, CutMix: *f.cutmix, EMA: *f.emaDecay, SWAEpochs: *f.swaEpochs, SWALR: *f.swaLR,
		EvalEvery: *f.evalEvery, TimeBudget: *f.timeBudget, LowRes: *f.lowRes, LowResFraction: *f.lowFrac, LowResMode: *f.lowMode, Init: *f.weightInit, InitFrom: *f.initPath, Freeze: *f.freezeWhat, SyncBN: *f.syncBN, Seed: *f.seed}
	purpose := train.FromScratch
	if *f.initPath != "" {
		purpose = train.FineTuning
	}
	r = train.RecipeFor(cfg, purpose, r, func(flag string) bool { return f.set[flag] })
	r.TTA, r.Schedule, r.DecayParams = *f.tta, *f.schedule, *f.decayOn
	if err := r.Validate(); err != nil {
		return r, err
	}
	if *f.maxTime < 0 {
		return r, fmt.Errorf("--max-time %v: must not be negative", *f.maxTime)
	}
	return r, nil
}

// Command train trains MobileNet v1 on CIFAR-10 or on a folder of images:
//
//	go run ./cmd/train --alpha 0.75
//	go run ./cmd/train --data photos/ --config imagenet --resolution 128 --alpha 0.5
//	go run ./cmd/train --data photos/ --init checkpoints/best.bin --freeze body
//
// CIFAR-10 is downloaded into the data folder (--data, default
// $MOBILENET_DATA or the user's cache folder) when absent, unless
// --no-download. A --data folder laid out as ROOT/<class>/<image> (with
// train/ and val/ or test/ splits, or --val-split) is an image-folder
// dataset. The command shows a progress bar per epoch on a terminal (a log
// file gets a line per epoch; --progress), evaluates on the test set after
// each epoch, appends metrics to OUT/metrics.jsonl and
// writes OUT/last.bin every epoch and OUT/best.bin when test accuracy
// improves. Ctrl-C (or --max-time) finishes the current step, writes
// last.bin and exits; --resume OUT/last.bin continues. --summary prints the per-layer table.
//
// Started by an MPI launcher, it is one rank of a data-parallel run (each
// rank trains on its part of every global --batch-size; rank 0 prints and
// writes the output folder):
//
//	mpirun -np 2 go run ./cmd/train --alpha 0.75
//	mpirun -np 8 -hostfile hosts ./train --alpha 0.75 --batch-size 512 --lr 0.8 --sync-bn
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"time"

	"github.com/gomobilenet/mobilenet/curves"
	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/dist"
	"github.com/gomobilenet/mobilenet/internal/cli"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/train"
)

func main() {
	cli.TuneGC()
	cli.Main("train", run)
}

func run(args []string) (err error) {
	started := time.Now()
	def := train.DefaultRecipe()
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: go run ./cmd/train [flags]\n\nTrains MobileNet v1 on CIFAR-10 or an image folder (or prints its summary with --summary).\n\nFlags:")
		fs.PrintDefaults()
	}
	var (
		config     = fs.String("config", "cifar10", "network configuration: cifar10 (32×32 inputs, stem stride 1) or imagenet (stride-2 stem, resolution 224 unless --resolution)")
		alpha      = fs.Float64("alpha", 1.0, "width multiplier, in (0, 1.5]")
		resolution = fs.Int("resolution", 0, "input resolution (resolution multiplier); 0 = the configuration's (32 for cifar10, 224 for imagenet)")
		outStride  = fs.Int("output-stride", 0, "input size over the last feature map's: 0 keeps the paper's strides (16 for cifar10, 32 for imagenet); 8 makes cifar10's last stride-2 block stride 1 (4×4 maps, +40% mult-adds at alpha 0.75)")
		dropout    = fs.Float64("dropout", 0, "dropout rate before the classifier, in [0, 1)")
		epochs     = fs.Int("epochs", def.Epochs, fmt.Sprintf("training epochs (%d with --init unless given)", train.FineTuneEpochs))
		batch      = fs.Int("batch-size", def.BatchSize, "training batch size")
		evalBatch  = fs.Int("eval-batch-size", def.EvalBatch, "evaluation batch size")
		lr         = fs.Float64("lr", def.LR, fmt.Sprintf("peak learning rate (after a linear warm-up, then --schedule); %g with --init unless given", train.FineTuneLR))
		schedule   = fs.String("schedule", def.Schedule, "learning rate decay after the warm-up: cosine or linear (to --min-lr, 0 by default) or step (÷10 at 50% and at 75% of the run)")
		minLR      = fs.Float64("min-lr", def.MinLR, "learning rate the cosine and linear schedules end at (0: they decay to 0)")
		warmup     = fs.Float64("warmup", def.WarmupEpochs, "warm-up epochs")
		momentum   = fs.Float64("momentum", def.Momentum, "Nesterov momentum")
		smoothing  = fs.Float64("label-smoothing", def.LabelSmoothing, "label smoothing ε in [0, 1): train against (1−ε)·one-hot + ε/K")
		wd         = fs.Float64("weight-decay", def.WeightDecay, "weight decay (coupled, as PyTorch's SGD) on the parameters --decay-params names")
		decayOn    = fs.String("decay-params", def.DecayParams, "what --weight-decay applies to: conv (standard and pointwise convolutions and the classifier; not depthwise filters, BatchNorm parameters nor biases), weights (every weight tensor, depthwise filters too) or all (every parameter, BatchNorm and biases too)")
		noAugment  = fs.Bool("no-augment", false, "disable augmentation (cifar10: random crop and flip; imagenet: random resized crop and flip)")
		altFlips   = fs.Bool("alternate-flips", def.AlternateFlips, "flip each training image in every other epoch (its first flip drawn from --seed) instead of at random each epoch")
		cutout     = fs.Int("cutout", def.Cutout, "blank a random NxN square of each training image (Cutout; 0 = off; the default applies to cifar10 training from scratch with augmentation, and is 0 otherwise)")
		trivial    = fs.Bool("trivial-augment", false, "TrivialAugment Wide after the crop and flip (one of 14 image operations at a random strength; 32×32 data)")
		erasing    = fs.Float64("random-erasing", 0, "probability of erasing a random rectangle (2–33% of the image) of each training image (0 = off)")
		mixup      = fs.Float64("mixup", 0, "MixUp: blend each training image with another of its batch, weight drawn from Beta(α, α) with this α (e.g. 0.2 or 1; 0 = off)")
		cutmix     = fs.Float64("cutmix", 0, "CutMix: paste a box of another image of the batch into each training image, area drawn from Beta(α, α) with this α (e.g. 1; 0 = off; with --mixup, each batch takes one)")
		emaDecay   = fs.Float64("ema", def.EMA, "keep an exponential moving average of the weights with this decay (e.g. 0.999) and evaluate it each epoch; checkpoints then stand for it (0 = off)")
		swaEpochs  = fs.Int("swa-epochs", def.SWAEpochs, "stochastic weight averaging: after the --epochs of the schedule, this many more at the constant rate --swa-lr, the weights averaged at each one's end (BatchNorm statistics recomputed for the average); checkpoints then stand for the average (0 = off; unless given, two fifths of --epochs for the cifar10 configuration from scratch and 0 otherwise; with --resume it may extend a run, a finished one too)")
		swaLR      = fs.Float64("swa-lr", def.SWALR, "learning rate of the --swa-epochs (0: a tenth of --lr)")
		tta        = fs.String("tta", def.TTA, "also evaluate each epoch with test-time augmentation: flip, flip-translate (which reports flip too; six passes a batch) or none")
		cpuProfile = fs.String("cpuprofile", "", "write a CPU profile of the whole run (loading, training, evaluation) to this file")
		evalEvery  = fs.Int("eval-every", def.EvalEvery, "evaluate on the test set every N epochs and after the last (0 or 1: every epoch); the epochs between log training figures only")
		weightInit = fs.String("weight-init", def.Init, "weight initialisation: uniform (PyTorch's default, U(±1/√fan_in)) or he (He-normal, fan_out)")
		initPath   = fs.String("init", "", "start from this checkpoint's weights (fine-tuning: a new run; the classifier is new when the class count differs)")
		freezeWhat = fs.String("freeze", train.FreezeNone, "with --init: body trains only the classifier (every other weight and BatchNorm statistic frozen), none fine-tunes everything")
		dataDir    = fs.String("data", cli.DefaultDataDir(), "CIFAR-10 folder (holding or to receive cifar-10-batches-bin; $"+cli.DataEnv+" moves the default) or an image folder ROOT/<class>/<image>")
		valSplit   = fs.Float64("val-split", 0.1, "image folders without val/ or test/: the fraction of each class held out for evaluation; CIFAR-10, when given: evaluate on this fraction of each class of the training set (drawn by --seed) instead of the test set")
		strict     = fs.Bool("strict-images", false, "image folders: stop at an unreadable image instead of skipping it")
		streamMode = fs.String("stream", "auto", "image folders: auto streams a folder whose decoded images would not fit in memory (decoded batch by batch by the loader's workers, each rank its own part), always streams, never refuses such a folder")
		out        = fs.String("out", "checkpoints", "output folder for checkpoints and logs")
		seed       = fs.Uint64("seed", def.Seed, "random seed (weights, shuffling, augmentation, validation split)")
		maxTime    = fs.Duration("max-time", 0, "stop training after this much wall time (e.g. 2h50m; 0 = no limit) as Ctrl-C does: last.bin written mid-epoch, --resume continues")
		threads    = fs.Int("threads", runtime.NumCPU(), "CPU threads to use")
		resume     = fs.String("resume", "", "checkpoint to resume from (e.g. checkpoints/last.bin); the model and recipe come from it (a flag contradicting them is an error), --epochs and --swa-epochs may extend it")
		limit      = fs.Int("limit", 0, "CIFAR-10: use only the first N images of each split (0 = all)")
		allowData  = fs.Bool("allow-data-change", false, "with --resume: continue even if the data differs from the checkpoint's (e.g. another --limit)")
		noDownload = fs.Bool("no-download", false, "fail instead of downloading CIFAR-10 when it is missing")
		depthwise  = fs.String("depthwise", "fused", "depthwise implementation: fused or perchannel")
		blasName   = fs.String("blas", cli.DefaultBLAS(), cli.BLASUsage)
		precision  = fs.String("precision", cli.DefaultPrecision, cli.PrecisionUsage)
		progress   = fs.String("progress", "auto", "progress bars: auto (when standard error is a terminal; a log file gets the per-epoch lines only), on or off")
		summary    = fs.Bool("summary", false, "print the per-layer summary (parameters, mult-adds) and exit")
		syncBN     = fs.Bool("sync-bn", false, "under mpirun: normalise every BatchNorm with the statistics of the whole global batch (SyncBatchNorm) instead of each rank's part")
		distWait   = fs.Duration("dist-timeout", dist.DefaultTimeout, "under mpirun: how long a rank waits for the others in one exchange before it ends the job (a rank dead, hung or unreachable)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg, err := model.Preset(*config, *alpha)
	if err != nil {
		return err
	}
	if *resolution != 0 {
		cfg.Resolution = *resolution
	}
	cfg.Dropout = *dropout
	cfg.OutputStride = *outStride
	if err := cfg.Validate(); err != nil {
		return err
	}
	if *summary {
		return cfg.WriteSummary(os.Stdout)
	}
	if *freezeWhat != train.FreezeNone && *initPath == "" {
		return fmt.Errorf("--freeze %s: needs --init (a checkpoint to start from)", *freezeWhat)
	}
	if *initPath != "" && *resume != "" {
		return fmt.Errorf("--init starts a new run and --resume continues one: give one of them")
	}
	r := train.Recipe{Epochs: *epochs, BatchSize: *batch, EvalBatch: *evalBatch, LR: *lr, MinLR: *minLR, Momentum: *momentum, Nesterov: true,
		WeightDecay: *wd, WarmupEpochs: *warmup, LabelSmoothing: *smoothing, Augment: !*noAugment, AlternateFlips: *altFlips, Cutout: *cutout, TrivialAugment: *trivial, RandomErasing: *erasing, MixUp: *mixup, CutMix: *cutmix, EMA: *emaDecay, SWAEpochs: *swaEpochs, SWALR: *swaLR, EvalEvery: *evalEvery,
		Init: *weightInit, InitFrom: *initPath, Freeze: *freezeWhat, SyncBN: *syncBN, Seed: *seed}
	if *initPath != "" { // a fine-tune: gentler and shorter unless told
		if !set["lr"] {
			r.LR = train.FineTuneLR
		}
		if !set["epochs"] {
			r.Epochs = train.FineTuneEpochs
		}
	}
	// The default Cutout is CIFAR-10's regulariser for long runs from
	// scratch: not for large images, runs without augmentation or
	// fine-tunes, unless asked for.
	if !set["cutout"] && (cfg.Name != "cifar10" || *noAugment || *initPath != "") {
		r.Cutout = 0
	}
	// The default SWA tail is two fifths of the schedule (80 epochs after
	// 200), for the cifar10 configuration trained from scratch, as
	// measured; not for large images, fine-tunes or beside an EMA unless
	// asked for.
	if !set["swa-epochs"] {
		r.SWAEpochs = r.Epochs * def.SWAEpochs / def.Epochs
		if cfg.Name != "cifar10" || *initPath != "" || r.EMA > 0 {
			r.SWAEpochs = 0
		}
	}
	if r.TTA, err = train.ParseTTA(*tta); err != nil {
		return err
	}
	if r.Schedule, err = train.ParseSchedule(*schedule); err != nil {
		return err
	}
	if r.DecayParams, err = train.ParseDecayParams(*decayOn); err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return err
	}
	if *maxTime < 0 {
		return fmt.Errorf("--max-time %v: must not be negative", *maxTime)
	}
	bars, err := cli.Progress(*progress, os.Stderr)
	if err != nil {
		return err
	}
	// The job: one process, or a rank of an MPI launch.
	comm, err := dist.Open(dist.Config{Timeout: *distWait})
	if err != nil {
		return err
	}
	defer comm.Close()
	ranks, primary := comm.Size(), comm.Rank() == 0
	if ranks > 1 {
		defer func() {
			if err != nil { // the others would wait for this rank: end the job
				fmt.Fprintf(os.Stderr, "train: rank %d of %d: %v\n", comm.Rank(), ranks, err)
				comm.Abort(1)
			}
		}()
		if !set["threads"] { // the cores shared by this host's ranks
			*threads = max(1, runtime.NumCPU()/dist.LocalSize())
		}
		if !primary {
			bars = nil
		}
	}
	say := func(format string, a ...any) {
		if primary {
			fmt.Printf(format, a...)
		}
	}
	// The network: a resumed run's, a fine-tuned checkpoint's (with the
	// data's classes), or the flags' (with the data's classes).
	stream, err := data.ParseStreamMode(*streamMode)
	if err != nil {
		return err
	}
	do := cli.DataOptions{Dir: *dataDir, Download: !*noDownload, Limit: *limit, ValSplit: *valSplit, Seed: *seed, Strict: *strict, TrainSplit: true, Stream: stream, Log: os.Stderr, Progress: bars}
	if !primary {
		do.Log = io.Discard
	}
	folder := cli.IsFolder(*dataDir)
	if !folder && set["val-split"] {
		do.HoldOut = *valSplit
	}
	classes := data.NumClasses
	if folder {
		names, err := cli.FolderClasses(do)
		if err != nil {
			return err
		}
		classes = len(names)
	}
	var input *data.Preprocess
	switch {
	case *resume != "":
		h, _, err := train.ReadCheckpointFrom(comm, *resume)
		if err != nil {
			return err
		}
		if err := resumeConflict(set, *resume, cfg, r, h); err != nil {
			return err
		}
		cfg = h.Config
		do.Seed = h.Recipe.Seed // the validation split the run was drawn with
		if h.Data != nil && h.Data.HeldOut > 0 && !set["val-split"] && !folder {
			do.HoldOut = h.Data.HeldOut
		}
	case *initPath != "":
		c, pre, err := train.FineTune(*initPath, classes, *resolution)
		if err != nil {
			return err
		}
		if err := initConflict(set, *initPath, cfg, c); err != nil {
			return err
		}
		cfg, input = c, &pre
		cfg.Dropout = *dropout
	default:
		cfg.Classes = classes
	}
	if limit := cutoutLimit(cfg); r.Cutout > limit {
		return fmt.Errorf("--cutout %d: must be at most %d, the size of the images it cuts", r.Cutout, limit)
	}
	if *resume == "" {
		if err := train.CheckMemory(cfg, r.BatchSize, r.EvalBatch); err != nil {
			return err
		}
	}
	backend, impl, err := cli.Compute(*threads, *blasName, *depthwise)
	if err != nil {
		return err
	}
	prec, err := cli.Precision("precision", *precision)
	if err != nil {
		return err
	}
	say("blas: %s; threads: %d; depthwise: %s; kernels: %s; precision: %s\n", backend, *threads, impl, layers.Kernels(), prec)
	machine := cli.Machine(*threads, backend, impl, prec)
	if ranks > 1 {
		host, _ := os.Hostname()
		hosts, err := dist.Gather(comm, host)
		if err != nil {
			return err
		}
		machine["ranks"], machine["hosts"], machine["mpi"] = fmt.Sprint(ranks), strings.Join(hosts, ","), comm.Name()
		say("ranks: %d on hosts %s, %d threads each\n", ranks, strings.Join(hosts, ","), *threads)
	}

	stopProfile, err := cli.StartCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	d, err := cli.LoadData(ctx, cfg, do)
	if err != nil {
		return err
	}
	if d.HeldOut {
		say("CIFAR-10: evaluating on %d images held out of the training set (--val-split %g, seed %d), training on the other %d; the test set is not used (cmd/eval measures it)\n", d.Test.Len(), do.HoldOut, do.Seed, d.Train.Len())
	}
	if d.Folder {
		say("image folder %s: %d classes, %d training and %d validation images\n", *dataDir, len(d.Classes), d.Train.Len(), d.Test.Len())
		if input == nil && *resume == "" { // normalised with the training images' statistics
			mean, std := d.Train.Stats()
			input = &data.Preprocess{Mean: mean, Std: std, Resize: train.EvalResize(cfg)}
		}
	}
	if *resume != "" && !set["epochs"] {
		r.Epochs = 0 // keep the checkpoint's: a newer default must not extend an old run
	}
	if *resume != "" && !set["swa-epochs"] {
		r.SWAEpochs = 0
	}
	trainCtx := ctx
	if *maxTime > 0 { // the training's time: the data are loaded
		var cancel context.CancelFunc
		trainCtx, cancel = context.WithTimeout(ctx, *maxTime)
		defer cancel()
	}
	res, err := train.Run(trainCtx, train.Options{Recipe: r, Config: cfg, Depthwise: impl, Precision: prec, OutDir: *out, Resume: *resume,
		Train: d.Train, Test: d.Test, HeldOut: do.HoldOut, Input: input, Log: os.Stderr, Progress: bars, AllowDataChange: *allowData,
		Command: append([]string{"cmd/train"}, args...), Machine: machine, Comm: comm})
	switch {
	case errors.Is(err, train.ErrDataChanged):
		return fmt.Errorf("%w (give the --data and --limit the run started with, or --allow-data-change)", err)
	case errors.Is(err, train.ErrDiverged):
		return fmt.Errorf("%w (--lr)", err)
	case errors.Is(err, train.ErrTooFewImages):
		return fmt.Errorf("%w (raise --limit or lower --batch-size)", err)
	case err != nil:
		return err
	}
	if res.Interrupted {
		why := "stopped"
		if ctx.Err() == nil && errors.Is(trainCtx.Err(), context.DeadlineExceeded) {
			why = fmt.Sprintf("stopped at --max-time %v", *maxTime)
		}
		say("%s after %d epochs; resume with --resume %s/last.bin\n", why, res.Epochs, *out)
		return nil
	}
	if !primary {
		return nil
	}
	if err := curves.Plot(*out); err != nil {
		fmt.Fprintln(os.Stderr, "train: plot:", err)
	}
	fmt.Printf("done: %d epochs, best test accuracy %.4f (%s/best.bin); %v of wall time since this command started\n", res.Epochs, res.BestAcc, *out, time.Since(started).Round(time.Second))
	return nil
}

// cutoutLimit is the largest Cutout: the 32×32 image of the CIFAR-10
// configuration (whatever the resolution), else the network's input.
func cutoutLimit(cfg model.Config) int {
	if cfg.Name == "cifar10" {
		return data.ImageSize
	}
	return cfg.Resolution
}

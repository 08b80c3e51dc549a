// Command train trains MobileNet v1 on CIFAR-10:
//
//	go run ./cmd/train --alpha 0.75
//
// It downloads CIFAR-10 into --data when absent (unless --no-download),
// shows a progress bar per epoch, evaluates on the test set after each
// epoch, appends metrics to OUT/metrics.jsonl and writes OUT/last.bin every
// epoch and OUT/best.bin when test accuracy improves. Ctrl-C finishes the
// current step, writes last.bin and exits; --resume OUT/last.bin continues.
// --summary prints the per-layer table and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/internal/cli"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/train"
)

func main() {
	cli.TuneGC()
	cli.Main("train", run)
}

func run(args []string) error {
	def := train.DefaultRecipe()
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: go run ./cmd/train [flags]\n\nTrains MobileNet v1 on CIFAR-10 (or prints its summary with --summary).\n\nFlags:")
		fs.PrintDefaults()
	}
	var (
		config     = fs.String("config", "cifar10", "network configuration: cifar10 or imagenet (imagenet only with --summary)")
		alpha      = fs.Float64("alpha", 1.0, "width multiplier, in (0, 1.5]")
		resolution = fs.Int("resolution", 0, "input resolution (resolution multiplier); 0 = the configuration's (32 for cifar10, 224 for imagenet)")
		dropout    = fs.Float64("dropout", 0, "dropout rate before the classifier, in [0, 1)")
		epochs     = fs.Int("epochs", def.Epochs, "training epochs")
		batch      = fs.Int("batch-size", def.BatchSize, "training batch size")
		evalBatch  = fs.Int("eval-batch-size", def.EvalBatch, "evaluation batch size")
		lr         = fs.Float64("lr", def.LR, "peak learning rate (after a linear warm-up, cosine decay to 0)")
		warmup     = fs.Float64("warmup", def.WarmupEpochs, "warm-up epochs")
		momentum   = fs.Float64("momentum", def.Momentum, "Nesterov momentum")
		smoothing  = fs.Float64("label-smoothing", def.LabelSmoothing, "label smoothing ε in [0, 1): train against (1−ε)·one-hot + ε/10")
		wd         = fs.Float64("weight-decay", def.WeightDecay, "weight decay on conv and dense weights (not depthwise filters, BatchNorm parameters nor biases)")
		noAugment  = fs.Bool("no-augment", false, "disable random crop and flip")
		cutout     = fs.Int("cutout", def.Cutout, "blank a random NxN square of each training image (Cutout; 0 = off)")
		emaDecay   = fs.Float64("ema", def.EMA, "keep an exponential moving average of the weights with this decay (e.g. 0.999) and evaluate it each epoch; checkpoints then stand for it (0 = off)")
		tta        = fs.String("tta", def.TTA, "also evaluate each epoch with test-time augmentation: flip (or none)")
		dataDir    = fs.String("data", "./data", "folder holding (or to receive) cifar-10-batches-bin")
		out        = fs.String("out", "checkpoints", "output folder for checkpoints and logs")
		weightInit = fs.String("weight-init", def.Init, "weight initialisation: uniform (PyTorch's default, U(±1/√fan_in)) or he (He-normal, fan_out)")
		seed       = fs.Uint64("seed", def.Seed, "random seed (weights, shuffling, augmentation)")
		threads    = fs.Int("threads", runtime.NumCPU(), "CPU threads to use")
		resume     = fs.String("resume", "", "checkpoint to resume from (e.g. checkpoints/last.bin); the model and recipe come from it, --epochs may extend it")
		limit      = fs.Int("limit", 0, "use only the first N images of each split (0 = all)")
		allowData  = fs.Bool("allow-data-change", false, "with --resume: continue even if the data differs from the checkpoint's (e.g. another --limit)")
		noDownload = fs.Bool("no-download", false, "fail instead of downloading CIFAR-10 when it is missing")
		depthwise  = fs.String("depthwise", "fused", "depthwise implementation: fused or perchannel")
		blasName   = fs.String("blas", "auto", "matrix-multiply backend: auto, go or openblas")
		summary    = fs.Bool("summary", false, "print the per-layer summary (parameters, mult-adds) and exit")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	cfg, err := model.Preset(*config, *alpha)
	if err != nil {
		return err
	}
	if *resolution != 0 {
		cfg.Resolution = *resolution
	}
	cfg.Dropout = *dropout
	if err := cfg.Validate(); err != nil {
		return err
	}
	if *summary {
		return cfg.WriteSummary(os.Stdout)
	}
	if cfg.Name != "cifar10" {
		return fmt.Errorf("--config %s: training runs on CIFAR-10 only (use --summary to inspect it)", cfg.Name)
	}
	if *limit < 0 {
		return fmt.Errorf("--limit %d: must not be negative", *limit)
	}
	r := train.Recipe{Epochs: *epochs, BatchSize: *batch, EvalBatch: *evalBatch, LR: *lr, Momentum: *momentum, Nesterov: true,
		WeightDecay: *wd, WarmupEpochs: *warmup, LabelSmoothing: *smoothing, Augment: !*noAugment, Cutout: *cutout, EMA: *emaDecay, Init: *weightInit, Seed: *seed}
	if r.TTA, err = train.ParseTTA(*tta); err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return err
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
	fmt.Printf("blas: %s; threads: %d; depthwise: %s; kernels: %s\n", backend, *threads, impl, layers.Kernels())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := data.Ensure(ctx, *dataDir, !*noDownload, data.Official(os.Stderr)); err != nil {
		return err
	}
	trainSet, err := data.Load(*dataDir, data.Train, *limit)
	if err != nil {
		return err
	}
	testSet, err := data.Load(*dataDir, data.Test, *limit)
	if err != nil {
		return err
	}
	if *resume != "" {
		epochsSet := false
		fs.Visit(func(f *flag.Flag) { epochsSet = epochsSet || f.Name == "epochs" })
		if !epochsSet {
			r.Epochs = 0 // keep the checkpoint's: a newer default must not extend an old run
		}
	}
	res, err := train.Run(ctx, train.Options{Recipe: r, Config: cfg, Depthwise: impl, OutDir: *out, Resume: *resume,
		Train: trainSet, Test: testSet, Log: os.Stderr, AllowDataChange: *allowData})
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
		fmt.Printf("stopped after %d epochs; resume with --resume %s/last.bin\n", res.Epochs, *out)
		return nil
	}
	if err := train.PlotMetrics(*out); err != nil {
		fmt.Fprintln(os.Stderr, "train: plot:", err)
	}
	fmt.Printf("done: %d epochs, best test accuracy %.4f (%s/best.bin)\n", res.Epochs, res.BestAcc, *out)
	return nil
}

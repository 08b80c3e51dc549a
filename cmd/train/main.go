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
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/gomobilenet/mobilenet/curves"
	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/internal/cli"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/train"
)

func main() {
	cli.TuneGC()
	cli.Main("train", run)
}

func run(args []string) (err error) {
	started := time.Now()
	f, err := parseFlags(args)
	if err != nil {
		return err
	}
	cfg, err := f.network()
	if err != nil {
		return err
	}
	if *f.summary {
		return cfg.WriteSummary(os.Stdout)
	}
	r, err := f.recipe(cfg)
	if err != nil {
		return err
	}
	bars, err := cli.Progress(*f.progress, os.Stderr)
	if err != nil {
		return err
	}
	j, err := openJob(f, bars) // one process, or a rank of an MPI launch
	if err != nil {
		return err
	}
	defer j.close(&err)
	s, err := prepare(f, j, cfg, r)
	if err != nil {
		return err
	}
	stopProfile, err := cli.StartCPUProfile(*f.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	d, err := s.load(ctx, f, j)
	if err != nil {
		return err
	}
	trainCtx := ctx
	if *f.maxTime > 0 { // the training's time: the data are loaded
		var cancel context.CancelFunc
		trainCtx, cancel = context.WithTimeout(ctx, *f.maxTime)
		defer cancel()
	}
	res, err := train.Run(trainCtx, train.Options{Started: started, Recipe: s.r, Config: s.cfg, Depthwise: s.impl, Precision: s.prec, OutDir: *f.out, Resume: *f.resume,
		Train: d.Train, Test: d.Test, HeldOut: s.do.HoldOut, Input: s.input, Log: os.Stderr, Progress: j.bars, AllowDataChange: *f.allowData,
		Command: append([]string{"cmd/train"}, args...), Machine: s.machine, Comm: j.comm, Saved: s.saved})
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
			why = fmt.Sprintf("stopped at --max-time %v", *f.maxTime)
		}
		j.say("%s after %d epochs; resume with --resume %s/last.bin\n", why, res.Epochs, *f.out)
		return nil
	}
	if !j.primary {
		return nil
	}
	if err := curves.Plot(*f.out); err != nil {
		fmt.Fprintln(os.Stderr, "train: plot:", err)
	}
	fmt.Printf("done: %d epochs, best test accuracy %.4f (%s/best.bin); %v of wall time since this command started\n", res.Epochs, res.BestAcc, *f.out, time.Since(started).Round(time.Second))
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

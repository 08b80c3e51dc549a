// Command eval evaluates a checkpoint on the CIFAR-10 test set:
//
//	go run ./cmd/eval checkpoints/best.bin
//
// The model is rebuilt from the checkpoint alone. It prints top-1 accuracy,
// mean loss, per-class accuracy, the confusion matrix and images/s, or one
// JSON object with --json.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/gomobilenet/mobilenet/evaluate"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/internal/cli"
	"github.com/gomobilenet/mobilenet/layers"
)

func main() {
	cli.TuneGC()
	cli.Main("eval", run)
}

func run(args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: go run ./cmd/eval [flags] CHECKPOINT\n\nEvaluates a checkpoint on the CIFAR-10 test set (with --val-split, on the\npart of the training set cmd/train held out), or on an image folder's\nvalidation split (its val/ or test/ folder, else the --val-split fraction,\nas cmd/train held out).\n\nFlags:")
		fs.PrintDefaults()
	}
	var (
		dataDir    = fs.String("data", cli.DefaultDataDir(), "CIFAR-10 folder (holding or to receive cifar-10-batches-bin; $"+cli.DataEnv+" moves the default) or an image folder ROOT/<class>/<image>")
		valSplit   = fs.Float64("val-split", 0.1, "the fraction of each class cmd/train held out: of an image folder without val/ or test/, or, when given, of CIFAR-10's training set (evaluated instead of the test set)")
		seed       = fs.Uint64("seed", 1, "the seed of the held-out fraction (default: the checkpoint's)")
		batch      = fs.Int("batch-size", 250, "evaluation batch size")
		limit      = fs.Int("limit", 0, "CIFAR-10: evaluate only the first N test images (0 = all); with --val-split, read only the first N training images, as cmd/train --limit did")
		noDownload = fs.Bool("no-download", false, "fail instead of downloading CIFAR-10 when it is missing")
		asJSON     = fs.Bool("json", false, "print one JSON object instead of tables")
		threads    = fs.Int("threads", runtime.NumCPU(), "CPU threads to use")
		depthwise  = fs.String("depthwise", "fused", "depthwise implementation: fused or perchannel")
		blasName   = fs.String("blas", cli.DefaultBLAS(), cli.BLASUsage)
		precision  = fs.String("precision", cli.DefaultPrecision, cli.PrecisionUsage)
		agreeWith  = fs.String("compare-precision", "", "also run the images in this precision (fp32 or bf16) and report how often the top-1 class agrees with --precision's, and the largest probability difference")
		progress   = fs.String("progress", "auto", "progress bars: auto (when standard error is a terminal), on or off")
		tta        = fs.String("tta", "none", "also evaluate with test-time augmentation: flip (the mean of the logits of each image and its mirror image) or flip-translate (flip, averaged with flip of the image shifted by one pixel each way)")
	)
	pos, err := cli.Parse(fs, args) // flags before or after the paths
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("want one checkpoint path, got %d (usage: eval [flags] CHECKPOINT)", len(pos))
	}
	if *batch <= 0 || *limit < 0 {
		return fmt.Errorf("--batch-size must be positive and --limit non-negative")
	}
	bars, err := cli.Progress(*progress, os.Stderr)
	if err != nil {
		return err
	}
	backend, impl, err := cli.Compute(*threads, *blasName, *depthwise)
	if err != nil {
		return err
	}
	prec, precNote, err := cli.Precision("precision", *precision)
	if err != nil {
		return err
	}
	info := os.Stdout
	if *asJSON {
		info = os.Stderr
	}
	fmt.Fprintf(info, "blas: %s; threads: %d; kernels: %s; precision: %s\n", backend, *threads, layers.Kernels(), cli.PrecisionText(prec, precNote))
	m, hdr, err := evaluate.Load(pos[0], impl)
	if err != nil {
		return err
	}
	m.Store.SetPrecision(prec)
	ttaName, err := evaluate.ParseTTA(*tta)
	if err != nil {
		return err
	}
	ev, err := evaluate.New(m, *batch)
	if err != nil {
		return err
	}
	defer ev.Close()
	pre := hdr.Preprocess()
	ev.TTA, ev.Input = ttaName, &pre
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	do := cli.DataOptions{Dir: *dataDir, Download: !*noDownload, Limit: *limit, ValSplit: *valSplit, Seed: *seed, Log: os.Stderr, Progress: bars}
	if !set["seed"] {
		do.Seed = hdr.Seed() // the split the run was drawn with
	}
	folder := cli.IsFolder(*dataDir)
	if !folder && set["val-split"] {
		do.HoldOut = *valSplit
	}
	names, _ := hdr.ClassNames()
	dataClasses, what := data.DefaultClassNames, "CIFAR-10"
	if folder { // the classes are known before anything is decoded
		if dataClasses, err = cli.FolderClasses(do); err != nil {
			return err
		}
		what = "the image folder"
	}
	if len(dataClasses) != m.Config.Classes {
		return fmt.Errorf("checkpoint %s: the model has %d classes, %s has %d", pos[0], m.Config.Classes, what, len(dataClasses))
	}
	d, err := cli.LoadData(ctx, m.Config, do)
	if err != nil {
		return err
	}
	if !slices.Equal(d.Classes, names) {
		return fmt.Errorf("checkpoint %s: its classes (%s) are not %s's (%s)", pos[0], brief(names), what, brief(d.Classes))
	}
	evaluated := "test"
	switch {
	case d.Folder:
		evaluated = "validation"
	case d.HeldOut:
		evaluated = "held-out"
		fmt.Fprintf(info, "evaluating %d images held out of CIFAR-10's training set (--val-split %g, seed %d)\n", d.Test.Len(), do.HoldOut, do.Seed)
	}
	if *agreeWith != "" {
		other, _, err := cli.Precision("compare-precision", *agreeWith)
		if err != nil {
			return err
		}
		g, err := ev.ComparePrecision(ctx, d.Test, other, prec)
		if err != nil {
			return err
		}
		fmt.Fprintln(info, g)
	}
	res, err := ev.Run(ctx, d.Test, bars)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(map[string]any{"checkpoint": pos[0], "config": m.Config, "epoch": hdr.Epoch, "recipe": hdr.Recipe, "data": evaluated,
			"accuracy": res.Accuracy, "loss": res.Loss, "per_class": res.PerClass, "confusion": res.Confusion,
			"classes": res.Classes, "images": res.Images, "images_per_s": res.ImagesPS, "tta_flip": res.Flip, "tta_flip_translate": res.FlipTranslate})
	}
	c := m.Config
	fmt.Printf("checkpoint %s: MobileNet v1 %s, epoch %d\n", pos[0], c.Describe(), hdr.Epoch)
	fmt.Printf("trained with: %s\n", hdr.RecipeSummary())
	fmt.Printf("top-1 accuracy %.4f, mean loss %.4f, %d images, %.0f images/s\n", res.Accuracy, res.Loss, res.Images, res.ImagesPS)
	if res.Flip != nil {
		fmt.Printf("with flip test-time augmentation: top-1 accuracy %.4f, mean loss %.4f (the table below is without)\n", res.Flip.Accuracy, res.Flip.Loss)
	}
	if res.FlipTranslate != nil {
		fmt.Printf("with flip-translate test-time augmentation: top-1 accuracy %.4f, mean loss %.4f\n", res.FlipTranslate.Accuracy, res.FlipTranslate.Loss)
	}
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 1, ' ', tabwriter.AlignRight)
	short := make([]string, len(res.Classes))
	for i, n := range res.Classes {
		short[i] = n[:min(len(n), 5)]
	}
	fmt.Fprintf(tw, "true \\ predicted\t%s\taccuracy\t\n", strings.Join(short, "\t"))
	for i, row := range res.Confusion {
		cells := make([]string, len(row))
		for j, v := range row {
			cells[j] = fmt.Sprint(v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.4f\t\n", res.Classes[i], strings.Join(cells, "\t"), res.PerClass[i])
	}
	return tw.Flush()
}

// brief lists the first few names.
func brief(names []string) string {
	if len(names) > 4 {
		return strings.Join(names[:4], ", ") + ", …"
	}
	return strings.Join(names, ", ")
}

// Command predict classifies images with a trained checkpoint:
//
//	go run ./cmd/predict checkpoints/best.bin photo.jpg [more images or folders]
//
// It prints, per image, the top classes with their probabilities (class
// names from the checkpoint), or one JSON object per line with --json. The
// images (JPEG or PNG; folders are searched recursively) go through the
// checkpoint's own preprocessing and batched inference (package classify); an
// unreadable image is reported by path and skipped, and the exit status is 1
// if any was.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/gomobilenet/mobilenet/evaluate"
	"image"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/gomobilenet/mobilenet/classify"
	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/internal/cli"
)

func main() {
	cli.TuneGC()
	cli.Main("predict", run)
}

// Prediction is one image's result.
type Prediction struct {
	Path  string  `json:"path"`
	Top   []Class `json:"top"`
	Error string  `json:"error,omitempty"`
}

// Class is a class and its probability.
type Class = classify.Class

func run(args []string) error {
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: go run ./cmd/predict [flags] CHECKPOINT IMAGE|FOLDER...\n\nClassifies JPEG and PNG images with a checkpoint.\n\nFlags:")
		fs.PrintDefaults()
	}
	var (
		top       = fs.Int("top", 5, "classes to print per image")
		asJSON    = fs.Bool("json", false, "one JSON object per image and line")
		batch     = fs.Int("batch-size", 64, "images per inference batch")
		threads   = fs.Int("threads", runtime.NumCPU(), "CPU threads to use")
		blasName  = fs.String("blas", cli.DefaultBLAS(), cli.BLASUsage)
		precision = fs.String("precision", cli.DefaultPrecision, cli.PrecisionUsage)
		tta       = fs.String("tta", "none", "test-time augmentation: flip (the mean of the logits of each image and its mirror image) or flip-translate (flip, averaged with flip of the image shifted by one pixel each way)")
	)
	pos, err := cli.Parse(fs, args) // flags before or after the paths
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return fmt.Errorf("want a checkpoint and at least one image or folder (usage: predict [flags] CHECKPOINT IMAGE...)")
	}
	if *top < 1 || *batch < 1 {
		return fmt.Errorf("--top and --batch-size must be positive")
	}
	ttaName, err := evaluate.ParseTTA(*tta)
	if err != nil {
		return err
	}
	if _, _, err := cli.Compute(*threads, *blasName, "fused"); err != nil {
		return err
	}
	prec, _, err := cli.Precision("precision", *precision)
	if err != nil {
		return err
	}
	m, hdr, err := evaluate.Load(pos[0], 0)
	if err != nil {
		return err
	}
	names, recorded := hdr.ClassNames()
	if !recorded {
		fmt.Fprintf(os.Stderr, "predict: %s records no class names (an older checkpoint): using %s, %s, …\n", pos[0], names[0], names[min(1, len(names)-1)])
	}
	if pre := hdr.Preprocess(); pre.Validate() != nil {
		return fmt.Errorf("%s: %w", pos[0], pre.Validate())
	}
	paths, err := data.ImagePaths(pos[1:])
	if err != nil {
		return err
	}
	bs := min(*batch, len(paths))
	c, err := classify.New(m, hdr, classify.Options{Precision: prec, TTA: ttaName, Batch: bs, Wait: -1})
	if err != nil {
		return err
	}
	defer c.Close()
	failed := 0
	emit := func(p Prediction) {
		if p.Error != "" {
			failed++
			fmt.Fprintf(os.Stderr, "predict: %s\n", p.Error)
		}
		write(os.Stdout, p, *asJSON)
	}
	ctx := context.Background()
	for start := 0; start < len(paths); start += bs {
		var imgs []image.Image
		var ok []string
		for _, p := range paths[start:min(start+bs, len(paths))] {
			img, err := data.DecodeFile(p)
			if err != nil {
				emit(Prediction{Path: p, Error: err.Error()})
				continue
			}
			imgs, ok = append(imgs, img), append(ok, p)
		}
		if len(ok) == 0 {
			continue
		}
		tops, err := c.ClassifyBatch(ctx, imgs, *top)
		if err != nil { // one image the preprocessing refuses: each on its own, to name it
			for i, img := range imgs {
				t, err := c.Classify(ctx, img, *top)
				if err != nil {
					emit(Prediction{Path: ok[i], Error: fmt.Sprintf("%s: %v", ok[i], err)})
					continue
				}
				emit(Prediction{Path: ok[i], Top: t})
			}
			continue
		}
		for i, p := range ok {
			emit(Prediction{Path: p, Top: tops[i]})
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images could not be read", failed, len(paths))
	}
	return nil
}

func write(w io.Writer, p Prediction, asJSON bool) {
	if p.Error != "" && !asJSON {
		return // said on standard error
	}
	if asJSON {
		b, _ := json.Marshal(p)
		fmt.Fprintln(w, string(b))
		return
	}
	parts := make([]string, len(p.Top))
	for i, c := range p.Top {
		parts[i] = fmt.Sprintf("%s %.3f", c.Name, c.Prob)
	}
	fmt.Fprintf(w, "%s: %s\n", p.Path, strings.Join(parts, ", "))
}

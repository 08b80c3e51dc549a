// Command predict classifies images with a trained checkpoint:
//
//	go run ./cmd/predict checkpoints/best.bin photo.jpg [more images or folders]
//
// It prints, per image, the top classes with their probabilities (class
// names from the checkpoint), or one JSON object per line with --json. The
// images (JPEG or PNG; folders are searched recursively) go through the
// checkpoint's own preprocessing and one batched inference graph; an
// unreadable image is reported by path and skipped, and the exit status is 1
// if any was.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/internal/cli"
	"github.com/gomobilenet/mobilenet/train"
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
type Class struct {
	Index int     `json:"index"`
	Name  string  `json:"name"`
	Prob  float64 `json:"probability"`
}

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
		precision = fs.String("precision", "fp32", cli.PrecisionUsage)
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
	ttaName, err := train.ParseTTA(*tta)
	if err != nil {
		return err
	}
	if _, _, err := cli.Compute(*threads, *blasName, "fused"); err != nil {
		return err
	}
	prec, err := cli.Precision("precision", *precision)
	if err != nil {
		return err
	}
	m, hdr, err := train.LoadModel(pos[0], 0)
	if err != nil {
		return err
	}
	m.Store.SetPrecision(prec)
	names, recorded := hdr.ClassNames()
	if !recorded {
		fmt.Fprintf(os.Stderr, "predict: %s records no class names (an older checkpoint): using %s, %s, …\n", pos[0], names[0], names[min(1, len(names)-1)])
	}
	pre := hdr.Preprocess()
	if err := pre.Validate(); err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	paths, err := data.ImagePaths(pos[1:])
	if err != nil {
		return err
	}
	res := m.Config.Resolution
	bs := min(*batch, len(paths))
	ev, err := train.NewEvaluator(m, bs)
	if err != nil {
		return err
	}
	defer ev.Close()
	k := m.Config.Classes
	x := make([]float32, bs*3*res*res)
	failed := 0
	emit := func(p Prediction) {
		if p.Error != "" {
			failed++
			fmt.Fprintf(os.Stderr, "predict: %s\n", p.Error)
		}
		write(os.Stdout, p, *asJSON)
	}
	for start := 0; start < len(paths); start += bs {
		chunk := paths[start:min(start+bs, len(paths))]
		var ok []string
		for _, p := range chunk {
			img, err := data.DecodeFile(p)
			if err == nil {
				err = pre.Apply(x[len(ok)*3*res*res:(len(ok)+1)*3*res*res], img, res)
			}
			if err != nil {
				emit(Prediction{Path: p, Error: err.Error()})
				continue
			}
			ok = append(ok, p)
		}
		if len(ok) == 0 {
			continue
		}
		clear(x[len(ok)*3*res*res:])
		logits, err := ev.LogitsTTA(x, ttaName)
		if err != nil {
			return err
		}
		for i, p := range ok {
			emit(Prediction{Path: p, Top: topK(logits[i*k:(i+1)*k], names, *top)})
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images could not be read", failed, len(paths))
	}
	return nil
}

// topK returns the k most probable classes (softmax of the logits).
func topK(logits []float32, names []string, k int) []Class {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	var sum float64
	probs := make([]float64, len(logits))
	for i, v := range logits {
		probs[i] = math.Exp(float64(v) - mx)
		sum += probs[i]
	}
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return probs[idx[a]] > probs[idx[b]] })
	k = min(k, len(idx))
	out := make([]Class, k)
	for i := 0; i < k; i++ {
		out[i] = Class{Index: idx[i], Name: names[idx[i]], Prob: probs[idx[i]] / sum}
	}
	return out
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

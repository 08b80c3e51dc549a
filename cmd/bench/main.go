// Command bench times MobileNet training steps (forward, loss, backward and
// SGD update) and inference on random data, after warm-up, and prints one
// JSON line per measurement, with the keys of ../shared/bench/pytorch_mobilenet.py:
//
//	go run ./cmd/bench --alpha 0.75
//
// Peak RSS is the process's; run one alpha per process (scripts/compare.sh
// does) for a per-alpha figure.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gomobilenet/mobilenet/evaluate"
	"github.com/gomobilenet/mobilenet/internal/cli"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/train"
)

func main() { cli.Main("bench", run) }

func run(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var (
		alphas    = fs.String("alpha", "0.25,0.5,0.75,1.0", "width multipliers, comma-separated")
		batch     = fs.Int("batch", 128, "training batch size")
		evalBatch = fs.Int("eval-batch", 256, "inference batch size")
		threads   = fs.Int("threads", runtime.NumCPU(), "CPU threads")
		steps     = fs.Int("steps", 10, "timed steps")
		warmup    = fs.Int("warmup", 3, "untimed warm-up steps before them")
		blasName  = fs.String("blas", cli.DefaultBLAS(), cli.BLASUsage)
		depthwise = fs.String("depthwise", "fused", "depthwise implementation: fused or perchannel")
		modes     = fs.String("mode", "train,eval", "what to time: train, eval or both")
		cpuprof   = fs.String("cpuprofile", "", "write a CPU profile of the timed steps to this file")
		config    = fs.String("config", "cifar10", "network configuration: cifar10 or imagenet")
		res       = fs.Int("resolution", 0, "input resolution (0: the configuration's)")
		outStride = fs.Int("output-stride", 0, "input size over the last feature map's (0: the paper's; 8 keeps 4×4 maps at the end of the cifar10 network)")
		precision = fs.String("precision", cli.DefaultPrecision, cli.PrecisionUsage)
		engine    = fs.String("engine", "plan", "inference: plan (compiled: BatchNorm folded, weights packed once; package infer) or graph (the Gorgonia graph)")
		save      = fs.String("save", "", "also write each timed model (random weights) as a checkpoint to this path, for cmd/export (scripts/compare.sh times ONNX Runtime on it); one alpha at a time")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *batch <= 0 || *evalBatch <= 0 || *threads <= 0 || *steps <= 0 || *warmup < 0 {
		return fmt.Errorf("--batch, --eval-batch, --threads and --steps must be positive, --warmup not negative")
	}
	newEvaluator := map[string]func(layers.Network, int) (*evaluate.Evaluator, error){"plan": evaluate.New, "graph": evaluate.NewGraph}[*engine]
	if newEvaluator == nil {
		return fmt.Errorf("--engine %q: want plan or graph", *engine)
	}
	backend, impl, err := cli.Compute(*threads, *blasName, *depthwise)
	if err != nil {
		return err
	}
	prec, precNote, err := cli.Precision("precision", *precision)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "blas: %s; threads: %d; depthwise: %s; kernels: %s; precision: %s\n", backend, *threads, impl, layers.Kernels(), cli.PrecisionText(prec, precNote))
	stopProfile, err := cli.StartCPUProfile(*cpuprof)
	if err != nil {
		return err
	}
	defer stopProfile()
	var as []float64
	for _, s := range strings.Split(*alphas, ",") {
		a, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return fmt.Errorf("--alpha %q: %w", s, err)
		}
		as = append(as, a)
	}
	for _, a := range as {
		cfg, err := model.Preset(*config, a)
		if err != nil {
			return err
		}
		if *res != 0 {
			cfg.Resolution = *res
		}
		cfg.OutputStride = *outStride
		cfg.Classes = 10 // the random labels' classes
		if err := cfg.Validate(); err != nil {
			return err
		}
		m, err := model.New(cfg, model.Options{Seed: 1, Depthwise: impl})
		if err != nil {
			return err
		}
		m.Store.SetPrecision(prec)
		if *save != "" {
			if len(as) > 1 {
				return fmt.Errorf("--save takes one --alpha")
			}
			if err := train.WriteModel(*save, m, cfg); err != nil {
				return err
			}
		}
		rng := rand.New(rand.NewPCG(1, 2))
		if strings.Contains(*modes, "train") {
			tr, err := train.NewTrainer(m, *batch, train.NewSGD(0.9, 5e-4, true))
			if err != nil {
				return err
			}
			x, y := randomBatch(rng, *batch, cfg.Resolution)
			t, err := timed(*warmup, *steps, func() error { _, _, err := tr.Step(x, y, 0.01); return err })
			tr.Close()
			if err != nil {
				return err
			}
			emit(backend, impl, prec, cfg, *threads, "train", *batch, t, "graph")
		}
		if strings.Contains(*modes, "eval") {
			ev, err := newEvaluator(m, *evalBatch)
			if err != nil {
				return err
			}
			x, _ := randomBatch(rng, *evalBatch, cfg.Resolution)
			t, err := timed(*warmup, *steps, func() error { _, err := ev.Logits(x); return err })
			ev.Close()
			if err != nil {
				return err
			}
			emit(backend, impl, prec, cfg, *threads, "eval", *evalBatch, t, ev.Engine())
		}
	}
	return nil
}

func randomBatch(r *rand.Rand, n, res int) ([]float32, []int) {
	x := make([]float32, n*3*res*res)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y := make([]int, n)
	for i := range y {
		y[i] = r.IntN(10)
	}
	return x, y
}

// timed runs f warmup times, then steps times, and returns the median.
func timed(warmup, steps int, f func() error) (float64, error) {
	for i := 0; i < warmup; i++ {
		if err := f(); err != nil {
			return 0, err
		}
	}
	ts := make([]float64, steps)
	for i := range ts {
		t := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		ts[i] = time.Since(t).Seconds()
	}
	slices.Sort(ts)
	return ts[steps/2], nil
}

func emit(backend string, impl layers.DepthwiseImpl, prec layers.Precision, cfg model.Config, threads int, mode string, batch int, t float64, engine string) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	name := "go"
	if strings.HasPrefix(backend, "openblas") {
		name = "openblas"
	}
	line, _ := json.Marshal(map[string]any{"impl": "gorgonia", "alpha": cfg.Alpha, "config": cfg.Name, "resolution": cfg.Resolution, "threads": threads, "mode": mode, "batch": batch,
		"step_s": round(t, 4), "images_per_s": round(float64(batch)/t, 1), "peak_rss_mib": ru.Maxrss / 1024, "blas": name, "depthwise": impl.String(),
		"cpu": cli.CPUName(), "kernels": layers.Kernels(), "blas_detail": backend, "precision": prec.String(), "engine": engine})
	fmt.Println(string(line))
}

func round(x float64, d int) float64 {
	p := 1.0
	for i := 0; i < d; i++ {
		p *= 10
	}
	return float64(int64(x*p+0.5)) / p
}

package train

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/schollz/progressbar/v3"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// EvalResult is the outcome of an evaluation.
type EvalResult struct {
	Images    int       `json:"images"`
	Accuracy  float64   `json:"accuracy"` // top-1, a fraction in [0, 1]
	Loss      float64   `json:"loss"`     // mean cross-entropy
	PerClass  []float64 `json:"per_class"`
	Confusion [][]int   `json:"confusion"` // [true class][predicted class]
	Classes   []string  `json:"classes"`
	Seconds   float64   `json:"seconds"`
	ImagesPS  float64   `json:"images_per_s"`
}

// Evaluator runs a model in inference mode on batches of a fixed size.
type Evaluator struct {
	m      *model.Model
	batch  int
	net    *model.Net
	vm     G.VM
	logits G.Value
}

// NewEvaluator builds the inference graph over the model's variables.
func NewEvaluator(m *model.Model, batch int) (*Evaluator, error) {
	if err := CheckMemory(m.Config, 0, batch); err != nil {
		return nil, err
	}
	g := G.NewGraph()
	net, err := m.BuildInference(g, batch)
	if err != nil {
		return nil, err
	}
	e := &Evaluator{m: m, batch: batch, net: net}
	G.Read(net.Logits, &e.logits)
	vm, err := newVM(g)
	if err != nil {
		return nil, err
	}
	e.vm = vm
	return e, nil
}

// newVM compiles a tape machine, turning Gorgonia's compile panics into errors.
func newVM(g *G.ExprGraph, opts ...G.VMOpt) (vm G.VM, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("compile graph: %v", r)
		}
	}()
	return G.NewTapeMachine(g, opts...), nil
}

// Close releases the machine.
func (e *Evaluator) Close() { e.vm.Close() }

// Logits runs one batch (x holds batch×3×R×R values) and returns a copy of
// the logits, in inference mode.
func (e *Evaluator) Logits(x []float32) ([]float32, error) {
	prev := e.m.Store.Mode().Training()
	e.m.SetTraining(false)
	defer e.m.SetTraining(prev)
	if err := G.Let(e.net.Input, tensor.New(tensor.WithShape(e.net.Input.Shape()...), tensor.WithBacking(x))); err != nil {
		return nil, err
	}
	e.vm.Reset()
	if err := e.vm.RunAll(); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	return append([]float32(nil), e.logits.Data().([]float32)...), nil
}

// Run evaluates the whole dataset; progress, when not nil, gets a bar.
func (e *Evaluator) Run(ctx context.Context, ds *data.Dataset, progress io.Writer) (EvalResult, error) {
	l, err := data.NewLoader(ds, data.LoaderConfig{BatchSize: e.batch, Resolution: e.m.Config.Resolution})
	if err != nil {
		return EvalResult{}, err
	}
	k := e.m.Config.Classes
	res := EvalResult{Classes: ds.Classes, Confusion: make([][]int, k)}
	for i := range res.Confusion {
		res.Confusion[i] = make([]int, k)
	}
	var bar *progressbar.ProgressBar
	if progress != nil {
		bar = newBar(progress, ds.Len(), "evaluating")
	}
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var lossSum float64
	for b := range l.Epoch(ctx, 0, 0) {
		logits, err := e.Logits(b.X)
		if err != nil {
			return res, err
		}
		for i := 0; i < b.N; i++ {
			row := logits[i*k : (i+1)*k]
			pred, lse := argmaxLSE(row)
			y := b.Y[i]
			if y >= k {
				return res, fmt.Errorf("evaluate: label %d but the model has %d classes", y, k)
			}
			lossSum += lse - float64(row[y])
			res.Confusion[y][pred]++
			res.Images++
		}
		if bar != nil {
			bar.Add(b.N)
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.Seconds = time.Since(start).Seconds()
	res.ImagesPS = float64(res.Images) / res.Seconds
	correct := 0
	res.PerClass = make([]float64, k)
	for c := range res.Confusion {
		n := 0
		for p, v := range res.Confusion[c] {
			n += v
			if p == c {
				correct += v
			}
		}
		if n > 0 {
			res.PerClass[c] = float64(res.Confusion[c][c]) / float64(n)
		}
	}
	res.Accuracy = float64(correct) / float64(res.Images)
	res.Loss = lossSum / float64(res.Images)
	return res, nil
}

func argmaxLSE(row []float32) (int, float64) {
	best := 0
	for j, v := range row {
		if v > row[best] {
			best = j
		}
	}
	m := float64(row[best])
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	return best, m + math.Log(s)
}

func newBar(w io.Writer, n int, desc string) *progressbar.ProgressBar {
	return progressbar.NewOptions(n,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("img"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30))
}

// Package evaluate runs a network in inference mode: batches of logits
// with test-time augmentation, a dataset's accuracy, loss and confusion
// matrix (shared among the ranks of a data-parallel job), and the
// agreement of two precisions. Training uses it after each epoch; the
// inference commands and package classify use it without package train.
package evaluate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/dist"
	"github.com/gomobilenet/mobilenet/internal/progress"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/layers/infer"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/schollz/progressbar/v3"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Result is the outcome of an evaluation.
type Result struct {
	Images    int       `json:"images"`
	Accuracy  float64   `json:"accuracy"` // top-1, a fraction in [0, 1]
	Loss      float64   `json:"loss"`     // mean cross-entropy
	PerClass  []float64 `json:"per_class"`
	Confusion [][]int   `json:"confusion"` // [true class][predicted class]
	Classes   []string  `json:"classes"`
	Seconds   float64   `json:"seconds"`
	ImagesPS  float64   `json:"images_per_s"`
	// Flip is the same evaluation with flip test-time augmentation (the
	// mean of the logits of each image and its mirror image), when the
	// Evaluator's TTA asked for it (TTAFlip or TTAFlipTranslate); the
	// figures above stay the plain ones.
	Flip *Result `json:"tta_flip,omitempty"`
	// FlipTranslate is the evaluation with TTAFlipTranslate, when asked.
	FlipTranslate *Result `json:"tta_flip_translate,omitempty"`
}

// TTA is a test-time augmentation: TTANone (""), TTAFlip or
// TTAFlipTranslate. It is a flag.Value.
type TTA string

// Test-time augmentations.
const (
	// TTANone evaluates each image as it is.
	TTANone TTA = ""
	// TTAFlip: the mean of the logits of each image and its mirror image.
	TTAFlip TTA = "flip"
	// TTAFlipTranslate: half the flip mean of the image, and a quarter
	// each of the flip means of the image translated by one pixel up and
	// left and by one down and right (the edge reflected): airbench's
	// mirror-translate (Jordan, 2024). Six forward passes a batch.
	TTAFlipTranslate TTA = "flip-translate"
)

// ParseTTA reads a test-time augmentation's name ("none" or "": TTANone).
func ParseTTA(s string) (TTA, error) {
	switch t := TTA(s); t {
	case "", "none":
		return TTANone, nil
	case TTAFlip, TTAFlipTranslate:
		return t, nil
	}
	return "", fmt.Errorf("test-time augmentation %q: want none, flip or flip-translate", s)
}

// String is the augmentation's name ("none" for TTANone).
func (t TTA) String() string {
	if t == TTANone {
		return "none"
	}
	return string(t)
}

// Set parses s into t (flag.Value).
func (t *TTA) Set(s string) (err error) {
	*t, err = ParseTTA(s)
	return err
}

// tally accumulates predictions into a confusion matrix and a loss sum.
type tally struct {
	res     Result
	lossSum float64
}

func newTally(k int, classes []string) *tally {
	t := &tally{res: Result{Classes: classes, Confusion: make([][]int, k)}}
	for i := range t.res.Confusion {
		t.res.Confusion[i] = make([]int, k)
	}
	return t
}

func (t *tally) add(logits []float32, y []int, n, k int) error {
	for i := 0; i < n; i++ {
		row := logits[i*k : (i+1)*k]
		pred, lse := Top1(row)
		if y[i] >= k {
			return fmt.Errorf("evaluate: label %d but the model has %d classes", y[i], k)
		}
		t.lossSum += lse - float64(row[y[i]])
		t.res.Confusion[y[i]][pred]++
		t.res.Images++
	}
	return nil
}

// reduce sums the tallies of every rank, on every rank (in float64: the
// counts stay exact).
func (t *tally) reduce(c dist.Comm) error {
	k := len(t.res.Confusion)
	v := make([]float64, 2+k*k)
	v[0], v[1] = float64(t.res.Images), t.lossSum
	for i, row := range t.res.Confusion {
		for j, n := range row {
			v[2+i*k+j] = float64(n)
		}
	}
	if err := c.AllreduceSum64(v); err != nil {
		return err
	}
	t.res.Images, t.lossSum = int(v[0]), v[1]
	for i, row := range t.res.Confusion {
		for j := range row {
			row[j] = int(v[2+i*k+j])
		}
	}
	return nil
}

func (t *tally) finish() Result {
	res := t.res
	correct := 0
	res.PerClass = make([]float64, len(res.Confusion))
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
	res.Accuracy = float64(correct) / float64(max(res.Images, 1))
	res.Loss = t.lossSum / float64(max(res.Images, 1))
	return res
}

// Mirror writes the horizontal mirror images of x (images of 3×res×res
// values) into dst.
func Mirror(dst, x []float32, res int) {
	for r := 0; r < len(x)/res; r++ {
		src, out := x[r*res:(r+1)*res], dst[r*res:(r+1)*res]
		for j := range out {
			out[j] = src[res-1-j]
		}
	}
}

// Translate writes x (images of 3×res×res values) shifted by d pixels
// down and right (up and left for d < 0) into dst, the rows and columns
// that come in reflected from the edge (|d| < res).
func Translate(dst, x []float32, res, d int) {
	reflect := func(i int) int {
		if i < 0 {
			return -i
		}
		if i >= res {
			return 2*(res-1) - i
		}
		return i
	}
	for p := 0; p < len(x)/(res*res); p++ {
		src, out := x[p*res*res:(p+1)*res*res], dst[p*res*res:(p+1)*res*res]
		for i := 0; i < res; i++ {
			row := src[reflect(i-d)*res:]
			for j := 0; j < res; j++ {
				out[i*res+j] = row[reflect(j-d)]
			}
		}
	}
}

// LogitsTTA is Logits with test-time augmentation tta ("", TTAFlip or
// TTAFlipTranslate).
func (e *Evaluator) LogitsTTA(x []float32, tta TTA) ([]float32, error) {
	plain, err := e.Logits(x)
	if err != nil || tta == "" {
		return plain, err
	}
	fl, err := e.flipMean(x, plain)
	if err != nil || tta == TTAFlip {
		return fl, err
	}
	return e.translateMean(x, fl)
}

// translateMean returns TTAFlipTranslate's logits of x, given fl, its flip
// mean.
func (e *Evaluator) translateMean(x, fl []float32) ([]float32, error) {
	if len(e.shifted) != len(x) {
		e.shifted = make([]float32, len(x))
	}
	out := make([]float32, len(fl))
	for i, v := range fl {
		out[i] = v / 2
	}
	for _, d := range []int{-1, 1} {
		Translate(e.shifted, x, e.res, d)
		plain, err := e.Logits(e.shifted)
		if err != nil {
			return nil, err
		}
		t, err := e.flipMean(e.shifted, plain)
		if err != nil {
			return nil, err
		}
		for i, v := range t {
			out[i] += v / 4
		}
	}
	return out, nil
}

// flipMean returns the mean of plain (the logits of x) and the logits of
// x's mirror images.
func (e *Evaluator) flipMean(x, plain []float32) ([]float32, error) {
	if len(e.mirror) != len(x) {
		e.mirror = make([]float32, len(x))
	}
	Mirror(e.mirror, x, e.res)
	fl, err := e.Logits(e.mirror)
	if err != nil {
		return nil, err
	}
	for i := range fl {
		fl[i] = (fl[i] + plain[i]) / 2
	}
	return fl, nil
}

// Evaluator runs a network in inference mode on batches of a fixed size.
type Evaluator struct {
	n       layers.Network
	store   *layers.Store
	res     int // the inputs' height and width (the loader's resolution)
	batch   int
	net     *layers.Net // the graph (nil when a plan runs the network)
	vm      G.VM
	logits  G.Value
	ls      []layers.Layer                   // the network's layers, when it lists them
	plans   map[layers.Precision]*infer.Plan // compiled from ls, per precision
	mirror  []float32
	shifted []float32
	// TTA makes Run also evaluate with this test-time augmentation ("",
	// TTAFlip or TTAFlipTranslate), reported in Result.Flip (both) and
	// Result.FlipTranslate.
	TTA TTA
	// Input is the preprocessing Run applies (nil: CIFAR-10's): use the
	// checkpoint's (Header.Preprocess).
	Input *data.Preprocess
	// Comm, with more than one rank, shares Run's batches out among the
	// ranks (whole batches, round-robin: each image gets the logits it
	// gets in one process) and sums their counts: every rank calls Run and
	// gets the whole set's result, the accuracy and confusion matrix of
	// one process exactly.
	Comm dist.Comm
}

// New prepares a network for inference on batches of batch images: a
// MobileNet (*model.Model), or any layers.Network of float32 variables
// taking square RGB images, as the data loader makes them.
//
// A network that lists its layers (model.Model's Layers) and whose layers
// package infer supports runs as a compiled plan: BatchNorm folded and
// weights packed once, activations lane-major; at alpha 0.75 on the Xeon
// 6/167, 1.7× the graph's speed in fp32 and 2.6× in bf16 (cmd/bench
// --engine plan|graph; docs/performance.md). The plan holds the weights as of New, the last Run or the last
// Refresh. Any other network runs its inference graph (BuildNet), which
// reads the variables at every batch.
func New(n layers.Network, batch int) (*Evaluator, error) { return newEvaluator(n, batch, true) }

// NewGraph is New without the compiled plan: the network's inference graph
// runs every batch, reading the variables as they are then.
func NewGraph(n layers.Network, batch int) (*Evaluator, error) { return newEvaluator(n, batch, false) }

func newEvaluator(n layers.Network, batch int, plan bool) (*Evaluator, error) {
	if layers.IsNilNetwork(n) {
		return nil, errors.New("evaluator: no network (nil)")
	}
	if in := n.InputShape(); in[0] != 3 || in[1] != in[2] {
		return nil, fmt.Errorf("evaluator: the network takes inputs of %v; the data loader makes square RGB images (3, R, R)", in)
	}
	if n.VarStore() == nil || n.VarStore().Dtype() != tensor.Float32 {
		return nil, errors.New("evaluator: the network's variables must be float32")
	}
	if batch <= 0 {
		return nil, fmt.Errorf("evaluator: batch size %d: must be positive", batch)
	}
	// The graph's estimate, also for a plan: the batches it is given are
	// the graph's.
	if err := model.CheckNetworkMemory(n, 0, batch); err != nil {
		return nil, err
	}
	e := &Evaluator{n: n, store: n.VarStore(), res: n.InputShape()[1], batch: batch}
	if lister, ok := n.(interface {
		Layers() ([]layers.Layer, error)
	}); ok && plan {
		ls, err := lister.Layers()
		if err != nil {
			return nil, fmt.Errorf("evaluator: %w", err)
		}
		e.ls = ls
		if _, err := e.plan(); err == nil {
			return e, nil
		} else if !errors.Is(err, infer.ErrUnsupported) {
			return nil, fmt.Errorf("evaluator: %w", err)
		}
		e.ls = nil // the graph runs it
	}
	g := G.NewGraph()
	net, err := n.BuildNet(g, batch, true)
	if err != nil {
		return nil, err
	}
	e.net = net
	G.Read(net.Logits, &e.logits)
	vm, err := layers.NewTapeMachine(g)
	if err != nil {
		return nil, err
	}
	e.vm = vm
	return e, nil
}

// plan returns the compiled plan for the Store's current precision,
// compiling it from the variables' current values when there is none.
func (e *Evaluator) plan() (*infer.Plan, error) {
	prec := e.store.Precision()
	if p := e.plans[prec]; p != nil {
		return p, nil
	}
	p, err := infer.Compile(e.ls, e.n.InputShape(), infer.Options{Precision: prec})
	if err != nil {
		return nil, err
	}
	if e.plans == nil {
		e.plans = map[layers.Precision]*infer.Plan{}
	}
	e.plans[prec] = p
	return p, nil
}

// Refresh makes the next batches use the variables' current values: a
// compiled plan is a snapshot (New), and Run refreshes it at its start.
// Call it after changing the weights between calls of Logits. (The graph
// reads the variables at every batch: nothing to do.)
func (e *Evaluator) Refresh() { e.plans = nil }

// Engine names what runs the network: "plan" (package infer) or "graph".
func (e *Evaluator) Engine() string {
	if e.ls != nil {
		return "plan"
	}
	return "graph"
}

// Close releases the machine.
func (e *Evaluator) Close() {
	if e.vm != nil {
		e.vm.Close()
	}
}

// Logits runs one batch (x holds batch×3×R×R values) and returns a copy of
// the logits, in inference mode, in the Store's precision. A compiled plan
// uses the weights as of New, the last Run or Refresh.
func (e *Evaluator) Logits(x []float32) ([]float32, error) {
	if e.ls != nil {
		p, err := e.plan()
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		if want := e.batch * 3 * e.res * e.res; len(x) != want {
			return nil, fmt.Errorf("evaluate: %d input values, want %d (%d images of 3×%d×%d)", len(x), want, e.batch, e.res, e.res)
		}
		out := make([]float32, e.batch*p.Outputs())
		if err := p.Run(out, x, e.batch); err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		return out, nil
	}
	prev := e.store.Mode().Training()
	e.store.Mode().SetTraining(false)
	defer e.store.Mode().SetTraining(prev)
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
func (e *Evaluator) Run(ctx context.Context, ds *data.Dataset, progressW io.Writer) (Result, error) {
	e.Refresh()
	var c dist.Comm = dist.Local{}
	if e.Comm != nil {
		c = e.Comm
	}
	sh := data.Shard{Rank: c.Rank(), Size: c.Size(), WholeBatches: true}
	l, err := data.NewLoader(ds, data.LoaderConfig{BatchSize: e.batch, Resolution: e.res, Input: e.Input, Shard: sh})
	if err != nil {
		return Result{}, err
	}
	k := e.n.Classes()
	plain, flip, flipT := newTally(k, ds.Classes), newTally(k, ds.Classes), newTally(k, ds.Classes)
	var bar *progressbar.ProgressBar
	if progressW != nil {
		mine := 0 // the images of this rank's batches
		for i := sh.Rank; i < l.NumBatches(); i += max(sh.Size, 1) {
			mine += min(e.batch, ds.Len()-i*e.batch)
		}
		bar = progress.New(progressW, mine, "evaluating", true)
	}
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for b := range l.Epoch(ctx, 0, 0) {
		if b.Err != nil {
			return plain.res, fmt.Errorf("evaluate: %w", b.Err)
		}
		logits, err := e.Logits(b.X)
		if err != nil {
			return plain.res, err
		}
		if err := plain.add(logits, b.Y, b.N, k); err != nil {
			return plain.res, err
		}
		if e.TTA != "" {
			fl, err := e.flipMean(b.X, logits)
			if err != nil {
				return plain.res, err
			}
			if err := flip.add(fl, b.Y, b.N, k); err != nil {
				return plain.res, err
			}
			if e.TTA == TTAFlipTranslate {
				ft, err := e.translateMean(b.X, fl)
				if err != nil {
					return plain.res, err
				}
				if err := flipT.add(ft, b.Y, b.N, k); err != nil {
					return plain.res, err
				}
			}
		}
		if bar != nil {
			bar.Add(b.N)
		}
	}
	if err := ctx.Err(); err != nil {
		return plain.res, err
	}
	if c.Size() > 1 {
		for _, t := range []*tally{plain, flip, flipT} {
			if err := t.reduce(c); err != nil {
				return plain.res, fmt.Errorf("evaluate: %w", err)
			}
		}
	}
	res := plain.finish()
	res.Seconds = time.Since(start).Seconds()
	res.ImagesPS = float64(res.Images) / res.Seconds
	if e.TTA != "" {
		f := flip.finish()
		f.Seconds, f.ImagesPS = res.Seconds, res.ImagesPS
		res.Flip = &f
	}
	if e.TTA == TTAFlipTranslate {
		f := flipT.finish()
		f.Seconds, f.ImagesPS = res.Seconds, res.ImagesPS
		res.FlipTranslate = &f
	}
	return res, nil
}

// Top1 returns a row of logits' largest class (the first of equals) and
// the row's log-sum-exp (its cross-entropy against class c is lse −
// row[c]).
func Top1(row []float32) (int, float64) {
	best := 0
	for j, v := range row {
		if v > row[best] {
			best = j
		}
	}
	return best, layers.LogSumExp(row)
}

// Package classify classifies images in-process with a trained checkpoint:
// open it once, then call Classify from any number of goroutines. Requests
// that queue while a batch runs form the next one (up to Options.Batch
// images; with concurrent callers the first waits up to Options.Wait for
// company) on the smallest of a few
// inference graphs that holds them, so that one caller pays for one image
// and many callers get batched throughput. Images are preprocessed as the
// checkpoint records (normalisation, resize), in the caller's goroutine.
package classify

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/evaluate"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
)

// Class is one class of a prediction and its probability.
type Class struct {
	Index int     `json:"index"`
	Name  string  `json:"name"`
	Prob  float64 `json:"probability"`
}

// Options configures a Classifier; the zero value is usable.
type Options struct {
	// Precision of the products (layers.FP32, the zero value, or BF16).
	Precision layers.Precision
	// TTA: "" (none), evaluate.TTAFlip or evaluate.TTAFlipTranslate.
	TTA evaluate.TTA
	// Batch is the most images run at once (0: 64).
	Batch int
	// Wait is how long the first request of a batch waits for others
	// when the batch before held more than one (concurrent callers); a
	// lone caller never waits. 0: 2 ms; negative: never.
	Wait time.Duration
}

// ErrClosed is returned by a Classifier that was closed.
var ErrClosed = errors.New("classify: closed")

// Classifier classifies images with one model. It is safe for concurrent
// use by many goroutines.
type Classifier struct {
	m     *model.Model
	pre   data.Preprocess
	names []string
	res   int
	tta   evaluate.TTA
	batch int
	wait  time.Duration
	sizes []int                       // the graphs' batch sizes, ascending
	evs   map[int]*evaluate.Evaluator // built when first needed

	reqs      chan []*request // a caller's requests, queued together
	done      chan struct{}
	worker    sync.WaitGroup
	closeOnce sync.Once
}

type request struct {
	x   []float32 // one preprocessed image
	k   int
	out chan result // buffered: the worker never blocks on it
}

type result struct {
	top []Class
	err error
}

// Open loads a checkpoint (evaluate.Load) and returns its Classifier.
func Open(path string, opt Options) (*Classifier, error) {
	m, hdr, err := evaluate.Load(path, 0)
	if err != nil {
		return nil, err
	}
	return New(m, hdr, opt)
}

// New returns a Classifier of m with the class names and preprocessing
// hdr records. The Classifier owns m from then on (it sets its precision
// and inference mode).
func New(m *model.Model, hdr evaluate.Checkpoint, opt Options) (*Classifier, error) {
	if m == nil {
		return nil, errors.New("classify: no model (nil)")
	}
	tta, err := evaluate.ParseTTA(string(opt.TTA))
	if err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	pre := hdr.Preprocess()
	if err := pre.Validate(); err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	names, _ := hdr.ClassNames()
	if len(names) != m.Config.Classes {
		return nil, fmt.Errorf("classify: %d class names for a model of %d classes", len(names), m.Config.Classes)
	}
	c := &Classifier{m: m, pre: pre, names: names, res: m.Config.Resolution, tta: tta, batch: opt.Batch, wait: opt.Wait,
		evs: map[int]*evaluate.Evaluator{}, reqs: make(chan []*request), done: make(chan struct{})}
	if c.batch == 0 {
		c.batch = 64
	}
	if c.batch < 1 {
		return nil, fmt.Errorf("classify: batch %d: must be positive", opt.Batch)
	}
	if c.wait == 0 {
		c.wait = 2 * time.Millisecond
	}
	for s := 1; s < c.batch; s *= 4 {
		c.sizes = append(c.sizes, s)
	}
	c.sizes = append(c.sizes, c.batch)
	if err := model.CheckMemory(m.Config, 0, c.batch); err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	m.Store.SetPrecision(opt.Precision)
	m.SetTraining(false)
	c.worker.Add(1)
	go c.serve()
	return c, nil
}

// Classes are the model's class names, by index.
func (c *Classifier) Classes() []string { return append([]string(nil), c.names...) }

// Resolution is the side of the model's input images.
func (c *Classifier) Resolution() int { return c.res }

// Classify returns the k most probable classes of img, most probable
// first (k above the class count gives them all).
func (c *Classifier) Classify(ctx context.Context, img image.Image, k int) ([]Class, error) {
	out, err := c.ClassifyBatch(ctx, []image.Image{img}, k)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// ClassifyFile is Classify of a JPEG or PNG file.
func (c *Classifier) ClassifyFile(ctx context.Context, path string, k int) ([]Class, error) {
	img, err := data.DecodeFile(path)
	if err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	return c.Classify(ctx, img, k)
}

// ClassifyBatch is Classify of several images, queued together.
func (c *Classifier) ClassifyBatch(ctx context.Context, imgs []image.Image, k int) ([][]Class, error) {
	if k < 1 {
		return nil, fmt.Errorf("classify: top %d: must be positive", k)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	reqs := make([]*request, len(imgs))
	for i, img := range imgs {
		if img == nil {
			return nil, fmt.Errorf("classify: image %d is nil", i)
		}
		x := make([]float32, 3*c.res*c.res)
		if err := c.pre.Apply(x, img, c.res); err != nil {
			return nil, fmt.Errorf("classify: image %d: %w", i, err)
		}
		reqs[i] = &request{x: x, k: k, out: make(chan result, 1)}
	}
	select {
	case c.reqs <- reqs:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, ErrClosed
	}
	out := make([][]Class, len(reqs))
	for i, r := range reqs {
		select {
		case res := <-r.out:
			if res.err != nil {
				return nil, res.err
			}
			out[i] = res.top
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.done:
			return nil, ErrClosed
		}
	}
	return out, nil
}

// Close stops the Classifier; calls in flight return ErrClosed.
func (c *Classifier) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		c.worker.Wait()
		for _, ev := range c.evs {
			ev.Close()
		}
	})
	return nil
}

// serve gathers requests into batches and runs them, one batch at a time
// (the model's graphs are not for concurrent runs; each uses every core).
func (c *Classifier) serve() {
	defer c.worker.Done()
	var pending []*request
	last := 0 // the size of the batch before
	for {
		if len(pending) == 0 {
			select {
			case job := <-c.reqs:
				pending = append(pending, job...)
			case <-c.done:
				return
			}
			if c.wait > 0 && last > 1 && len(pending) < c.batch { // concurrent callers: wait for company
				timer := time.NewTimer(c.wait)
			fill:
				for len(pending) < c.batch {
					select {
					case job := <-c.reqs:
						pending = append(pending, job...)
					case <-timer.C:
						break fill
					case <-c.done:
						timer.Stop()
						return
					}
				}
				timer.Stop()
			}
		}
	drain: // whatever is queued already
		for len(pending) < c.batch {
			select {
			case job := <-c.reqs:
				pending = append(pending, job...)
			default:
				break drain
			}
		}
		n := min(len(pending), c.batch)
		c.run(pending[:n])
		last = n
		pending = pending[n:]
	}
}

// run classifies a batch on the smallest graph that holds it.
func (c *Classifier) run(batch []*request) {
	size := c.sizes[sort.SearchInts(c.sizes, len(batch))]
	ev, err := c.evaluator(size)
	var logits []float32
	if err == nil {
		per := 3 * c.res * c.res
		x := make([]float32, size*per)
		for i, r := range batch {
			copy(x[i*per:], r.x)
		}
		logits, err = ev.LogitsTTA(x, c.tta)
	}
	k := c.m.Config.Classes
	for i, r := range batch {
		if err != nil {
			r.out <- result{err: fmt.Errorf("classify: %w", err)}
			continue
		}
		r.out <- result{top: TopK(logits[i*k:(i+1)*k], c.names, r.k)}
	}
}

func (c *Classifier) evaluator(size int) (*evaluate.Evaluator, error) {
	if ev, ok := c.evs[size]; ok {
		return ev, nil
	}
	ev, err := evaluate.New(c.m, size)
	if err != nil {
		return nil, err
	}
	c.evs[size] = ev
	return ev, nil
}

// TopK returns the k most probable classes of a row of logits (their
// softmax), most probable first; ties keep the lower index first.
func TopK(logits []float32, names []string, k int) []Class {
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
		name := fmt.Sprint(idx[i])
		if idx[i] < len(names) {
			name = names[idx[i]]
		}
		out[i] = Class{Index: idx[i], Name: name, Prob: probs[idx[i]] / sum}
	}
	return out
}

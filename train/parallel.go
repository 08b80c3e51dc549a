package train

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/gomobilenet/mobilenet/dist"
	"github.com/gomobilenet/mobilenet/layers"
	"gorgonia.org/tensor"
)

// Data-parallel training (Options.Comm): every rank builds the same model,
// takes its part of each global batch (data.Shard), and averages its
// gradients with the others' before the same optimizer step, so that the
// weights stay equal on every rank. Rank 0 writes the checkpoints, logs
// and metrics.

// BucketFloats is the size of the gradient buckets the all-reduce sends
// (4 MiB of float32, within the range DDP's 25 MB and Horovod's 64 MB
// fusion buffers span for this smaller network): while one bucket is
// summed, the next is packed and the previous one's variables take their
// optimizer step.
const BucketFloats = 1 << 20

// ErrRanks is returned (wrapped) when a run cannot be split over the job's
// ranks: a batch they do not divide, or a resume with another number.
var ErrRanks = errors.New("data-parallel ranks")

// commOf is c, or the one-process communicator.
func commOf(c dist.Comm) dist.Comm {
	if c == nil {
		return dist.Local{}
	}
	return c
}

// broadcastVars gives every rank rank 0's values of vars (float32).
func broadcastVars(c dist.Comm, vars []*layers.Var) error {
	if c.Size() == 1 {
		return nil
	}
	var flat []float32
	for _, v := range vars {
		flat = append(flat, v.Value.Data().([]float32)...)
	}
	if err := c.Broadcast(flat, 0); err != nil {
		return err
	}
	for _, v := range vars {
		d := v.Value.Data().([]float32)
		flat = flat[copy(d, flat):]
	}
	return nil
}

// runningStats returns the BatchNorm running statistics of a model.
func runningStats(s *layers.Store) []*layers.Var {
	var out []*layers.Var
	for _, v := range s.Vars() {
		if !v.Learnable && (strings.HasSuffix(v.Name, "running_mean") || strings.HasSuffix(v.Name, "running_var")) {
			out = append(out, v)
		}
	}
	return out
}

// averageStats replaces each rank's running statistics by their mean over
// the ranks (in float64). Each rank's statistics follow its own part of
// the batches when BatchNorm is not synchronised; their update is linear
// (new = (1−m)·old + m·batch), so averaging at any point gives the same
// mean as averaging only at the end, and the statistics never enter a
// training step: the trajectory does not depend on when this runs.
func averageStats(c dist.Comm, vars []*layers.Var) error {
	if c.Size() == 1 {
		return nil
	}
	var flat []float64
	for _, v := range vars {
		for _, x := range v.Value.Data().([]float32) {
			flat = append(flat, float64(x))
		}
	}
	if err := c.AllreduceSum64(flat); err != nil {
		return fmt.Errorf("averaging the BatchNorm statistics: %w", err)
	}
	n := float64(c.Size())
	for _, v := range vars {
		d := v.Value.Data().([]float32)
		for i := range d {
			d[i] = float32(flat[i] / n)
		}
		flat = flat[len(d):]
	}
	return nil
}

// bucket is a run of consecutive variables whose gradients one all-reduce
// sums, after head extra values (the first bucket carries the step's loss,
// correct count and stop flag).
type bucket struct {
	lo, hi int // variables [lo, hi)
	head   int
	buf    []float32
}

// buckets splits variables of the given sizes into buckets of about limit
// values, the first with head extra values.
func buckets(sizes []int, head, limit int) []bucket {
	var bs []bucket
	b := bucket{head: head}
	size := head
	for i, s := range sizes {
		if size > 0 && size+s > limit && i > b.lo {
			b.hi = i
			b.buf = make([]float32, size)
			bs = append(bs, b)
			b, size = bucket{lo: i}, 0
		}
		size += s
	}
	b.hi = len(sizes)
	b.buf = make([]float32, size)
	return append(bs, b)
}

// stepHead is what the first bucket carries beside gradients: this rank's
// loss, its correct count and whether it was asked to stop.
const stepHead = 3

// reduceAndStep averages the gradients over the ranks and takes the
// optimizer step, a bucket at a time: bucket j+1 is packed, and bucket
// j−1's variables stepped, while bucket j is summed. It returns the whole
// batch's mean loss (NaN when any rank's is: then no rank updates) and
// correct count, and whether any rank asked to stop after this step.
func (t *Trainer) reduceAndStep(loss float64, correct int, stop bool, lr float64) (float64, int, bool, error) {
	if t.buckets == nil {
		sizes := make([]int, len(t.grads))
		for i, g := range t.grads {
			sizes[i] = g.Shape().TotalSize()
		}
		limit := t.bucketFloats
		if limit <= 0 {
			limit = BucketFloats
		}
		t.buckets = buckets(sizes, stepHead, limit)
	}
	c := t.Comm
	n := float32(c.Size())
	pack := func(b *bucket) {
		o := b.head
		for _, g := range t.grads[b.lo:b.hi] {
			o += copy(b.buf[o:], g.Data().([]float32))
		}
	}
	head := t.buckets[0].buf
	head[0], head[1], head[2] = float32(loss), float32(correct), 0
	if stop {
		head[2] = 1
	}
	// The all-reduces run in order on one goroutine (every rank issues
	// the same sequence); this one packs, unpacks and steps.
	sent := make(chan int, len(t.buckets))
	done := make(chan error, len(t.buckets))
	var summing time.Duration // inside the all-reduces
	go func() {
		for j := range sent {
			start := time.Now()
			err := c.AllreduceSum(t.buckets[j].buf)
			summing += time.Since(start)
			done <- err
		}
	}()
	defer close(sent)
	pack(&t.buckets[0])
	sent <- 0
	var first error
	globalLoss, globalCorrect, anyStop := math.NaN(), 0, false
	for j := range t.buckets {
		if j+1 < len(t.buckets) {
			pack(&t.buckets[j+1])
			sent <- j + 1
		}
		waitStart := time.Now()
		if err := <-done; err != nil && first == nil {
			first = err
		}
		t.comm.wait += time.Since(waitStart)
		if first != nil {
			continue // wait for the sends in flight, then report
		}
		b := &t.buckets[j]
		if j == 0 {
			globalLoss, globalCorrect, anyStop = float64(head[0]/n), int(math.Round(float64(head[1]))), head[2] > 0
		}
		o := b.head
		for _, g := range t.grads[b.lo:b.hi] {
			d := g.Data().([]float32)
			for i := range d {
				d[i] = b.buf[o+i] / n
			}
			o += len(d)
		}
		if math.IsNaN(globalLoss) || math.IsInf(globalLoss, 0) {
			for _, g := range t.grads[b.lo:b.hi] {
				g.Zero()
			}
			continue
		}
		if err := t.opt.Step(lr, t.vars[b.lo:b.hi], t.grads[b.lo:b.hi]); err != nil {
			first = err
		}
	}
	t.comm.sum += summing // read after the last done: the goroutine has finished with it
	t.comm.steps++
	if first != nil {
		for _, g := range t.grads {
			g.Zero()
		}
		return loss, correct, stop, fmt.Errorf("gradient all-reduce: %w", first)
	}
	return globalLoss, globalCorrect, anyStop, nil
}

// commTimes is what the gradient all-reduces took: the time inside them,
// and the part of it the step waited for (not hidden behind packing and
// the optimizer's steps).
type commTimes struct {
	sum, wait time.Duration
	steps     int
}

// CommTimes returns the time the trainer's steps spent in gradient
// all-reduces and the part they waited for, since the last call, and
// resets them (zero in one process).
func (t *Trainer) CommTimes() (inside, waited time.Duration, steps int) {
	c := t.comm
	t.comm = commTimes{}
	return c.sum, c.wait, c.steps
}

// zeroGrads clears the gradients (Gorgonia accumulates them across runs).
func zeroGrads(gs []*tensor.Dense) {
	for _, g := range gs {
		if g != nil {
			g.Zero()
		}
	}
}

// Saved is a checkpoint read once by the caller of Run (Options.Saved),
// for the run to take rather than read it again.
type Saved struct {
	Path    string // the file it was read from
	Header  Header
	Tensors []Tensor
}

// ReadSaved reads a checkpoint as ReadCheckpointFrom does, into a Saved.
func ReadSaved(c dist.Comm, path string) (*Saved, error) {
	h, ts, err := ReadCheckpointFrom(c, path)
	if err != nil {
		return nil, err
	}
	return &Saved{Path: path, Header: h, Tensors: ts}, nil
}

// readShared is readShared of path unless s was read from it.
func (s *Saved) readShared(c dist.Comm, path string) (Header, []Tensor, error) {
	if s != nil && s.Path == path {
		return s.Header, s.Tensors, nil
	}
	return readShared(c, path)
}

// read returns s's checkpoint when s was read from path, else reads path.
func (s *Saved) read(path string) (Header, []Tensor, error) {
	if s != nil && s.Path == path {
		return s.Header, s.Tensors, nil
	}
	return ReadCheckpoint(path)
}

// ReadCheckpointFrom is ReadCheckpoint for the ranks of a job: rank 0
// reads the file and hands its bytes to every rank (the others need no
// copy of it: they may run on hosts without the output folder); one
// process reads it as ReadCheckpoint does. Every rank calls it.
func ReadCheckpointFrom(c dist.Comm, path string) (Header, []Tensor, error) {
	return readShared(commOf(c), path)
}

func readShared(c dist.Comm, path string) (Header, []Tensor, error) {
	if c.Size() == 1 {
		return ReadCheckpoint(path)
	}
	var b []byte
	var rerr error
	if c.Rank() == 0 {
		if b, rerr = os.ReadFile(path); rerr != nil {
			b = nil // an empty payload tells the others
		}
	}
	b, err := dist.BroadcastBytes(c, b, 0)
	switch {
	case err != nil:
		return Header{}, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	case rerr != nil:
		return Header{}, nil, fmt.Errorf("checkpoint: %w", rerr)
	case len(b) == 0:
		return Header{}, nil, fmt.Errorf("checkpoint %s: rank 0 could not read it", path)
	}
	h, ts, err := parseCheckpoint(b)
	if err != nil {
		return Header{}, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return h, ts, nil
}

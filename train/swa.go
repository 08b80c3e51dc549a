package train

import (
	"context"
	"fmt"
	"strings"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/layers"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// swaSeed sets the stream of the batches that the average's BatchNorm
// statistics are recomputed on apart from the training order's.
const swaSeed = 0x5a5a5a5a

// swaTail is the state of Recipe.SWAEpochs: the average (an ema whose
// learnable entries are the equal-weight mean of the weights at the end of
// each tail epoch, and whose BatchNorm entries are recomputed for it) and
// what recomputing needs.
type swaTail struct {
	avg    *ema
	loader *data.Loader // the training set, in its own order
	bn     *bnRecompute // built on first use
}

// swaActive reports whether the average exists after done completed
// epochs: from the end of the first tail epoch on.
func (rn *run) swaActive(done int) bool {
	return rn.swa != nil && done > rn.r.Epochs
}

// average is the weight average that a checkpoint written after done
// completed epochs holds and its evaluation reports: the EMA, the SWA
// average in the tail, or nil.
func (rn *run) average(done int) (*ema, string) {
	switch {
	case rn.avg != nil:
		return rn.avg, "ema"
	case rn.swaActive(done):
		return rn.swa.avg, "swa"
	}
	return nil, ""
}

// lr is the learning rate of a step: the schedule's, and in the SWA tail
// the tail's constant rate.
func (rn *run) lr(step int) float64 {
	if rn.swa != nil && step >= rn.r.Epochs*rn.loader.NumBatches() {
		return rn.r.SWARate()
	}
	return rn.sched.At(step)
}

// openSWA prepares the tail of a run whose recipe has one; a resumed run in
// its tail takes the average from the checkpoint.
func (rn *run) openSWA(lc data.LoaderConfig, saved []Tensor) error {
	if rn.r.SWAEpochs == 0 {
		return nil
	}
	lc.Seed ^= swaSeed
	l, err := data.NewLoader(rn.o.Train, lc)
	if err != nil {
		return err
	}
	rn.swa = &swaTail{avg: newEMA(rn.store(), 0), loader: l}
	if rn.swaActive(rn.hdr.Epoch) && !restoreEMA(rn.swa.avg, saved) {
		return fmt.Errorf("the checkpoint is %d epochs into its SWA tail but holds no weight average", rn.hdr.Epoch-rn.r.Epochs)
	}
	return nil
}

// updateSWA folds the weights at the end of epoch (counted from 0) into the
// average when the epoch is one of the tail's, and recomputes the average's
// BatchNorm statistics.
func (rn *run) updateSWA(ctx context.Context, epoch int) error {
	if rn.swa == nil || epoch < rn.r.Epochs {
		return nil
	}
	e := rn.swa.avg
	n := float32(epoch + 1 - rn.r.Epochs) // epochs in the average, this one included
	for i, v := range e.vars {
		if !v.Learnable {
			continue
		}
		cur, s := v.Value.Data().([]float32), e.shadow[i]
		if n == 1 { // exactly: what the shadow held before does not count
			copy(s, cur)
			continue
		}
		for j, x := range cur {
			s[j] += (x - s[j]) / n
		}
	}
	if rn.swa.bn == nil {
		b, err := newBNRecompute(rn.net, rn.swa.loader.PartSize())
		if err != nil {
			return fmt.Errorf("train: SWA: %w", err)
		}
		rn.swa.bn = b
	}
	e.swap()
	err := rn.swa.bn.run(ctx, rn.swa.loader, epoch, SWABatches)
	e.swap()
	if err != nil {
		return fmt.Errorf("train: SWA: BatchNorm statistics: %w", err)
	}
	if rn.comm.Size() > 1 { // each rank recomputed them on its parts of the batches
		e.swap()
		err = averageStats(rn.comm, runningStats(rn.store()))
		e.swap()
	}
	return err
}

func (s *swaTail) close() {
	if s != nil && s.bn != nil {
		s.bn.vm.Close()
	}
}

// bnRecompute runs a training-mode forward graph to recompute a model's
// BatchNorm running statistics (of the BatchNorms that are not frozen).
type bnRecompute struct {
	s     *layers.Store
	net   *layers.Net
	vm    G.VM
	stats []*layers.Var
}

// (The run's set-up checked its memory with the rest: openRun.)
func newBNRecompute(n layers.Network, batch int) (*bnRecompute, error) {
	g := G.NewGraph()
	net, err := n.BuildNet(g, batch, false)
	if err != nil {
		return nil, err
	}
	vm, err := layers.NewTapeMachine(g)
	if err != nil {
		return nil, err
	}
	s := n.VarStore()
	b := &bnRecompute{s: s, net: net, vm: vm}
	for _, v := range s.Vars() {
		layer, ok := strings.CutSuffix(v.Name, "running_mean")
		if !ok {
			layer, ok = strings.CutSuffix(v.Name, "running_var")
		}
		if !ok {
			continue
		}
		// A frozen BatchNorm normalises with its running statistics in
		// training mode too and keeps them (layers.BatchNorm.Frozen).
		if scale := s.Var(layer + "scale"); scale != nil && scale.Frozen {
			continue
		}
		b.stats = append(b.stats, v)
	}
	return b, nil
}

// bnMomentum is the momentum of every BatchNorm of the model
// (model.New uses layers.DefaultBatchNormConfig).
var bnMomentum = layers.DefaultBatchNormConfig(1).Momentum

// run sets the running statistics to the equal-weight mean of the batch
// statistics of the first batches (at most max) of the loader's epoch, as
// PyTorch's update_bn does with momentum None (the variance the unbiased
// one, as the running variance is). Each forward pass moves the running
// statistics by the BatchNorm's momentum rule from zero, which is undone
// here to read the batch's own statistics; starting each batch from zero
// makes the result independent of the statistics before.
func (b *bnRecompute) run(ctx context.Context, l *data.Loader, epoch, max int) error {
	prevMode := b.s.Mode().Training()
	b.s.Mode().SetTraining(true)
	defer b.s.Mode().SetTraining(prevMode)
	sum := make([][]float64, len(b.stats))
	for i, s := range b.stats {
		sum[i] = make([]float64, s.Value.Shape().TotalSize())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := 0
	for batch := range l.Epoch(ctx, epoch, 0) {
		if batch.Err != nil {
			return batch.Err
		}
		for _, s := range b.stats {
			clear(s.Value.Data().([]float32))
		}
		if err := G.Let(b.net.Input, tensor.New(tensor.WithShape(b.net.Input.Shape()...), tensor.WithBacking(batch.X))); err != nil {
			return err
		}
		b.vm.Reset()
		if err := b.vm.RunAll(); err != nil {
			return err
		}
		for i, s := range b.stats {
			for j, v := range s.Value.Data().([]float32) {
				sum[i][j] += float64(v) / bnMomentum
			}
		}
		if n++; n >= max {
			break
		}
	}
	if n == 0 {
		return fmt.Errorf("no training batch")
	}
	for i, s := range b.stats {
		o := s.Value.Data().([]float32)
		for j := range o {
			o[j] = float32(sum[i][j] / float64(n))
		}
	}
	return nil
}

package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/dist"
	"github.com/gomobilenet/mobilenet/model"
)

// TestTrainerAllreduce: two ranks given the same whole batch each are one
// process bit for bit, step after step (the sum of two equal gradients,
// halved, is the gradient): the buckets, their order, the overlap of the
// sums with the optimizer's steps and the synchronised BatchNorm's
// exchange lose nothing. With buckets of 1, 5000 and 10⁶ values (one a
// variable, several, all); the loss and correct count are the whole
// batch's; a NaN loss on one rank skips the update on every rank; a stop
// asked by one rank reaches all.
func TestTrainerAllreduce(t *testing.T) {
	cfg := model.CIFAR10(0.25)
	cfg.Resolution = 16
	newTrainer := func(batch int) *Trainer {
		m, err := model.New(cfg, model.Options{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := NewTrainer(m, batch, NewSGD(0.9, 5e-4, true))
		if err != nil {
			t.Fatal(err)
		}
		tr.LabelSmoothing = 0.1
		return tr
	}
	l, err := data.NewLoader(learnable(10*16, 1), data.LoaderConfig{BatchSize: 16, Resolution: 16, Shuffle: true, Augment: true, Seed: 2, DropLast: true})
	if err != nil {
		t.Fatal(err)
	}
	var bs []data.Batch
	for b := range l.Epoch(t.Context(), 0, 0) {
		bs = append(bs, b)
	}
	one := newTrainer(16)
	var losses []float64
	for i, b := range bs {
		loss, _, err := one.Step(b.X, b.Y, 0.05*float64(i+1)/10)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, loss)
	}
	for _, limit := range []int{1, 5000, 1 << 20} {
		comms, _ := dist.Group(2, 0)
		ts := []*Trainer{newTrainer(16), newTrainer(16)}
		var wg sync.WaitGroup
		for r, c := range comms {
			ts[r].Comm, ts[r].bucketFloats = c, limit
			ts[r].store.SyncBatchNorm(c.AllreduceSum64)
			wg.Go(func() {
				for i, b := range bs {
					loss, _, stop, err := ts[r].step(b.X, b.Y, nil, 1, 0.05*float64(i+1)/10, r == 1 && i == len(bs)-1)
					if err != nil || float32(loss) != float32(losses[i]) || stop != (i == len(bs)-1) {
						t.Errorf("buckets of %d, rank %d, step %d: loss %v (one process %v), stop %v, %v", limit, r, i, loss, losses[i], stop, err)
					}
				}
			})
		}
		wg.Wait()
		if limit == 1 && len(ts[0].buckets) != len(ts[0].vars) {
			t.Errorf("buckets of 1 value: %d buckets for %d variables", len(ts[0].buckets), len(ts[0].vars))
		}
		for r := range ts {
			// Every variable but the running variances, whose unbiased
			// estimate counts the doubled batch: n/(n−1) with n twice as large.
			for _, v := range one.store.Vars() {
				if !strings.HasSuffix(v.Name, "running_var") && !slices.Equal(v.Value.Data().([]float32), ts[r].store.Var(v.Name).Value.Data().([]float32)) {
					t.Fatalf("buckets of %d, rank %d: %s differs from one process's", limit, r, v.Name)
				}
			}
			for _, v := range one.vars {
				if !slices.Equal(one.opt.Velocity[v.Name], ts[r].opt.Velocity[v.Name]) {
					t.Fatalf("buckets of %d, rank %d: the velocity of %s differs", limit, r, v.Name)
				}
			}
		}
	}
	// A NaN on rank 1: neither rank updates, both see NaN.
	comms, _ := dist.Group(2, 0)
	ts := []*Trainer{newTrainer(16), newTrainer(16)}
	before := append([]float32(nil), ts[0].vars[0].Value.Data().([]float32)...)
	var wg sync.WaitGroup
	for r, c := range comms {
		ts[r].Comm = c
		x := append([]float32(nil), bs[0].X...)
		if r == 1 {
			x[5] = float32(math.NaN())
		}
		wg.Go(func() {
			loss, _, err := ts[r].Step(x, bs[0].Y, 0.05)
			if err != nil || !math.IsNaN(loss) {
				t.Errorf("rank %d: a NaN on rank 1 gave loss %v, %v", r, loss, err)
			}
		})
	}
	wg.Wait()
	for r := range ts {
		if !slices.Equal(ts[r].vars[0].Value.Data().([]float32), before) {
			t.Errorf("rank %d updated its weights after a NaN loss on rank 1", r)
		}
	}
}

// TestDataParallelReplicas: Run on 2 ranks (with and without SyncBN)
// trains, rank 0 alone writes the run's files, the ranks' weights stay
// bit for bit equal (each applies the same averaged gradient), the
// checkpoint records the ranks and the log says which BatchNorm
// statistics the run keeps. Its distance from one process is measured
// against the floor of float32 training itself: one process whose first
// weight differs by one unit in the last place, after the same 20 steps.
func TestDataParallelReplicas(t *testing.T) {
	one := parallelOptions(t.TempDir(), 20, 128)
	a, err := Run(context.Background(), one)
	if err != nil {
		t.Fatal(err)
	}
	for _, synced := range []bool{true, false} {
		t.Run(fmt.Sprintf("sync-bn=%v", synced), func(t *testing.T) {
			dir := t.TempDir()
			var log bytes.Buffer
			models := make([]*model.Model, 2)
			comms, _ := dist.Group(2, 0)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for r, c := range comms {
				wg.Go(func() {
					o := parallelOptions(dir, 20, 128)
					o.Recipe.SyncBN, o.Comm = synced, c
					if r == 0 {
						o.Log = &log
					} else {
						o.OutDir = filepath.Join(dir, "not-rank-0")
					}
					res, err := Run(context.Background(), o)
					errs[r] = err
					if res != nil {
						models[r] = res.Model
					}
				})
			}
			wg.Wait()
			for r, err := range errs {
				if err != nil {
					t.Fatalf("rank %d: %v", r, err)
				}
			}
			sameVars(t, models[0], models[1])
			if _, err := os.Stat(filepath.Join(dir, "not-rank-0")); !os.IsNotExist(err) {
				t.Errorf("rank 1 wrote its output folder (%v)", err)
			}
			h, _, err := ReadCheckpoint(filepath.Join(dir, "last.bin"))
			if err != nil {
				t.Fatal(err)
			}
			if h.Step != 20 || h.Ranks != 2 || h.Recipe.SyncBN != synced {
				t.Errorf("checkpoint: step %d, ranks %d, sync-bn %v", h.Step, h.Ranks, h.Recipe.SyncBN)
			}
			want := "averaged across ranks"
			if synced {
				want = "synchronised"
			}
			if !strings.Contains(log.String(), want) {
				t.Errorf("the log does not say %q:\n%s", want, log.String())
			}
			t.Logf("against one process: %s", distance(models[0], a.Model))
		})
	}
	t.Logf("floor, one process with one weight one ulp off: %s", distance(ulpApart(t), a.Model))
}

// ulpApart runs parallelOptions' 20 steps in one process from its initial
// weights with the first weight one unit in the last place off, and
// returns the model.
func ulpApart(t *testing.T) *model.Model {
	o := parallelOptions(t.TempDir(), 20, 128)
	init, err := o.Recipe.WeightInit()
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(o.Config, model.Options{Seed: o.Recipe.Seed, Init: init})
	if err != nil {
		t.Fatal(err)
	}
	w := m.Store.Vars()[0].Value.Data().([]float32)
	w[0] = math.Nextafter32(w[0], 1)
	o.Recipe.InitFrom = filepath.Join(t.TempDir(), "init.bin")
	if err := WriteModel(o.Recipe.InitFrom, m, o.Config); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return res.Model
}

// distance summarises how far a's variables are from b's: the largest
// relative difference of a weight tensor (excluding BatchNorm shifts), of
// a BatchNorm shift and of a statistic.
func distance(a, b *model.Model) string {
	var w, shift, stat float64
	for _, v := range b.Store.Vars() {
		d := relDiff(a.Store.Var(v.Name).Value.Data().([]float32), v.Value.Data().([]float32))
		switch {
		case !v.Learnable:
			stat = max(stat, d)
		case strings.HasSuffix(v.Name, "bn/bias"):
			shift = max(shift, d)
		default:
			w = max(w, d)
		}
	}
	return fmt.Sprintf("weights %.3g, BatchNorm shifts %.3g, statistics %.3g", w, shift, stat)
}

// TestDataParallelEvaluation: an evaluation shared by 2 and 3 ranks gives
// exactly one process's accuracy, confusion matrix and TTA figures, on
// every rank, with batches the ranks do not divide evenly.
func TestDataParallelEvaluation(t *testing.T) {
	ds := learnable(237, 5) // 10 batches of 25, the last of 12
	eval := func(c dist.Comm) (EvalResult, error) {
		m, err := model.New(model.CIFAR10(0.25), model.Options{Seed: 1}) // each rank its own
		if err != nil {
			return EvalResult{}, err
		}
		e, err := NewEvaluator(m, 25)
		if err != nil {
			return EvalResult{}, err
		}
		defer e.Close()
		e.TTA, e.Comm = TTAFlipTranslate, c
		return e.Run(context.Background(), ds, nil)
	}
	want, err := eval(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{2, 3} {
		comms, _ := dist.Group(n, 0)
		got := make([]EvalResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for r, c := range comms {
			wg.Go(func() { got[r], errs[r] = eval(c) })
		}
		wg.Wait()
		for r := range n {
			if errs[r] != nil {
				t.Fatalf("%d ranks, rank %d: %v", n, r, errs[r])
			}
			g := got[r]
			if g.Images != want.Images || g.Accuracy != want.Accuracy || !reflect.DeepEqual(g.Confusion, want.Confusion) ||
				g.Flip.Accuracy != want.Flip.Accuracy || !reflect.DeepEqual(g.FlipTranslate.Confusion, want.FlipTranslate.Confusion) {
				t.Errorf("%d ranks, rank %d: %d images, accuracy %v, confusion %v; one process: %d, %v, %v", n, r, g.Images, g.Accuracy, g.Confusion, want.Images, want.Accuracy, want.Confusion)
			}
			if math.Abs(g.Loss-want.Loss) > 1e-12*math.Abs(want.Loss) {
				t.Errorf("%d ranks, rank %d: loss %v, one process %v", n, r, g.Loss, want.Loss)
			}
		}
	}
}

// TestDataParallelRefused: a global batch the ranks do not divide, and a
// resume with another number of ranks, are one-line errors on every rank.
func TestDataParallelRefused(t *testing.T) {
	dir := t.TempDir()
	_, errs := runRanks(t, 3, func(int) Options { return parallelOptions(dir, 2, 16) })
	for r, err := range errs {
		if !errors.Is(err, ErrRanks) || !strings.Contains(err.Error(), "do not divide") {
			t.Errorf("rank %d of 3, batch 16: %v", r, err)
		}
	}
	o := parallelOptions(dir, 2, 16)
	o.StopAfter = 1
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	_, errs = runRanks(t, 2, func(int) Options {
		o := parallelOptions(dir, 2, 16)
		o.Resume = filepath.Join(dir, "last.bin")
		return o
	})
	for r, err := range errs {
		if !errors.Is(err, ErrRanks) || strings.Contains(err.Error(), "\n") {
			t.Errorf("rank %d: resuming a one-process run with 2 ranks: %v", r, err)
		}
	}
}

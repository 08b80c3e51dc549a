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
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// runRanks runs Run on n in-process ranks (dist.Group), each with the
// options o(rank) gives, and returns rank 0's result and every error.
func runRanks(t *testing.T, n int, o func(rank int) Options) (*Result, []error) {
	t.Helper()
	comms, err := dist.Group(n, 0)
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, n)
	var res *Result
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Go(func() {
			opts := o(r)
			opts.Comm = c
			got, err := Run(context.Background(), opts)
			errs[r] = err
			if r == 0 {
				res = got
			}
		})
	}
	wg.Wait()
	return res, errs
}

// parallelOptions is a run of one epoch of steps global batches of
// batch, with every random stream of the loader on.
func parallelOptions(out string, steps, batch int) Options {
	r := DefaultRecipe()
	r.Epochs, r.BatchSize, r.EvalBatch, r.LR, r.WarmupEpochs, r.SWAEpochs = 1, batch, 50, 0.05, 0.5, 0
	r.Cutout, r.AlternateFlips, r.RandomErasing, r.Init = 8, true, 0.5, "he"
	cfg := model.CIFAR10(0.25)
	return Options{Recipe: r, Config: cfg, OutDir: out, Train: learnable(steps*batch, 1), Test: learnable(97, 2)}
}

// relDiff is max |a−b| over the largest |b| of a tensor.
func relDiff(a, b []float32) float64 {
	scale, d := 0.0, 0.0
	for i := range b {
		scale = max(scale, math.Abs(float64(b[i])))
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d / max(scale, 1e-30)
}

// float64Step is one rank's step of the float64 reference of a
// data-parallel run: MobileNet in float64 on a part of the batch, its
// gradients averaged over the ranks (AllreduceSum64) and Nesterov SGD
// applied as SGD.Step does, BatchNorm synchronised when all is not nil.
type float64Step struct {
	vm     G.VM
	net    *model.Net
	target *G.Node
	loss   G.Value
	params G.Nodes
	vel    [][]float64
}

func newFloat64Step(t *testing.T, m *model.Model, batch int) *float64Step {
	t.Helper()
	g := G.NewGraph()
	net, err := m.Build(g, batch)
	if err != nil {
		t.Fatal(err)
	}
	s := &float64Step{net: net}
	s.target = G.NewMatrix(g, tensor.Float64, G.WithShape(batch, m.Config.Classes), G.WithName("targets"))
	loss, err := layers.SoftmaxCrossEntropy(net.Logits, s.target)
	if err != nil {
		t.Fatal(err)
	}
	s.params = net.Learnables()
	if _, err := G.Grad(loss, s.params...); err != nil {
		t.Fatal(err)
	}
	G.Read(loss, &s.loss)
	s.vm = G.NewTapeMachine(g, G.BindDualValues(s.params...))
	for _, p := range s.params {
		s.vel = append(s.vel, make([]float64, p.Shape().TotalSize()))
	}
	return s
}

// run takes one step on x (float64 pixels) and labels y; c averages the
// gradients (nil: one process).
func (s *float64Step) run(t *testing.T, x []float64, y []int, classes int, lr float64, c dist.Comm) {
	t.Helper()
	onehot := make([]float64, len(y)*classes)
	for i, k := range y {
		onehot[i*classes+k] = 1
	}
	G.Let(s.net.Input, tensor.New(tensor.WithShape(s.net.Input.Shape()...), tensor.WithBacking(x)))
	G.Let(s.target, tensor.New(tensor.WithShape(len(y), classes), tensor.WithBacking(onehot)))
	s.vm.Reset()
	if err := s.vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	for i, p := range s.params {
		gv, err := p.Grad()
		if err != nil {
			t.Fatal(err)
		}
		g := gv.Data().([]float64)
		if c != nil {
			if err := c.AllreduceSum64(g); err != nil {
				t.Fatal(err)
			}
			for j := range g {
				g[j] /= float64(c.Size())
			}
		}
		w, v := p.Value().Data().([]float64), s.vel[i]
		for j := range w {
			v[j] = 0.9*v[j] + g[j]
			w[j] -= lr * (g[j] + 0.9*v[j])
		}
		clear(g)
	}
}

// TestDataParallelEqualsOneProcess: the arithmetic of a data-parallel step
// (each rank's part of the loader's batch, synchronised BatchNorm, the
// gradient average) equals one process's on the whole batch: in float64,
// 2 ranks of 64 images against 1 process of 128, at the recipe's warm-up
// learning rates, every weight, BatchNorm statistic and velocity within
// 1e-9 relative of its tensor's largest value after 4 steps (measured
// 9e-12). Not after 20: this training amplifies any rounding difference
// by up to ~30× a step (in float64, weights 6e-14 apart after 2 steps,
// 1e-12 after 4, 6e-7 after 8, O(1) after 20; in float32 one unit in the
// last place of one weight moves every BatchNorm shift by O(1) within 20
// steps, which TestDataParallelReplicas measures), so after 20 steps no
// implementation that adds in another order can match to 1e-4; a wrong
// exchange shows at the first step, as O(1e-2). Without synchronisation the ranks'
// statistics, and so their steps, differ from one process's: the check
// sees a missing exchange.
func TestDataParallelEqualsOneProcess(t *testing.T) {
	const steps, batch, ranks = 4, 128, 2
	cfg := model.CIFAR10(0.25)
	cfg.Resolution = 16
	lc := data.LoaderConfig{BatchSize: batch, Resolution: 16, Shuffle: true, Augment: true, Cutout: 8, AlternateFlips: true, Seed: 3, DropLast: true}
	ds := learnable(steps*batch, 1)
	newModel := func() *model.Model {
		m, err := model.New(cfg, model.Options{Seed: 1, Dtype: tensor.Float64})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// rank r's batches: float64 pixels and labels
	batches := func(sh data.Shard) (xs [][]float64, ys [][]int) {
		lc := lc
		lc.Shard = sh
		l, err := data.NewLoader(ds, lc)
		if err != nil {
			t.Fatal(err)
		}
		for b := range l.Epoch(t.Context(), 0, 0) {
			x := make([]float64, len(b.X))
			for i, v := range b.X {
				x[i] = float64(v)
			}
			xs, ys = append(xs, x), append(ys, b.Y)
		}
		return xs, ys
	}
	lr := func(i int) float64 { return 0.2 * float64(i+1) / 390 } // the recipe's warm-up
	one := newModel()
	ref := newFloat64Step(t, one, batch)
	xs, ys := batches(data.Shard{})
	for i := range xs {
		ref.run(t, xs[i], ys[i], cfg.Classes, lr(i), nil)
	}
	for _, synced := range []bool{true, false} {
		comms, _ := dist.Group(ranks, 0)
		models := make([]*model.Model, ranks)
		steppers := make([]*float64Step, ranks)
		var wg sync.WaitGroup
		for r, c := range comms {
			models[r] = newModel()
			steppers[r] = newFloat64Step(t, models[r], batch/ranks)
			if synced {
				models[r].Store.SyncBatchNorm(c.AllreduceSum64)
			}
			xs, ys := batches(data.Shard{Rank: r, Size: ranks})
			wg.Go(func() {
				for i := range xs {
					steppers[r].run(t, xs[i], ys[i], cfg.Classes, lr(i), c)
				}
			})
		}
		wg.Wait()
		worst, where := 0.0, ""
		for r := range ranks {
			for _, v := range one.Store.Vars() {
				if d := relDiff64(models[r].Store.Var(v.Name).Value.Data().([]float64), v.Value.Data().([]float64)); d > worst {
					worst, where = d, v.Name
				}
			}
			for i := range ref.vel {
				d := relDiff64(steppers[r].vel[i], ref.vel[i])
				if d > worst {
					worst, where = d, "velocity of "+ref.params[i].Name()
				}
			}
		}
		t.Logf("sync-bn %v: 2 ranks against 1 process after %d steps: worst %.3g (%s)", synced, steps, worst, where)
		if synced && worst > 1e-9 {
			t.Errorf("synchronised: %s differs from one process by %.3g relative", where, worst)
		}
		if !synced && worst < 1e-3 {
			t.Errorf("not synchronised, yet within %.3g of one process", worst)
		}
	}
}

// relDiff64 is relDiff in float64.
func relDiff64(a, b []float64) float64 {
	scale, d := 0.0, 0.0
	for i := range b {
		scale = max(scale, math.Abs(b[i]))
		d = max(d, math.Abs(a[i]-b[i]))
	}
	return d / max(scale, 1e-300)
}

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

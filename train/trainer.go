package train

import (
	"errors"
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"

	"github.com/gomobilenet/mobilenet/dist"
	"github.com/gomobilenet/mobilenet/evaluate"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	"gorgonia.org/tensor"
)

// Trainer runs training steps on one graph of a network: forward, loss,
// backward through Gorgonia's autodiff, and the optimizer's update.
type Trainer struct {
	n              layers.Network
	store          *layers.Store
	net            *layers.Net
	targets        *G.Node
	vm             G.VM
	params         G.Nodes
	vars           []*layers.Var
	opt            *SGD
	lossV, logitsV G.Value
	onehot         []float32
	grads          []*tensor.Dense
	buckets        []bucket // of the gradient all-reduce, made on first use
	bucketFloats   int      // their size (0: BucketFloats)
	comm           commTimes
	// LabelSmoothing ε in [0, 1): the loss is taken against
	// (1−ε)·one-hot + ε/K instead of the one-hot labels.
	LabelSmoothing float64
	// Comm, when it has more than one rank, makes each step this rank's
	// part of a data-parallel step: the batch given is the rank's part of
	// the global batch, the gradients are averaged over the ranks (in
	// buckets, BucketFloats) before the optimizer's update, and the loss
	// and correct count returned are the whole batch's. Every rank must
	// step in turn, with equal weights and optimizer state (Run
	// broadcasts rank 0's at the start).
	Comm dist.Comm
}

// NewTrainer builds the training graph of a network (a MobileNet,
// *model.Model, or any layers.Network of float32 variables) for the given
// batch size.
func NewTrainer(n layers.Network, batch int, opt *SGD) (*Trainer, error) {
	if err := model.CheckNetworkMemory(n, batch, 0); err != nil {
		return nil, err
	}
	return newTrainer(n, batch, opt)
}

// newTrainer is NewTrainer without the memory check (a run's set-up makes
// one for everything it builds).
func newTrainer(n layers.Network, batch int, opt *SGD) (*Trainer, error) {
	switch {
	case layers.IsNilNetwork(n):
		return nil, errors.New("trainer: no network (nil)")
	case opt == nil:
		return nil, errors.New("trainer: no optimizer (nil; train.NewSGD makes one)")
	case n.VarStore() == nil || n.VarStore().Dtype() != tensor.Float32:
		return nil, errors.New("trainer: the network's variables must be float32")
	}
	g := G.NewGraph()
	net, err := n.BuildNet(g, batch, false)
	if err != nil {
		return nil, err
	}
	k := n.Classes()
	t := &Trainer{n: n, store: n.VarStore(), net: net, opt: opt, onehot: make([]float32, batch*k)}
	t.targets = G.NewMatrix(g, t.store.Dtype(), G.WithShape(batch, k), G.WithName("targets"))
	loss, err := layers.SoftmaxCrossEntropy(net.Logits, t.targets)
	if err != nil {
		return nil, err
	}
	t.params = net.Learnables()
	t.vars = net.Builder.LearnableVars()
	if _, err := G.Grad(loss, t.params...); err != nil {
		return nil, fmt.Errorf("gradient: %w", err)
	}
	G.Read(loss, &t.lossV)
	G.Read(net.Logits, &t.logitsV)
	if t.vm, err = layers.NewTapeMachine(g, G.BindDualValues(t.params...)); err != nil {
		return nil, err
	}
	t.grads = make([]*tensor.Dense, len(t.params))
	return t, nil
}

// Close releases the machine.
func (t *Trainer) Close() { t.vm.Close() }

// Step trains on one batch (x: batch×3×R×R normalised pixels, y: labels)
// with learning rate lr, and returns the batch's loss and how many images it
// classified correctly (before the update). A NaN loss is returned as is and
// the update is skipped.
func (t *Trainer) Step(x []float32, y []int, lr float64) (float64, int, error) {
	return t.StepMixed(x, y, nil, 1, lr)
}

// StepMixed is Step on a batch of mixed images (data.Mix: MixUp, CutMix):
// image i's target is lam·y[i] + (1−lam)·y2[i], each label smoothed as
// Step smooths it; an image counts as correct when its top class is the
// label of the larger weight. y2 nil (with lam 1) is Step.
func (t *Trainer) StepMixed(x []float32, y, y2 []int, lam, lr float64) (float64, int, error) {
	l, c, _, err := t.step(x, y, y2, lam, lr, false)
	return l, c, err
}

// step is StepMixed that also says whether to stop after it: stop, or, in
// a data-parallel job, any rank's stop (so that every rank stops after the
// same step).
func (t *Trainer) step(x []float32, y, y2 []int, lam, lr float64, stop bool) (float64, int, bool, error) {
	l, c, err := t.forwardBackward(x, y, y2, lam)
	if err != nil {
		zeroGrads(t.grads)
		return l, c, stop, err
	}
	if t.Comm != nil && t.Comm.Size() > 1 {
		return t.reduceAndStep(l, c, stop, lr)
	}
	if math.IsNaN(l) || math.IsInf(l, 0) {
		zeroGrads(t.grads)
		return l, c, stop, nil
	}
	return l, c, stop, t.opt.Step(lr, t.vars, t.grads)
}

// forwardBackward runs the graph on a batch and leaves the gradients in
// t.grads; it returns the loss and the number of images classified
// correctly.
func (t *Trainer) forwardBackward(x []float32, y, y2 []int, lam float64) (float64, int, error) {
	k := t.n.Classes()
	batch := len(t.onehot) / k
	if len(x) != t.net.Input.Shape().TotalSize() || len(y) < batch || (y2 != nil && len(y2) < batch) {
		return 0, 0, fmt.Errorf("batch of %d values and %d labels, want %v and %d", len(x), len(y), t.net.Input.Shape(), batch)
	}
	if !(t.LabelSmoothing >= 0 && t.LabelSmoothing < 1) {
		return 0, 0, fmt.Errorf("label smoothing %g: must be in [0, 1)", t.LabelSmoothing)
	}
	if !(lam >= 0 && lam <= 1) || (y2 == nil && lam != 1) {
		return 0, 0, fmt.Errorf("mixing weight %g: must be in [0, 1], and 1 without second labels", lam)
	}
	if err := mixedTargets(t.onehot, y[:batch], y2, lam, k, t.LabelSmoothing); err != nil {
		return 0, 0, err
	}
	if lam < 0.5 {
		y = y2 // accuracy against the label of the larger weight
	}
	if err := G.Let(t.net.Input, tensor.New(tensor.WithShape(t.net.Input.Shape()...), tensor.WithBacking(x))); err != nil {
		return 0, 0, err
	}
	if err := G.Let(t.targets, tensor.New(tensor.WithShape(batch, k), tensor.WithBacking(t.onehot))); err != nil {
		return 0, 0, err
	}
	t.vm.Reset()
	if err := t.vm.RunAll(); err != nil {
		return 0, 0, err
	}
	if err := t.store.SyncBatchNormErr(); err != nil {
		return 0, 0, fmt.Errorf("synchronised BatchNorm: %w", err)
	}
	l := float64(*t.lossV.(*G.F32))
	correct := 0
	lg := t.logitsV.Data().([]float32)
	for i := 0; i < batch; i++ {
		if p, _ := evaluate.Top1(lg[i*k : (i+1)*k]); p == y[i] {
			correct++
		}
	}
	for i, p := range t.params {
		gv, err := p.Grad()
		if err != nil {
			return l, correct, fmt.Errorf("gradient of %s: %w", p.Name(), err)
		}
		t.grads[i] = gv.(*tensor.Dense)
	}
	return l, correct, nil
}

// mixedTargets writes lam·smooth(y) + (1−lam)·smooth(y2) into dst (N×k);
// y2 nil is smoothTargets. Both smoothings put eps/k everywhere, so only a
// share (1−lam)·(1−eps) moves from each row's y to its y2.
func mixedTargets(dst []float32, y, y2 []int, lam float64, k int, eps float64) error {
	if err := smoothTargets(dst, y, k, eps); err != nil || y2 == nil || lam == 1 {
		return err
	}
	moved := float32((1 - lam) * (1 - eps))
	for i, c2 := range y2[:len(y)] {
		if c2 < 0 || c2 >= k {
			return fmt.Errorf("label %d outside [0, %d)", c2, k)
		}
		dst[i*k+y[i]] -= moved
		dst[i*k+c2] += moved
	}
	return nil
}

// smoothTargets writes the training targets of labels y into dst (len(y)×k):
// (1−eps)·one-hot + eps/k.
func smoothTargets(dst []float32, y []int, k int, eps float64) error {
	off := float32(eps / float64(k))
	on := float32(1-eps) + off
	for i := range dst {
		dst[i] = off
	}
	for i, c := range y {
		if c < 0 || c >= k {
			return fmt.Errorf("label %d outside [0, %d)", c, k)
		}
		dst[i*k+c] = on
	}
	return nil
}

package train

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/dist"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
)

// run is one training run in progress.
type run struct {
	o      Options
	r      Recipe
	hdr    Header         // what the next checkpoint records
	net    layers.Network // what is trained
	m      *model.Model   // net when it is a MobileNet, else nil
	opt    *SGD
	comm   dist.Comm // the ranks (Local: one process)
	avg    *ema      // nil without Recipe.EMA
	swa    *swaTail  // nil without Recipe.SWAEpochs
	tr     *Trainer
	eval   *Evaluator
	loader *data.Loader
	early  *data.Loader // the epochs before the plan's augmentation (BudgetPlan.AugmentFrom), or nil
	low    *lowRes      // the low-resolution epochs' trainer and loaders (Recipe.LowRes), or nil
	sched  Schedule
	budget *budget // nil without Recipe.TimeBudget
	logw   io.Writer
	progw  io.Writer // nil: no bars
	res    *Result
}

// openRun starts a run afresh (from Options.Init's weights when set) or
// resumes one: a resumed run takes its model, recipe and optimizer
// settings from the checkpoint, read before anything is built.
func openRun(o Options) (*run, error) {
	rn := &run{o: o, r: o.Recipe, logw: o.Log, progw: o.Progress, comm: commOf(o.Comm)}
	if rn.logw == nil || !rn.primary() {
		rn.logw = io.Discard
	}
	if !rn.primary() {
		rn.progw = nil
	}
	ranks := rn.comm.Size()
	if o.Resume == "" {
		if err := rn.r.Validate(); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	if o.Train == nil || o.Test == nil {
		return nil, fmt.Errorf("train: no data")
	}
	if rn.primary() {
		if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	var saved []Tensor
	dataNow := describeData(o.Train, o.Test, o.HeldOut) // hashes every image: once
	rn.hdr = Header{Config: o.Config}
	if o.Resume != "" {
		h, ts, err := o.Saved.readShared(rn.comm, o.Resume)
		if err != nil {
			return nil, err
		}
		if max(h.Ranks, 1) != ranks {
			return nil, fmt.Errorf("resume %s: %w: written by a run of %d, resumed with %d; continue it with mpirun -np %d (each batch's split, and so each step, depends on the number)", o.Resume, ErrRanks, max(h.Ranks, 1), ranks, max(h.Ranks, 1))
		}
		if err := checkData(h.Data, dataNow, o.AllowDataChange); err != nil {
			return nil, fmt.Errorf("resume %s: %w", o.Resume, err)
		}
		rn.hdr, saved, rn.r = h, ts, h.Recipe
		if err := rn.extend(o.Recipe); err != nil {
			return nil, fmt.Errorf("resume %s: %w", o.Resume, err)
		}
	} else {
		pre := data.CIFAR10Preprocess()
		if o.Input != nil {
			pre = *o.Input
		}
		rn.hdr.Input = &pre
	}
	r := rn.r
	if r.BatchSize%ranks != 0 {
		return nil, fmt.Errorf("train: %w: batch size %d: %d ranks do not divide it (the batch size is the global batch)", ErrRanks, r.BatchSize, ranks)
	}
	rn.hdr.Recipe, rn.hdr.Data, rn.hdr.Classes = r, dataNow, o.Train.Classes
	rn.hdr.Ranks = 0
	if ranks > 1 {
		rn.hdr.Ranks = ranks
	}
	if rn.hdr.Input == nil { // resuming a checkpoint from before it was recorded
		pre := data.CIFAR10Preprocess()
		rn.hdr.Input = &pre
	}
	wrap := func(err error) error {
		if o.Resume != "" {
			return fmt.Errorf("resume %s: %w", o.Resume, err)
		}
		return fmt.Errorf("train: %w", err)
	}
	init, err := r.WeightInit()
	if err != nil {
		return nil, wrap(err)
	}
	rn.opt = NewSGD(r.Momentum, r.WeightDecay, r.Nesterov)
	rn.opt.DecayParams = r.DecayParams
	if err := rn.openNetwork(init); err != nil {
		return nil, wrap(err)
	}
	switch {
	case o.Resume != "":
		if err := restore(rn.store(), rn.opt, saved); err != nil {
			return nil, wrap(err)
		}
	case r.InitFrom != "":
		if err := initFrom(rn.net, r.InitFrom, o.Saved, rn.logw); err != nil {
			return nil, wrap(err)
		}
	}
	if err := freeze(rn.store(), r.Freeze); err != nil {
		return nil, wrap(err)
	}
	// Rank 0's weights and statistics everywhere (equal already when every
	// rank initialised from the same seed or read the same bytes: this
	// makes sure of it).
	if err := broadcastVars(rn.comm, rn.store().Vars()); err != nil {
		return nil, wrap(err)
	}
	if o.Train.Len() < r.BatchSize {
		return nil, fmt.Errorf("train: %w: %d images make no batch of %d", ErrTooFewImages, o.Train.Len(), r.BatchSize)
	}
	// The run's one memory check: the training graph, the evaluation, and
	// the SWA tail's BatchNorm graph (counted as an inference graph at the
	// training batch, on top of the evaluation's: an overestimate).
	inference := r.EvalBatch
	if r.SWAEpochs > 0 {
		inference += r.BatchSize / ranks
	}
	trainMem := r.BatchSize / ranks
	if rn.m != nil {
		trainMem += lowResMemory(rn.m.Config, r, trainMem) // the low-resolution graph's
	}
	if err := model.CheckNetworkMemory(rn.net, trainMem, inference); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if rn.primary() {
		removeStaleTemps(o.OutDir)
	}
	length := fmt.Sprintf("%d epochs", r.TotalEpochs())
	if r.TimeBudget > 0 {
		length = fmt.Sprintf("epochs planned for a time budget of %v", r.TimeBudget)
	}
	fmt.Fprintf(rn.logw, "%s, %d classes: %d train, %d test images, %s, batch %d, out %s\n",
		rn.describe(), rn.net.Classes(), o.Train.Len(), o.Test.Len(), length, r.BatchSize, o.OutDir)
	if o.Resume != "" {
		fmt.Fprintf(rn.logw, "resuming %s at epoch %d, batch %d (step %d); model, recipe and optimizer settings from the checkpoint\n", o.Resume, rn.hdr.Epoch, rn.hdr.Batch, rn.hdr.Step)
	}
	fmt.Fprintf(rn.logw, "recipe: %v\n", r)
	if ranks > 1 {
		bn := "each rank's own, averaged across ranks before every evaluation and checkpoint (--sync-bn: the whole batch's)"
		if r.SyncBN {
			bn = "synchronised: the whole global batch's, on every rank"
		}
		fmt.Fprintf(rn.logw, "data-parallel: %d ranks (%s), %d images a rank a step; BatchNorm statistics %s\n", ranks, rn.comm.Name(), r.BatchSize/ranks, bn)
		if r.SyncBN {
			rn.store().SyncBatchNorm(rn.comm.AllreduceSum64)
		}
	}
	lc := data.LoaderConfig{BatchSize: r.BatchSize, Resolution: rn.net.InputShape()[1], Input: rn.hdr.Input, Shuffle: true, Cutout: r.Cutout, AlternateFlips: r.AlternateFlips,
		TrivialAugment: r.TrivialAugment, RandomErasing: r.RandomErasing, Mix: data.Mix{MixUp: r.MixUp, CutMix: r.CutMix}, Seed: r.Seed, DropLast: true,
		Shard: data.Shard{Rank: rn.comm.Rank(), Size: ranks}}
	if r.Augment {
		if rn.m != nil {
			lc.Augment, lc.RandomResizedCrop = Augmentation(rn.m.Config)
		} else { // CIFAR-10's crop for 32×32 images, ImageNet's otherwise
			lc.Augment, lc.RandomResizedCrop = o.Train.FixedSize(), !o.Train.FixedSize()
		}
	}
	if rn.loader, err = data.NewLoader(o.Train, lc); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if p := rn.hdr.Plan; p != nil && rn.hdr.Epoch+1 < p.AugmentFrom { // resumed before the plan's augmentation applies
		lc.Cutout, lc.AlternateFlips = DefaultRecipe().Cutout, false
		if rn.early, err = data.NewLoader(o.Train, lc); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	perEpoch := rn.loader.NumBatches()
	rn.sched = Schedule{Base: r.LR, Min: r.MinLR, Warmup: int(r.WarmupEpochs * float64(perEpoch)), Total: r.Epochs * perEpoch, Decay: r.Schedule}
	if rn.budget = rn.newBudget(); rn.budget != nil && rn.hdr.Plan == nil {
		fmt.Fprintf(rn.logw, "time budget %v: the epochs are planned after the first %d steps, then after every epoch\n", r.TimeBudget, planSteps)
	}
	if rn.tr, err = newTrainer(rn.net, rn.loader.PartSize(), rn.opt); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	rn.tr.LabelSmoothing, rn.tr.Comm = r.LabelSmoothing, rn.comm
	if err := rn.openLowRes(lc); err != nil {
		rn.tr.Close()
		return nil, wrap(err)
	}
	if rn.eval, err = NewEvaluator(rn.net, r.EvalBatch); err != nil {
		rn.tr.Close()
		rn.low.close()
		return nil, fmt.Errorf("train: %w", err)
	}
	rn.eval.TTA, rn.eval.Input, rn.eval.Comm = r.TTA, rn.hdr.Input, rn.comm
	if err := rn.openSWA(lc, saved); err != nil {
		rn.close()
		return nil, wrap(err)
	}
	if r.EMA > 0 {
		rn.avg = newEMA(rn.store(), r.EMA)
		if o.Resume != "" && !restoreEMA(rn.avg, saved) {
			fmt.Fprintf(rn.logw, "the checkpoint has no weight average: it starts from the current weights\n")
		}
	}
	if rn.primary() {
		if err := rn.writeRunRecord(time.Now()); err != nil {
			rn.close()
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	rn.res = &Result{Model: rn.m, Network: rn.net, BestAcc: rn.hdr.BestAcc, LastAcc: rn.hdr.TestAcc, Epochs: rn.hdr.Epoch}
	rn.store().Mode().SetTraining(true)
	return rn, nil
}

// openNetwork sets the network the run trains: Options.Network, or the
// MobileNet of the header's configuration, initialised by init from the
// recipe's seed.
func (rn *run) openNetwork(init layers.Init) error {
	o, r := rn.o, rn.r
	if o.Network != nil {
		if layers.IsNilNetwork(o.Network) || o.Network.VarStore() == nil {
			return errors.New("the network has no variables (nil)")
		}
		if rn.hdr.Network == "" && o.Resume != "" {
			return fmt.Errorf("the checkpoint is a MobileNet's (%s); resume it without Options.Network", rn.hdr.Config.Describe())
		}
		rn.net, rn.hdr.Config = o.Network, model.Config{}
		rn.hdr.Network = o.NetworkName
		if rn.hdr.Network == "" {
			rn.hdr.Network = "custom network"
		}
		if m, ok := o.Network.(*model.Model); ok {
			rn.m = m
		}
		rn.store().SetPrecision(o.Precision)
		return nil
	}
	if rn.hdr.Network != "" {
		return fmt.Errorf("the checkpoint is of a %s, not a MobileNet: resume it with that network (Options.Network)", rn.hdr.Network)
	}
	m, err := model.New(rn.hdr.Config, model.Options{Seed: r.Seed, Depthwise: o.Depthwise, Init: init, Precision: o.Precision})
	if err != nil {
		return err
	}
	rn.net, rn.m = m, m
	return nil
}

// store is the trained network's Store.
func (rn *run) store() *layers.Store { return rn.net.VarStore() }

// describe names the network in the log.
func (rn *run) describe() string {
	if rn.m != nil && rn.o.Network == nil {
		return "MobileNet v1 " + rn.m.Config.Describe()
	}
	in := rn.net.InputShape()
	return fmt.Sprintf("%s, input %d×%d×%d, %d parameters", rn.hdr.Network, in[0], in[1], in[2], rn.store().NumParams())
}

func (rn *run) close() {
	rn.tr.Close()
	rn.low.close()
	rn.eval.Close()
	rn.swa.close()
}

// extend applies what a resume may change of the checkpoint's recipe: more
// epochs of the schedule (not once the SWA tail has begun) and more SWA
// epochs (with asked's SWALR when the run had none).
func (rn *run) extend(asked Recipe) error {
	r := &rn.r
	if asked.Epochs > r.Epochs {
		if r.SWAEpochs > 0 && (rn.hdr.Epoch > r.Epochs || rn.hdr.Epoch == r.Epochs && rn.hdr.Batch > 0) {
			return fmt.Errorf("epochs %d: the run has begun its SWA tail (after its %d epochs), and its schedule can no longer be extended", asked.Epochs, r.Epochs)
		}
		r.Epochs = asked.Epochs
	}
	if asked.SWAEpochs > r.SWAEpochs {
		if r.SWAEpochs == 0 {
			r.SWALR = asked.SWALR
		}
		r.SWAEpochs = asked.SWAEpochs
		if err := r.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// primary reports whether this process writes the run's files and log:
// rank 0 of a data-parallel job, or the one process.
func (rn *run) primary() bool { return rn.comm.Rank() == 0 }

// agree returns whether any rank says stop (stop itself in one process).
func (rn *run) agree(stop bool) (bool, error) {
	if rn.comm.Size() == 1 {
		return stop, nil
	}
	v := []float32{0}
	if stop {
		v[0] = 1
	}
	if err := rn.comm.AllreduceSum(v); err != nil {
		return false, fmt.Errorf("train: %w", err)
	}
	return v[0] > 0, nil
}

// syncStats averages the ranks' BatchNorm running statistics, the model's
// and the weight average's (a no-op in one process).
func (rn *run) syncStats() error {
	if rn.comm.Size() == 1 {
		return nil
	}
	if err := averageStats(rn.comm, runningStats(rn.store())); err != nil {
		return err
	}
	if rn.avg != nil { // the EMA's statistics follow each rank's
		rn.avg.swap()
		err := averageStats(rn.comm, runningStats(rn.store()))
		rn.avg.swap()
		return err
	}
	return nil
}

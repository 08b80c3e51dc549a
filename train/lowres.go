package train

import (
	"errors"
	"fmt"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/model"
)

// Progressive resizing (Recipe.LowRes): the schedule's first epochs train
// a second graph of the same model, built for LowRes×LowRes inputs
// (model.Model.AtResolution: the same variables), on batches of that size;
// the optimizer, its velocities, the schedule and the BatchNorm statistics
// carry on across the switch as across any epoch.

// lowRes is what the low-resolution epochs train with.
type lowRes struct {
	tr     *Trainer
	loader *data.Loader // run.loader's configuration at the low resolution
	early  *data.Loader // run.early's, or nil
}

// openLowRes builds the low-resolution trainer and loaders from the
// full-resolution loaders' configuration lc (nothing without
// Recipe.LowRes).
func (rn *run) openLowRes(lc data.LoaderConfig) error {
	r := rn.r.Canonical()
	if r.LowRes == 0 {
		return nil
	}
	if rn.m == nil {
		return errors.New("progressive resizing (a low resolution for the first epochs) needs a MobileNet: other networks are built for one input size")
	}
	if full := rn.m.Config.Resolution; r.LowRes >= full {
		return fmt.Errorf("low resolution %d: must be below the network's %d", r.LowRes, full)
	}
	m, err := rn.m.AtResolution(r.LowRes)
	if err != nil {
		return fmt.Errorf("low resolution: %w", err)
	}
	if r.LowResMode == LowResCrop && (!rn.o.Train.FixedSize() || lc.RandomResizedCrop) {
		return fmt.Errorf("low resolution %d in crop mode: takes windows of CIFAR-10's 32×32 crops; the %s mode resamples whole images of other data", r.LowRes, LowResResize)
	}
	lc.Resolution, lc.Window = r.LowRes, r.LowResMode == LowResCrop
	lo := &lowRes{}
	if lo.loader, err = data.NewLoader(rn.o.Train, lc); err != nil {
		return fmt.Errorf("low resolution (%s): %w", r.LowResMode, err)
	}
	if rn.early != nil {
		ec := rn.early.Config()
		ec.Resolution, ec.Window = lc.Resolution, lc.Window
		if lo.early, err = data.NewLoader(rn.o.Train, ec); err != nil {
			return fmt.Errorf("low resolution (%s): %w", r.LowResMode, err)
		}
	}
	if lo.tr, err = newTrainer(m, lo.loader.PartSize(), rn.opt); err != nil {
		return fmt.Errorf("low resolution: %w", err)
	}
	lo.tr.LabelSmoothing, lo.tr.Comm = rn.tr.LabelSmoothing, rn.tr.Comm
	rn.low = lo
	return nil
}

// lowResAt reports whether epoch (from 0), one that has begun
// (startEpoch), trains at the low resolution: an epoch's resolution is
// decided as it begins, so that a plan made during it (a time budget's)
// does not change it.
func (rn *run) lowResAt(epoch int) bool {
	if rn.low == nil {
		return false
	}
	if f := rn.hdr.FullResFrom; f > 0 {
		return epoch+1 < f
	}
	return true
}

// startEpoch decides epoch's resolution as it begins: the low one while
// the recipe's LowResEpochs (of the current plan) have not all run, then
// the configuration's, from then on (Header.FullResFrom).
func (rn *run) startEpoch(epoch int) {
	if rn.low != nil && rn.hdr.FullResFrom == 0 && epoch >= rn.r.LowResEpochs() {
		rn.hdr.FullResFrom = epoch + 1
		fmt.Fprintf(rn.logw, "epoch %d: from here on at %d×%d (the first %d at %d×%d)\n", epoch+1, rn.m.Config.Resolution, rn.m.Config.Resolution, epoch, rn.r.LowRes, rn.r.LowRes)
	}
}

// trainerFor is the trainer of epoch (from 0).
func (rn *run) trainerFor(epoch int) *Trainer {
	if rn.lowResAt(epoch) {
		return rn.low.tr
	}
	return rn.tr
}

// lowResMemory is the batch of full-resolution images whose activations
// take about as much memory as a training batch at the low resolution
// (activations scale with the pixels): what a run's memory check adds.
func lowResMemory(cfg model.Config, r Recipe, batch int) int {
	if r.LowRes <= 0 || cfg.Resolution <= 0 {
		return 0
	}
	return (batch*r.LowRes*r.LowRes + cfg.Resolution*cfg.Resolution - 1) / (cfg.Resolution * cfg.Resolution)
}

func (lo *lowRes) close() {
	if lo != nil {
		lo.tr.Close()
	}
}

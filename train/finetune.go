package train

import (
	"errors"
	"fmt"
	"io"

	"github.com/gomobilenet/mobilenet/checkpoint"
	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
)

// Freeze is what a fine-tuning run keeps fixed (Recipe.Freeze, cmd/train's
// --freeze): FreezeNone ("" too) or FreezeBody. It is a flag.Value.
type Freeze string

// What Recipe.Freeze trains.
const (
	FreezeNone Freeze = "none" // every parameter
	FreezeBody Freeze = "body" // the classifier only
)

// ParseFreeze reads a Freeze's name.
func ParseFreeze(s string) (Freeze, error) {
	switch f := Freeze(s); f {
	case "", FreezeNone:
		return FreezeNone, nil
	case FreezeBody:
		return f, nil
	}
	return "", fmt.Errorf("freeze %q: want %s or %s", s, FreezeNone, FreezeBody)
}

// String is the name ("" reads as FreezeNone's).
func (f Freeze) String() string {
	if f == "" {
		return string(FreezeNone)
	}
	return string(f)
}

// Set parses s into f (flag.Value).
func (f *Freeze) Set(s string) (err error) {
	*f, err = ParseFreeze(s)
	return err
}

// FineTuneLR is the peak learning rate cmd/train uses with --init when
// --lr is not given: a tenth of the default, so that the pretrained
// features are refined rather than overwritten (with --freeze body the
// default's would do as well; only the classifier learns).
const FineTuneLR = 0.01

// FineTuneEpochs is the length of a run cmd/train starts with --init when
// --epochs is not given: pretrained features need a few epochs, not the
// default recipe's schedule from scratch (Keras's and torchvision's
// fine-tuning tutorials run 10 to 25).
const FineTuneEpochs = 10

// Augmentation is the training augmentation of a configuration: CIFAR-10's
// padded random crop and flip (crop), or, for ImageNet's configuration,
// torchvision's random resized crop and flip (randomResized).
func Augmentation(cfg model.Config) (crop, randomResized bool) {
	if cfg.Name == "imagenet" {
		return false, true
	}
	return true, false
}

// FineTune is what a run started from a checkpoint (Recipe.InitFrom)
// takes from it: the network (the checkpoint's configuration with the
// data's class count, and resolution when not 0) and its preprocessing's
// normalisation (the features were learnt on it), with the evaluation
// resize of the configuration.
func FineTune(path string, classes, resolution int) (model.Config, data.Preprocess, error) {
	h, _, err := ReadCheckpoint(path)
	if err != nil {
		return model.Config{}, data.Preprocess{}, err
	}
	return FineTuneFrom(h, path, classes, resolution)
}

// FineTuneFrom is FineTune from a checkpoint already read (its header; the
// path for errors).
func FineTuneFrom(h Header, path string, classes, resolution int) (model.Config, data.Preprocess, error) {
	cfg := h.Config
	cfg.Classes = classes
	if resolution != 0 {
		cfg.Resolution = resolution
	}
	if err := cfg.Validate(); err != nil {
		return model.Config{}, data.Preprocess{}, fmt.Errorf("fine-tune from %s: %w", path, err)
	}
	pre := h.Preprocess()
	pre.Resize = EvalResize(cfg)
	return cfg, pre, nil
}

// EvalResize is the evaluation resize of a configuration: whole images for
// CIFAR-10's, torchvision's centre crop for ImageNet's.
func EvalResize(cfg model.Config) string {
	if cfg.Name == "imagenet" {
		return data.ResizeCenterCrop
	}
	return data.ResizeExact
}

// initFrom loads a checkpoint's weights (its average when it has one) into
// a new run's network: for a MobileNet every variable but the
// classifier's must match, the classifier kept freshly initialised when
// the class counts differ; for other networks every variable.
func initFrom(n layers.Network, path string, saved *Saved, log io.Writer) error {
	h, ts, err := saved.read(path)
	if err != nil {
		return err
	}
	ts = checkpoint.PreferAverage(ts)
	opts := layers.LoadOptions{}
	m, isMobileNet := n.(*model.Model)
	if isMobileNet && h.Config.Classes != m.Config.Classes {
		opts.Skip = []string{model.ClassifierScope}
	}
	rep, err := n.VarStore().Restore(ts, opts)
	if err != nil {
		return fmt.Errorf("initialise from %s: %w", path, err)
	}
	fmt.Fprintf(log, "initialised from %s: %d tensors loaded", path, len(rep.Loaded))
	if len(rep.Skipped) > 0 {
		fmt.Fprintf(log, "; the classifier is new (%d classes there, %d here)", h.Config.Classes, m.Config.Classes)
	}
	fmt.Fprintln(log)
	return nil
}

// LoadInto loads a checkpoint's variables into a network built by the
// caller (what a run given Options.Network wrote, or a MobileNet's into a
// model.New of its configuration): every variable must be present with
// its shape; the weight average is loaded where the checkpoint holds one,
// as LoadModel does. The header says what the checkpoint records.
func LoadInto(path string, n layers.Network) (Header, error) {
	if layers.IsNilNetwork(n) || n.VarStore() == nil {
		return Header{}, errors.New("load checkpoint: no network (nil)")
	}
	h, ts, err := ReadCheckpoint(path)
	if err != nil {
		return h, err
	}
	if err := restore(n.VarStore(), nil, ts); err != nil {
		return h, fmt.Errorf("load checkpoint %s: %w", path, err)
	}
	if e := newEMA(n.VarStore(), 0); restoreEMA(e, ts) {
		e.swap()
	}
	return h, nil
}

// freeze applies Recipe.Freeze to a network's variables before its
// training graph is built (FreezeBody keeps the variables under
// model.ClassifierScope trainable).
func freeze(s *layers.Store, what Freeze) error {
	switch what {
	case "", FreezeNone:
		return nil
	case FreezeBody:
		if _, err := s.SetTrainable("", false); err != nil {
			return err
		}
		_, err := s.SetTrainable(model.ClassifierScope, true)
		return err
	}
	return fmt.Errorf("freeze %q: want %s or %s", what, FreezeNone, FreezeBody)
}

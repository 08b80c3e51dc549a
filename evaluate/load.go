package evaluate

import (
	"encoding/json"
	"fmt"

	"github.com/gomobilenet/mobilenet/checkpoint"
	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
)

// Checkpoint is what inference reads of a training checkpoint's header
// (train.Header writes it): the network, its classes and preprocessing,
// and where training stood.
type Checkpoint struct {
	Config model.Config `json:"config"`
	// Network names a network that is not a MobileNet (train.Options.Network);
	// Load refuses those (train.LoadInto reads them into the network).
	Network string           `json:"network,omitempty"`
	Classes []string         `json:"class_names,omitempty"`
	Input   *data.Preprocess `json:"input,omitempty"`
	Epoch   int              `json:"epoch"`
	TestAcc float64          `json:"test_acc"`
	// Recipe is the training recipe as recorded (train.Recipe's JSON).
	Recipe json.RawMessage `json:"recipe,omitempty"`
}

// Seed is the recipe's random seed (0 when it records none): the one a
// validation split of the run was drawn with.
func (c Checkpoint) Seed() uint64 {
	var r struct {
		Seed uint64 `json:"seed"`
	}
	json.Unmarshal(c.Recipe, &r)
	return r.Seed
}

// RecipeSummary is a line of the recipe's main settings, as recorded.
func (c Checkpoint) RecipeSummary() string {
	var r map[string]any
	if json.Unmarshal(c.Recipe, &r) != nil || r == nil {
		return "(no recipe recorded)"
	}
	out := ""
	for _, k := range []string{"epochs", "swa_epochs", "batch_size", "lr", "schedule", "weight_decay", "label_smoothing", "cutout", "ema", "sync_bn", "seed"} {
		if v, ok := r[k]; ok {
			if out != "" {
				out += ", "
			}
			out += fmt.Sprintf("%s %v", k, v)
		}
	}
	return out
}

// ClassNames are the checkpoint's class names: the recorded ones,
// CIFAR-10's for older CIFAR-10 checkpoints of 10 classes, else "class 0",
// "class 1", …; recorded reports which.
func (c Checkpoint) ClassNames() (names []string, recorded bool) {
	return ClassNames(c.Classes, c.Config)
}

// ClassNames are a checkpoint's class names, given the recorded ones and
// its configuration (Checkpoint.ClassNames).
func ClassNames(recorded []string, cfg model.Config) ([]string, bool) {
	if len(recorded) == cfg.Classes {
		return recorded, true
	}
	if cfg.Name == "cifar10" && cfg.Classes == data.NumClasses {
		return data.DefaultClassNames, false
	}
	names := make([]string, cfg.Classes)
	for i := range names {
		names[i] = fmt.Sprintf("class %d", i)
	}
	return names, false
}

// Preprocess is the checkpoint's input preprocessing: the recorded one, or
// CIFAR-10's for older checkpoints (the only data they were trained on).
func (c Checkpoint) Preprocess() data.Preprocess {
	if c.Input != nil {
		return *c.Input
	}
	return data.CIFAR10Preprocess()
}

// Load rebuilds the MobileNet of a checkpoint from the file alone, with its
// weight average when it holds one (EMA, SWA): what cmd/eval, cmd/predict,
// cmd/export, cmd/serve and package classify run.
func Load(path string, depthwise layers.DepthwiseImpl) (*model.Model, Checkpoint, error) {
	raw, ts, err := checkpoint.Read(path)
	if err != nil {
		return nil, Checkpoint{}, err
	}
	var c Checkpoint
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, c, fmt.Errorf("load checkpoint %s: %w: header: %v", path, checkpoint.ErrNotCheckpoint, err)
	}
	m, err := FromCheckpoint(c.Config, c.Network, ts, depthwise)
	if err != nil {
		return nil, c, fmt.Errorf("load checkpoint %s: %w", path, err)
	}
	return m, c, nil
}

// FromCheckpoint builds the MobileNet of configuration cfg (a checkpoint's)
// with the checkpoint's tensors, its weight average where it has one.
// network is the header's Network: a checkpoint of another network is
// refused.
func FromCheckpoint(cfg model.Config, network string, ts []checkpoint.Tensor, depthwise layers.DepthwiseImpl) (*model.Model, error) {
	if network != "" {
		return nil, fmt.Errorf("it holds a %s, not a MobileNet: build that network and load it with train.LoadInto", network)
	}
	// Compare sizes before building: a header may describe a model far
	// larger than the file (a billion classes) that would not fit in memory.
	rows, err := cfg.Summary()
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	want, _ := model.Totals(rows)
	have := 0
	for _, t := range ts {
		if t.Info.Kind == checkpoint.KindParam {
			have += len(t.Data)
		}
	}
	if have != want {
		return nil, fmt.Errorf("the checkpoint holds %d parameters, its configuration (%s alpha %g, %d classes) has %d", have, cfg.Name, cfg.Alpha, cfg.Classes, want)
	}
	m, err := model.New(cfg, model.Options{Depthwise: depthwise})
	if err != nil {
		return nil, err
	}
	if _, err := m.Store.Restore(checkpoint.PreferAverage(ts), layers.LoadOptions{}); err != nil {
		return nil, fmt.Errorf("%w (another model configuration?)", err)
	}
	return m, nil
}

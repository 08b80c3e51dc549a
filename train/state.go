package train

import (
	"fmt"

	"github.com/gomobilenet/mobilenet/evaluate"

	"github.com/gomobilenet/mobilenet/checkpoint"
	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
)

// snapshot collects the model's variables, the optimizer's velocities and
// the weight average (kind "ema", when e is not nil) as checkpoint tensors.
func snapshot(s *layers.Store, opt *SGD, e ...*ema) ([]Tensor, error) {
	ts := s.Tensors()
	if opt != nil {
		for _, v := range s.LearnableVars() {
			if vel, ok := opt.Velocity[v.Name]; ok {
				ts = append(ts, Tensor{Info: TensorInfo{Name: v.Name, Kind: checkpoint.KindVelocity, Shape: v.Value.Shape().Clone()}, Data: append([]float32(nil), vel...)})
			}
		}
	}
	if len(e) > 0 && e[0] != nil {
		for i, v := range e[0].vars {
			ts = append(ts, Tensor{Info: TensorInfo{Name: v.Name, Kind: checkpoint.KindEMA, Shape: v.Value.Shape().Clone()}, Data: append([]float32(nil), e[0].shadow[i]...)})
		}
	}
	return ts, nil
}

// restoreEMA loads a checkpoint's weight average into e; false when the
// checkpoint has none.
func restoreEMA(e *ema, ts []Tensor) bool {
	byName := map[string][]float32{}
	for _, t := range ts {
		if t.Info.Kind == checkpoint.KindEMA {
			byName[t.Info.Name] = t.Data
		}
	}
	if len(byName) == 0 {
		return false
	}
	for i, v := range e.vars {
		if d, ok := byName[v.Name]; ok && len(d) == len(e.shadow[i]) {
			copy(e.shadow[i], d)
		}
	}
	return true
}

// restore copies checkpoint tensors into the model (every variable must be
// present with its shape, and nothing else: layers.Store.Restore) and, when
// opt is not nil, the velocities into the optimizer.
func restore(s *layers.Store, opt *SGD, ts []Tensor) error {
	if _, err := s.Restore(ts, layers.LoadOptions{}); err != nil {
		return fmt.Errorf("%w (another model configuration?)", err)
	}
	for _, t := range ts {
		switch t.Info.Kind {
		case checkpoint.KindParam, checkpoint.KindState, checkpoint.KindEMA:
		case checkpoint.KindVelocity:
			v := s.Var(t.Info.Name)
			if v == nil || !v.Learnable {
				return fmt.Errorf("the checkpoint has a velocity for %s, which the model has no parameter of", t.Info.Name)
			}
			if len(t.Data) != v.Value.Shape().TotalSize() {
				return fmt.Errorf("velocity %s has %d values, want %d", v.Name, len(t.Data), v.Value.Shape().TotalSize())
			}
			if opt != nil {
				opt.Velocity[v.Name] = append([]float32(nil), t.Data...)
			}
		default:
			return fmt.Errorf("the checkpoint has a tensor %s of unknown kind %q", t.Info.Name, t.Info.Kind)
		}
	}
	return nil
}

// LoadModel rebuilds a model from a checkpoint alone, with the averaged
// weights when the checkpoint holds an average (Recipe.EMA).
func LoadModel(path string, depthwise layers.DepthwiseImpl) (*model.Model, Header, error) {
	h, ts, err := ReadCheckpoint(path)
	if err != nil {
		return nil, h, err
	}
	m, err := modelFrom(h, ts, depthwise)
	if err != nil {
		return nil, h, fmt.Errorf("load checkpoint %s: %w", path, err)
	}
	return m, h, nil
}

// modelFrom builds the model a checkpoint's header describes and loads its
// variables (evaluate.FromCheckpoint).
func modelFrom(h Header, ts []Tensor, depthwise layers.DepthwiseImpl) (*model.Model, error) {
	return evaluate.FromCheckpoint(h.Config, h.Network, ts, depthwise)
}

// WriteModel writes a checkpoint of a model's variables alone (no optimizer
// state), recording cfg as its configuration.
func WriteModel(path string, m *model.Model, cfg model.Config) error {
	if m == nil {
		return fmt.Errorf("write checkpoint %s: no model (nil)", path)
	}
	ts, err := snapshot(m.Store, nil)
	if err != nil {
		return fmt.Errorf("write checkpoint %s: %w", path, err)
	}
	h := Header{Config: cfg}
	if cfg.Name == "cifar10" && cfg.Classes == data.NumClasses {
		pre := data.CIFAR10Preprocess()
		h.Classes, h.Input = data.DefaultClassNames, &pre
	}
	return WriteCheckpoint(path, h, ts)
}

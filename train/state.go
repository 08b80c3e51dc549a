package train

import (
	"fmt"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	"gorgonia.org/tensor"
)

// snapshot collects the model's variables, the optimizer's velocities and
// the weight average (kind "ema", when e is not nil) as checkpoint tensors.
func snapshot(m *model.Model, opt *SGD, e ...*ema) ([]Tensor, error) {
	var ts []Tensor
	for _, v := range m.Store.Vars() {
		d, ok := v.Value.Data().([]float32)
		if !ok {
			return nil, fmt.Errorf("variable %s is not float32", v.Name)
		}
		kind := "state"
		if v.Learnable {
			kind = "param"
		}
		ts = append(ts, Tensor{Info: TensorInfo{Name: v.Name, Kind: kind, Shape: v.Value.Shape().Clone()}, Data: append([]float32(nil), d...)})
	}
	if opt != nil {
		for _, v := range m.Store.LearnableVars() {
			if vel, ok := opt.Velocity[v.Name]; ok {
				ts = append(ts, Tensor{Info: TensorInfo{Name: v.Name, Kind: "velocity", Shape: v.Value.Shape().Clone()}, Data: append([]float32(nil), vel...)})
			}
		}
	}
	if len(e) > 0 && e[0] != nil {
		for i, v := range e[0].vars {
			ts = append(ts, Tensor{Info: TensorInfo{Name: v.Name, Kind: "ema", Shape: v.Value.Shape().Clone()}, Data: append([]float32(nil), e[0].shadow[i]...)})
		}
	}
	return ts, nil
}

// restoreEMA loads a checkpoint's weight average into e; false when the
// checkpoint has none.
func restoreEMA(e *ema, ts []Tensor) bool {
	byName := map[string][]float32{}
	for _, t := range ts {
		if t.Info.Kind == "ema" {
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
// present with its shape, and nothing else) and, when opt is not nil, the
// velocities into the optimizer.
func restore(m *model.Model, opt *SGD, ts []Tensor) error {
	byKey := map[string]Tensor{}
	for _, t := range ts {
		byKey[t.Info.Kind+" "+t.Info.Name] = t
	}
	used := 0
	for _, v := range m.Store.Vars() {
		kind := "state"
		if v.Learnable {
			kind = "param"
		}
		t, ok := byKey[kind+" "+v.Name]
		if !ok {
			return fmt.Errorf("the checkpoint has no %s %s (another model configuration?)", kind, v.Name)
		}
		if !v.Value.Shape().Eq(tensor.Shape(t.Info.Shape)) {
			return fmt.Errorf("%s %s has shape %v in the checkpoint, the model needs %v", kind, v.Name, t.Info.Shape, v.Value.Shape())
		}
		copy(v.Value.Data().([]float32), t.Data)
		used++
		if vt, ok := byKey["velocity "+v.Name]; ok {
			used++
			if opt != nil {
				if len(vt.Data) != len(t.Data) {
					return fmt.Errorf("velocity %s has %d values, want %d", v.Name, len(vt.Data), len(t.Data))
				}
				opt.Velocity[v.Name] = append([]float32(nil), vt.Data...)
			}
		}
	}
	for _, t := range ts {
		if t.Info.Kind == "ema" {
			used++
		}
	}
	if used != len(ts) {
		return fmt.Errorf("the checkpoint has %d tensors the model does not use (another model configuration?)", len(ts)-used)
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
// variables.
func modelFrom(h Header, ts []Tensor, depthwise layers.DepthwiseImpl) (*model.Model, error) {
	// Compare sizes before building: a header may describe a model far
	// larger than the file (a billion classes) that would not fit in memory.
	rows, err := h.Config.Summary()
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	want, _ := model.Totals(rows)
	have := 0
	for _, t := range ts {
		if t.Info.Kind == "param" {
			have += len(t.Data)
		}
	}
	if have != want {
		return nil, fmt.Errorf("the checkpoint holds %d parameters, its configuration (%s alpha %g, %d classes) has %d", have, h.Config.Name, h.Config.Alpha, h.Config.Classes, want)
	}
	m, err := model.New(h.Config, model.Options{Depthwise: depthwise})
	if err != nil {
		return nil, err
	}
	if err := restore(m, nil, ts); err != nil {
		return nil, err
	}
	if e := newEMA(m, 0); restoreEMA(e, ts) { // the averaged weights are the ones to use
		e.swap()
	}
	return m, nil
}

// WriteModel writes a checkpoint of a model's variables alone (no optimizer
// state), recording cfg as its configuration.
func WriteModel(path string, m *model.Model, cfg model.Config) error {
	ts, err := snapshot(m, nil)
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

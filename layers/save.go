package layers

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gomobilenet/mobilenet/checkpoint"
	"gorgonia.org/tensor"
)

// Tensors returns every variable as a checkpoint tensor (kind param for
// learnable variables, state for the others), in creation order; the data
// are float32 copies.
func (s *Store) Tensors() []checkpoint.Tensor {
	ts := make([]checkpoint.Tensor, 0, len(s.order))
	for _, v := range s.order {
		kind := checkpoint.KindState
		if v.Learnable {
			kind = checkpoint.KindParam
		}
		d := v.Float32s()
		if _, same := v.Value.Data().([]float32); same {
			d = append([]float32(nil), d...)
		}
		ts = append(ts, checkpoint.Tensor{Info: checkpoint.TensorInfo{Name: v.Name, Kind: kind, Shape: v.Value.Shape().Clone()}, Data: d})
	}
	return ts
}

// Save writes every variable to path in the checkpoint format (package
// checkpoint), atomically, with meta (anything that marshals to a JSON
// object, e.g. the model's configuration; nil for none) as the header's
// other fields.
func (s *Store) Save(path string, meta any) error {
	if err := checkpoint.Write(path, meta, s.Tensors()); err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	return nil
}

// Load reads a checkpoint written by Save (or by package train) into the
// Store's variables by name, as Restore does, and returns the file's
// header for the caller to decode its metadata.
func (s *Store) Load(path string, opts LoadOptions) (json.RawMessage, LoadReport, error) {
	hdr, ts, err := checkpoint.Read(path)
	if err != nil {
		return nil, LoadReport{}, fmt.Errorf("layers: %w", err)
	}
	rep, err := s.Restore(ts, opts)
	if err != nil {
		return nil, rep, fmt.Errorf("layers: load %s: %w", path, err)
	}
	return hdr, rep, nil
}

// LoadOptions say how strictly Restore matches tensors to variables.
type LoadOptions struct {
	// Partial loads every variable that has a tensor of its name and
	// shape and leaves the others as they are; without it any missing,
	// extra or mis-shaped name is an error and nothing is loaded.
	Partial bool
	// Skip lists scopes (InScope) whose variables are left as they are
	// and whose tensors are ignored: a classifier to re-initialise.
	Skip []string
}

// LoadReport says what Restore matched.
type LoadReport struct {
	Loaded    []string // variables set from the checkpoint
	Missing   []string // variables without a tensor of their name
	Extra     []string // param and state tensors without a variable of their name
	Misshaped []string // "name: (a, b) in the checkpoint, (c, d) here"
	Skipped   []string // variables in a LoadOptions.Skip scope
}

// LoadError is Restore's error for a checkpoint that does not match the
// Store (without LoadOptions.Partial).
type LoadError struct{ Report LoadReport }

func (e *LoadError) Error() string {
	var parts []string
	add := func(what string, names []string) {
		if len(names) == 0 {
			return
		}
		p := what + " " + names[0]
		if len(names) > 1 {
			p += fmt.Sprintf(" (and %d more)", len(names)-1)
		}
		parts = append(parts, p)
	}
	add("missing", e.Report.Missing)
	add("extra", e.Report.Extra)
	add("mis-shaped", e.Report.Misshaped)
	return "the checkpoint does not match the model: " + strings.Join(parts, "; ")
}

// Restore copies checkpoint tensors of kinds param and state (other kinds,
// such as an optimizer's, are ignored) into the variables of the same name.
// A tensor's kind must match the variable's (param for learnable ones).
// Float64 Stores receive the float32 values widened.
func (s *Store) Restore(ts []checkpoint.Tensor, opts LoadOptions) (LoadReport, error) {
	byName := map[string]checkpoint.Tensor{}
	for _, t := range ts {
		if t.Info.Kind == checkpoint.KindParam || t.Info.Kind == checkpoint.KindState {
			byName[t.Info.Name] = t
		}
	}
	skipped := func(name string) bool {
		for _, sc := range opts.Skip {
			if InScope(name, sc) {
				return true
			}
		}
		return false
	}
	var rep LoadReport
	var load []*Var
	seen := map[string]bool{}
	for _, v := range s.order {
		if skipped(v.Name) {
			rep.Skipped = append(rep.Skipped, v.Name)
			seen[v.Name] = true
			continue
		}
		t, ok := byName[v.Name]
		kind := checkpoint.KindState
		if v.Learnable {
			kind = checkpoint.KindParam
		}
		if !ok || t.Info.Kind != kind {
			rep.Missing = append(rep.Missing, v.Name)
			continue
		}
		seen[v.Name] = true
		if !v.Value.Shape().Eq(tensor.Shape(t.Info.Shape)) {
			rep.Misshaped = append(rep.Misshaped, fmt.Sprintf("%s: %v in the checkpoint, %v here", v.Name, tensor.Shape(t.Info.Shape), v.Value.Shape()))
			continue
		}
		load = append(load, v)
		rep.Loaded = append(rep.Loaded, v.Name)
	}
	for _, t := range ts {
		if k := t.Info.Kind; (k == checkpoint.KindParam || k == checkpoint.KindState) && !seen[t.Info.Name] && !skipped(t.Info.Name) {
			rep.Extra = append(rep.Extra, t.Info.Name)
		}
	}
	if !opts.Partial && (len(rep.Missing) > 0 || len(rep.Extra) > 0 || len(rep.Misshaped) > 0) {
		return rep, &LoadError{Report: rep}
	}
	for _, v := range load {
		src := byName[v.Name].Data
		switch d := v.Value.Data().(type) {
		case []float32:
			copy(d, src)
		case []float64:
			for i, x := range src {
				d[i] = float64(x)
			}
		}
	}
	return rep, nil
}

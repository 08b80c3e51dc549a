package train

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	"gorgonia.org/tensor"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func newVar(name string, v []float32, decay bool) *layers.Var {
	return &layers.Var{Name: name, Value: denseOf(v), Learnable: true, Decay: decay}
}
func denseOf(v []float32) *tensor.Dense {
	return tensor.New(tensor.WithShape(len(v)), tensor.WithBacking(v))
}
func varsOf(v ...*layers.Var) []*layers.Var       { return v }
func densesOf(d ...*tensor.Dense) []*tensor.Dense { return d }
func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}
func abs64(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func readFileT(path string) ([]byte, error) { return os.ReadFile(path) }

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			out = append(out, l)
		}
	}
	return out
}

// sameVars fails unless two models' variables are equal bit for bit (a run
// in one go against a stopped and resumed one).
func sameVars(t *testing.T, a, b *model.Model) {
	t.Helper()
	for _, v := range a.Store.Vars() {
		x, y := v.Value.Data().([]float32), b.Store.Var(v.Name).Value.Data().([]float32)
		for i := range x {
			if x[i] != y[i] {
				t.Fatalf("%s[%d]: %v in one go, %v resumed", v.Name, i, x[i], y[i])
			}
		}
	}
}

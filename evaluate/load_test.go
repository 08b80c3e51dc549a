package evaluate_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/evaluate"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/train"
)

// TestLoad: a checkpoint written by training loads without package train
// into the same variables, with its class names and preprocessing; a
// damaged file and a header whose configuration does not match the
// tensors are one-line errors.
func TestLoad(t *testing.T) {
	m, err := model.New(model.CIFAR10(0.25), model.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.bin")
	if err := train.WriteModel(path, m, m.Config); err != nil {
		t.Fatal(err)
	}
	got, c, err := evaluate.Load(path, layers.Fused)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range m.Store.Vars() {
		if !slices.Equal(v.Value.Data().([]float32), got.Store.Var(v.Name).Value.Data().([]float32)) {
			t.Fatalf("%s differs after loading", v.Name)
		}
	}
	if names, recorded := c.ClassNames(); !recorded || !slices.Equal(names, data.DefaultClassNames) || c.Preprocess() != data.CIFAR10Preprocess() || c.Config != m.Config {
		t.Errorf("header: %v %v %+v %+v", names, recorded, c.Preprocess(), c.Config)
	}
	other := filepath.Join(t.TempDir(), "other.bin")
	if err := train.WriteModel(other, m, model.CIFAR10(0.5)); err != nil { // a header that lies
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.bin")
	os.WriteFile(bad, []byte("not a checkpoint"), 0o644)
	for _, p := range []string{other, bad, filepath.Join(t.TempDir(), "missing.bin")} {
		if _, _, err := evaluate.Load(p, layers.Fused); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v", filepath.Base(p), err)
		}
	}
}

// TestTop1: the first largest logit, and the log-sum-exp.
func TestTop1(t *testing.T) {
	k, lse := evaluate.Top1([]float32{1, 3, 3, -2})
	if k != 1 || lse < 3.5 || lse > 3.8 {
		t.Errorf("Top1: %d, %v", k, lse)
	}
}

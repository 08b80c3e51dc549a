package layers

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// tinyModel creates conv → BatchNorm → dense variables in s, the dense
// layer with the given number of outputs.
func tinyModel(t *testing.T, s *Store, classes int) {
	t.Helper()
	b := NewBuilder(G.NewGraph(), s)
	if _, err := NewConv2D(b.In("conv"), Conv2DConfig{In: 3, Out: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewBatchNorm(b.In("conv/bn"), DefaultBatchNormConfig(4)); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDense(b.In("fc"), DefaultDenseConfig(4, classes)); err != nil {
		t.Fatal(err)
	}
}

func TestStoreSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.bin")
	src, _ := NewStore(tensor.Float32, 1)
	tinyModel(t, src, 10)
	src.Var("conv/bn/running_mean").Value.Data().([]float32)[2] = 0.25
	if err := src.Save(path, map[string]any{"arch": "tiny", "classes": 10}); err != nil {
		t.Fatal(err)
	}
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		dst, _ := NewStore(dt, 2) // other initial values
		tinyModel(t, dst, 10)
		hdr, rep, err := dst.Load(path, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var meta struct{ Arch string }
		if err := json.Unmarshal(hdr, &meta); err != nil || meta.Arch != "tiny" {
			t.Errorf("metadata %s: %v", hdr, err)
		}
		if len(rep.Loaded) != len(src.Vars()) {
			t.Errorf("%v: loaded %v", dt, rep.Loaded)
		}
		for _, v := range src.Vars() {
			if got := dst.Var(v.Name).Float32s(); !slices.Equal(got, v.Float32s()) {
				t.Errorf("%v: %s differs after loading", dt, v.Name)
			}
		}
	}
}

func TestStoreLoadReportsMismatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.bin")
	src, _ := NewStore(tensor.Float32, 1)
	tinyModel(t, src, 10)
	b := NewBuilder(G.NewGraph(), src)
	if _, err := NewDense(b.In("extra"), DefaultDenseConfig(2, 2)); err != nil {
		t.Fatal(err)
	}
	if err := src.Save(path, nil); err != nil {
		t.Fatal(err)
	}
	dst, _ := NewStore(tensor.Float32, 2)
	tinyModel(t, dst, 3) // another class count
	b = NewBuilder(G.NewGraph(), dst)
	if _, err := NewDense(b.In("new"), DefaultDenseConfig(2, 2)); err != nil {
		t.Fatal(err)
	}
	before := dst.Var("conv/weight").Float32s()[0]
	_, rep, err := dst.Load(path, LoadOptions{})
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error %v, want a LoadError", err)
	}
	msg := err.Error()
	for _, want := range []string{"missing new/weight (and 1 more)", "extra extra/weight (and 1 more)", "mis-shaped fc/weight: (10, 4) in the checkpoint, (3, 4) here (and 1 more)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if dst.Var("conv/weight").Float32s()[0] != before {
		t.Error("a failed strict load changed variables")
	}
	if len(rep.Misshaped) != 2 {
		t.Errorf("report %+v", rep)
	}

	// Fine-tuning: everything but the classifier, which keeps its own values.
	fc := slices.Clone(dst.Var("fc/weight").Float32s())
	rep, err = dst.Restore(src.Tensors(), LoadOptions{Partial: true, Skip: []string{"fc"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Skipped, []string{"fc/weight", "fc/bias"}) || len(rep.Misshaped) != 0 {
		t.Errorf("report %+v", rep)
	}
	if !slices.Equal(dst.Var("conv/weight").Float32s(), src.Var("conv/weight").Float32s()) {
		t.Error("partial load did not load conv/weight")
	}
	if !slices.Equal(dst.Var("fc/weight").Float32s(), fc) {
		t.Error("skipped fc/weight changed")
	}
}

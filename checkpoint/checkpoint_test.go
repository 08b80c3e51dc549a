package checkpoint

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.bin")
	ts := []Tensor{
		{Info: TensorInfo{Name: "a/weight", Kind: KindParam, Shape: []int{2, 3}}, Data: []float32{1, 2, 3, 4, 5, 6}},
		{Info: TensorInfo{Name: "a/running_mean", Kind: KindState, Shape: []int{1}}, Data: []float32{-0.5}},
		{Info: TensorInfo{Name: "empty", Kind: KindState, Shape: []int{0}}, Data: []float32{}},
	}
	if err := Write(path, map[string]any{"epoch": 3, "tensors": "replaced"}, ts); err != nil {
		t.Fatal(err)
	}
	hdr, got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Epoch   int
		Tensors []TensorInfo
	}
	if err := json.Unmarshal(hdr, &meta); err != nil || meta.Epoch != 3 || len(meta.Tensors) != 3 {
		t.Fatalf("header %s (%v)", hdr, err)
	}
	for i := range ts {
		if got[i].Info.Name != ts[i].Info.Name || got[i].Info.Kind != ts[i].Info.Kind || !slices.Equal(got[i].Data, ts[i].Data) {
			t.Errorf("tensor %d: %+v, want %+v", i, got[i], ts[i])
		}
	}
}

func TestRejects(t *testing.T) {
	good, err := Encode(nil, []Tensor{{Info: TensorInfo{Name: "w", Kind: KindParam, Shape: []int{2}}, Data: []float32{1, 2}}})
	if err != nil {
		t.Fatal(err)
	}
	flip := slices.Clone(good)
	flip[len(flip)-6] ^= 1
	for name, b := range map[string][]byte{
		"foreign":   []byte("PK\x03\x04 a zip file, not a checkpoint"),
		"truncated": good[:len(good)-3],
		"corrupt":   flip,
		"empty":     nil,
	} {
		if _, _, err := Decode(b); !errors.Is(err, ErrNotCheckpoint) {
			t.Errorf("%s: error %v, want ErrNotCheckpoint", name, err)
		}
	}
	if _, err := Encode([]int{1}, nil); err == nil {
		t.Error("metadata that is not an object: no error")
	}
	if _, err := Encode(nil, []Tensor{{Info: TensorInfo{Name: "w", Shape: []int{3}}, Data: []float32{1}}}); err == nil {
		t.Error("shape and data of different sizes: no error")
	}
}

package checkpoint_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gomobilenet/mobilenet/checkpoint"
)

// A checkpoint holds named tensors and whatever metadata the writer adds to
// its JSON header; Write replaces the file atomically, Read validates it
// whole (checksum, offsets, finite values).
func ExampleWrite() {
	dir, err := os.MkdirTemp("", "ckpt")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.bin")

	meta := map[string]any{"epoch": 3, "note": "example"}
	tensors := []checkpoint.Tensor{
		{Info: checkpoint.TensorInfo{Name: "fc/weight", Kind: checkpoint.KindParam, Shape: []int{2, 3}}, Data: []float32{1, 2, 3, 4, 5, 6}},
		{Info: checkpoint.TensorInfo{Name: "bn/running_mean", Kind: checkpoint.KindState, Shape: []int{2}}, Data: []float32{0.5, -0.5}},
	}
	if err := checkpoint.Write(path, meta, tensors); err != nil {
		fmt.Println("error:", err)
		return
	}

	header, got, err := checkpoint.Read(path)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	var h struct {
		Epoch int    `json:"epoch"`
		Note  string `json:"note"`
	}
	if err := json.Unmarshal(header, &h); err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("epoch", h.Epoch, h.Note)
	for _, t := range got {
		fmt.Println(t.Info.Name, t.Info.Kind, t.Info.Shape, t.Data)
	}
	// Output:
	// epoch 3 example
	// fc/weight param [2 3] [1 2 3 4 5 6]
	// bn/running_mean state [2] [0.5 -0.5]
}

// Decode refuses damaged bytes with ErrNotCheckpoint: here one flipped bit.
func ExampleDecode() {
	b, err := checkpoint.Encode(nil, []checkpoint.Tensor{
		{Info: checkpoint.TensorInfo{Name: "w", Kind: checkpoint.KindParam, Shape: []int{4}}, Data: []float32{1, 2, 3, 4}},
	})
	if err != nil {
		log.Fatal(err)
	}
	_, ts, err := checkpoint.Decode(b)
	fmt.Println(len(ts), err)
	b[len(b)-10] ^= 1
	_, _, err = checkpoint.Decode(b)
	fmt.Println(errors.Is(err, checkpoint.ErrNotCheckpoint))
	// Output:
	// 1 <nil>
	// true
}

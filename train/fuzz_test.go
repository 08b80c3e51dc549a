package train

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"math"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/gomobilenet/mobilenet/checkpoint"
	"github.com/gomobilenet/mobilenet/model"
)

// product is the number of values of a shape.
func product(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// withCRC returns b with its last 4 bytes replaced by the checksum of the
// rest, so that mutations reach the header and the tensor table instead of
// stopping at the checksum.
func withCRC(b []byte) []byte {
	if len(b) < 4 {
		return b
	}
	out := append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(out[len(out)-4:], crc32.ChecksumIEEE(out[:len(out)-4]))
	return out
}

// tinyCheckpoint is a valid checkpoint of two small tensors.
func tinyCheckpoint(t testing.TB, cfg model.Config) []byte {
	dir := t.TempDir()
	p := dir + "/c.bin"
	ts := []Tensor{
		{Info: TensorInfo{Name: "stem/weight", Kind: "param", Shape: []int{2, 3}}, Data: []float32{1, 2, 3, 4, 5, 6}},
		{Info: TensorInfo{Name: "stem/bn/running_var", Kind: "state", Shape: []int{2}}, Data: []float32{1, 1}},
	}
	if err := WriteCheckpoint(p, Header{Config: cfg, Epoch: 1, Recipe: DefaultRecipe()}, ts); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzCheckpoint: any bytes either parse into a header whose tensors lie in
// the file, have as many values as their shapes say and hold finite
// values, write and read back unchanged, and then rebuild a model or give
// an error; or are refused with an error wrapping ErrNotCheckpoint; never a
// panic, a huge allocation or an out-of-memory crash.
func FuzzCheckpoint(f *testing.F) {
	f.Add(tinyCheckpoint(f, model.CIFAR10(0.25)), false)
	f.Add(tinyCheckpoint(f, model.Config{Name: "x", Alpha: 1, Resolution: 100000, Classes: 10, StemStride: 1}), true)
	f.Add([]byte("MNETCKPT\x01\x00\x00\x00\x02\x00\x00\x00{}\x00\x00\x00\x00"), true)
	f.Add([]byte("MNETCKPT"), false)
	f.Fuzz(func(t *testing.T, b []byte, fixCRC bool) {
		if fixCRC {
			b = withCRC(b)
		}
		h, ts, err := parseCheckpoint(b)
		if err != nil {
			if !errors.Is(err, ErrNotCheckpoint) {
				t.Fatalf("error %v does not wrap ErrNotCheckpoint", err)
			}
			return
		}
		for _, tn := range ts {
			if len(tn.Data) != product(tn.Info.Shape) {
				t.Fatalf("tensor %s: %d values for shape %v", tn.Info.Name, len(tn.Data), tn.Info.Shape)
			}
			for _, v := range tn.Data {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("tensor %s holds %v", tn.Info.Name, v)
				}
			}
		}
		// Write → read: what was read writes and reads back the same.
		again, err := checkpoint.Encode(h, ts)
		if err != nil {
			t.Fatalf("a checkpoint that reads does not write: %v", err)
		}
		h2, ts2, err := parseCheckpoint(again)
		if err != nil {
			t.Fatalf("a written checkpoint does not read: %v", err)
		}
		hc, hc2 := h, h2
		hc.Tensors, hc2.Tensors = nil, nil // the table is compared below, tensor by tensor
		j1, _ := json.Marshal(hc)
		j2, _ := json.Marshal(hc2)
		if !bytes.Equal(j1, j2) || len(ts2) != len(ts) {
			t.Fatalf("round trip: header %s, then %s; %d tensors, then %d", j1, j2, len(ts), len(ts2))
		}
		for i := range ts {
			if !reflect.DeepEqual(ts[i].Info.Shape, ts2[i].Info.Shape) || ts[i].Info.Name != ts2[i].Info.Name || !slices.Equal(ts[i].Data, ts2[i].Data) {
				t.Fatalf("round trip: tensor %d %s%v, then %s%v", i, ts[i].Info.Name, ts[i].Info.Shape, ts2[i].Info.Name, ts2[i].Info.Shape)
			}
		}
		if len(ts) != len(h.Tensors) {
			t.Fatalf("%d tensors for %d table entries", len(ts), len(h.Tensors))
		}
		total := 0
		for _, tn := range ts {
			total += len(tn.Data)
		}
		if 4*total > len(b) {
			t.Fatalf("%d values from %d bytes", total, len(b))
		}
		// Small configurations only: building a model costs time, not
		// memory, but the fuzzer should spend its time on the parser.
		if h.Config.Alpha <= 0.25 && h.Config.Resolution <= 64 {
			if m, err := modelFrom(h, ts, 0); err == nil && m == nil {
				t.Fatal("no model and no error")
			}
		}
	})
}

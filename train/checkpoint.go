package train

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/internal/atomicfile"
	"github.com/gomobilenet/mobilenet/model"
)

// Checkpoint file format, version 1 (all integers little-endian):
//
//	offset 0   8 bytes   magic "MNETCKPT"
//	offset 8   uint32    format version (1)
//	offset 12  uint32    header length H
//	offset 16  H bytes   header, UTF-8 JSON (see Header)
//	16+H       ...       tensor data: each tensor's elements, row-major,
//	                     little-endian float32, at Header.Tensors[i].Offset
//	                     bytes from the start of this section
//	end-4      uint32    CRC-32 (IEEE) of every byte before it
//
// Tensor kinds: "param" (learnable weights), "state" (BatchNorm running
// statistics, dropout step counters), "velocity" (the optimizer's momentum
// buffer of the param of the same name) and "ema" (the moving average of the
// param or state of the same name, with Recipe.EMA; loaders use it). A reader needs only the header and
// the offsets; scripts/read_checkpoint.py is a complete reader (tested
// against this package), and its core is, in Python:
//
//	import json, struct, zlib, numpy as np
//	b = open("best.bin", "rb").read()
//	assert b[:8] == b"MNETCKPT"
//	assert struct.unpack("<I", b[-4:])[0] == zlib.crc32(b[:-4])
//	hlen = struct.unpack("<I", b[12:16])[0]
//	hdr = json.loads(b[16:16 + hlen])
//	base = 16 + hlen
//	w = {t["name"]: np.frombuffer(b, "<f4", count=int(np.prod(t["shape"])),
//	     offset=base + t["offset"]).reshape(t["shape"])
//	     for t in hdr["tensors"] if t["kind"] == "param"}
const (
	magic   = "MNETCKPT"
	version = 1
)

// Header is the JSON header of a checkpoint.
type Header struct {
	Config  model.Config `json:"config"`
	Epoch   int          `json:"epoch"`    // epochs completed
	Batch   int          `json:"batch"`    // batches completed in the current epoch (0 at an epoch boundary)
	Step    int          `json:"step"`     // optimizer steps taken
	Recipe  Recipe       `json:"recipe"`   // the training hyper-parameters
	BestAcc float64      `json:"best_acc"` // best test accuracy so far
	TestAcc float64      `json:"test_acc"` // test accuracy of the last evaluation
	// Data identifies the training and test data (absent in checkpoints
	// written before it existed, and in WriteModel's).
	Data *DataRecord `json:"data,omitempty"`
	// Classes names the classifier's outputs, and Input is the
	// preprocessing the model was trained with (both absent in checkpoints
	// written before they existed: see ClassNames and Preprocess).
	Classes []string         `json:"class_names,omitempty"`
	Input   *data.Preprocess `json:"input,omitempty"`
	Tensors []TensorInfo     `json:"tensors"`
}

// TensorInfo locates one tensor in the data section.
type TensorInfo struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"` // param, state, velocity or ema
	Dtype  string `json:"dtype"`
	Shape  []int  `json:"shape"`
	Offset int64  `json:"offset"`
}

// Tensor is a named float32 tensor of a checkpoint.
type Tensor struct {
	Info TensorInfo
	Data []float32
}

// WriteCheckpoint writes the header and tensors to path atomically: to a
// temporary file in the same folder, synced, then renamed over path.
func WriteCheckpoint(path string, h Header, tensors []Tensor) error {
	var off int64
	h.Tensors = h.Tensors[:0]
	for i := range tensors {
		t := &tensors[i]
		t.Info.Offset = off
		t.Info.Dtype = "float32"
		if n := product(t.Info.Shape); n != len(t.Data) {
			return fmt.Errorf("write checkpoint %s: tensor %s has %d values for shape %v", path, t.Info.Name, len(t.Data), t.Info.Shape)
		}
		h.Tensors = append(h.Tensors, t.Info)
		off += int64(4 * len(t.Data))
	}
	hdr, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("write checkpoint %s: %w", path, err)
	}
	var buf bytes.Buffer
	buf.Grow(16 + len(hdr) + int(off) + 4)
	buf.WriteString(magic)
	binary.Write(&buf, binary.LittleEndian, uint32(version))
	binary.Write(&buf, binary.LittleEndian, uint32(len(hdr)))
	buf.Write(hdr)
	var b4 [4]byte
	for _, t := range tensors {
		for _, v := range t.Data {
			binary.LittleEndian.PutUint32(b4[:], math.Float32bits(v))
			buf.Write(b4[:])
		}
	}
	binary.Write(&buf, binary.LittleEndian, crc32.ChecksumIEEE(buf.Bytes()))
	if err := atomicfile.Write(path, buf.Bytes()); err != nil {
		return fmt.Errorf("write checkpoint %s: %w", path, err)
	}
	return nil
}

// ErrNotCheckpoint is returned (wrapped) for files that are not checkpoints
// of this format, or are damaged.
var ErrNotCheckpoint = errors.New("not a valid checkpoint")

// ReadCheckpoint reads and validates a checkpoint: magic, version, checksum,
// header and that every tensor lies inside the data section.
func ReadCheckpoint(path string) (Header, []Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Header{}, nil, fmt.Errorf("load checkpoint %s: %w", path, err)
	}
	h, ts, err := parseCheckpoint(b)
	if err != nil {
		return Header{}, nil, fmt.Errorf("load checkpoint %s: %w", path, err)
	}
	return h, ts, nil
}

func parseCheckpoint(b []byte) (Header, []Tensor, error) {
	var h Header
	if len(b) < 8 || string(b[:8]) != magic {
		return h, nil, fmt.Errorf("%w: no %q header (foreign file)", ErrNotCheckpoint, magic)
	}
	if len(b) < 20 {
		return h, nil, fmt.Errorf("%w: truncated (%d bytes)", ErrNotCheckpoint, len(b))
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != version {
		return h, nil, fmt.Errorf("%w: format version %d, this program reads %d", ErrNotCheckpoint, v, version)
	}
	body := b[:len(b)-4]
	if want, got := binary.LittleEndian.Uint32(b[len(b)-4:]), crc32.ChecksumIEEE(body); want != got {
		return h, nil, fmt.Errorf("%w: checksum mismatch (truncated or corrupt)", ErrNotCheckpoint)
	}
	hl := int(binary.LittleEndian.Uint32(b[12:]))
	if 16+hl > len(body) {
		return h, nil, fmt.Errorf("%w: header length %d past the end", ErrNotCheckpoint, hl)
	}
	if err := json.Unmarshal(body[16:16+hl], &h); err != nil {
		return h, nil, fmt.Errorf("%w: header: %v", ErrNotCheckpoint, err)
	}
	data := body[16+hl:]
	ts := make([]Tensor, len(h.Tensors))
	for i, info := range h.Tensors {
		n := product(info.Shape)
		if info.Dtype != "float32" || n < 0 || info.Offset < 0 || info.Offset+4*int64(n) > int64(len(data)) {
			return h, nil, fmt.Errorf("%w: tensor %s (%s %v at %d) does not fit the data section", ErrNotCheckpoint, info.Name, info.Dtype, info.Shape, info.Offset)
		}
		vals := make([]float32, n)
		src := data[info.Offset:]
		for j := range vals {
			v := math.Float32frombits(binary.LittleEndian.Uint32(src[4*j:]))
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return h, nil, fmt.Errorf("%w: %s %s has a non-finite value (%v at index %d)", ErrNotCheckpoint, info.Kind, info.Name, v, j)
			}
			vals[j] = v
		}
		ts[i] = Tensor{Info: info, Data: vals}
	}
	return h, ts, nil
}

// product is the element count of a shape, or -1 for a negative dimension
// or a count past 2^40 (no checkpoint is that large; it keeps the size
// arithmetic from overflowing).
func product(s []int) int {
	n := 1
	for _, d := range s {
		if d < 0 || d > 1<<40 {
			return -1
		}
		n *= d
		if n > 1<<40 {
			return -1
		}
	}
	return n
}

// ClassNames are the names of the checkpoint's classes: the recorded ones,
// CIFAR-10's for older CIFAR-10 checkpoints of 10 classes, else "class 0",
// "class 1", …; recorded reports which.
func (h Header) ClassNames() (names []string, recorded bool) {
	if len(h.Classes) == h.Config.Classes {
		return h.Classes, true
	}
	if h.Config.Name == "cifar10" && h.Config.Classes == data.NumClasses {
		return data.DefaultClassNames, false
	}
	names = make([]string, h.Config.Classes)
	for i := range names {
		names[i] = fmt.Sprintf("class %d", i)
	}
	return names, false
}

// Preprocess is the checkpoint's input preprocessing: the recorded one, or
// CIFAR-10's for older checkpoints (the only data they were trained on).
func (h Header) Preprocess() data.Preprocess {
	if h.Input != nil {
		return *h.Input
	}
	return data.CIFAR10Preprocess()
}

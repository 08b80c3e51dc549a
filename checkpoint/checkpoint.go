// Package checkpoint reads and writes the project's checkpoint files: named
// float32 tensors and a JSON header, checksummed, written atomically. It
// knows nothing of models: layers.Store saves and loads its variables with
// it, and package train adds its optimizer state and run record.
//
// File format, version 1 (all integers little-endian):
//
//	offset 0   8 bytes   magic "MNETCKPT"
//	offset 8   uint32    format version (1)
//	offset 12  uint32    header length H
//	offset 16  H bytes   header, a UTF-8 JSON object: the writer's metadata
//	                     plus "tensors", the list of TensorInfo
//	16+H       ...       tensor data: each tensor's elements, row-major,
//	                     little-endian float32, at TensorInfo.Offset
//	                     bytes from the start of this section
//	end-4      uint32    CRC-32 (IEEE) of every byte before it
//
// Tensor kinds: KindParam (learnable weights), KindState (BatchNorm running
// statistics, dropout step counters), KindVelocity (an optimizer's momentum
// buffer of the param of the same name) and KindEMA (the weight average of
// the param or state of the same name: an exponential moving average, or
// the equal-weight average of an SWA tail with the BatchNorm statistics
// recomputed for it). A reader needs only the header and
// the offsets; in Python:
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
package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"

	"github.com/gomobilenet/mobilenet/internal/atomicfile"
)

const (
	magic   = "MNETCKPT"
	version = 1
)

// The tensor kinds.
const (
	KindParam    = "param"
	KindState    = "state"
	KindVelocity = "velocity"
	KindEMA      = "ema"
)

// TensorInfo locates one tensor in the data section.
type TensorInfo struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"` // KindParam, KindState, KindVelocity or KindEMA
	Dtype  string `json:"dtype"`
	Shape  []int  `json:"shape"`
	Offset int64  `json:"offset"`
}

// Tensor is a named float32 tensor of a checkpoint.
type Tensor struct {
	Info TensorInfo
	Data []float32
}

// ErrNotCheckpoint is returned (wrapped) for files that are not checkpoints
// of this format, or are damaged.
var ErrNotCheckpoint = errors.New("not a valid checkpoint")

// Encode returns the file's bytes: meta (anything that marshals to a JSON
// object, or nil) becomes the header, with "tensors" set to the tensors'
// infos (a "tensors" field of meta is replaced).
func Encode(meta any, tensors []Tensor) ([]byte, error) {
	var off int64
	infos := make([]TensorInfo, 0, len(tensors))
	for i := range tensors {
		t := &tensors[i]
		t.Info.Offset = off
		t.Info.Dtype = "float32"
		if n := product(t.Info.Shape); n != len(t.Data) {
			return nil, fmt.Errorf("tensor %s has %d values for shape %v", t.Info.Name, len(t.Data), t.Info.Shape)
		}
		infos = append(infos, t.Info)
		off += int64(4 * len(t.Data))
	}
	fields := map[string]json.RawMessage{}
	if meta != nil {
		m, err := json.Marshal(meta)
		if err != nil {
			return nil, fmt.Errorf("header: %w", err)
		}
		if err := json.Unmarshal(m, &fields); err != nil {
			return nil, fmt.Errorf("header: metadata must be a JSON object: %w", err)
		}
		if fields == nil {
			fields = map[string]json.RawMessage{}
		}
	}
	ti, err := json.Marshal(infos)
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	fields["tensors"] = ti
	hdr, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
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
	return buf.Bytes(), nil
}

// Write writes a checkpoint to path atomically: to a temporary file in the
// same folder, synced, then renamed over path.
func Write(path string, meta any, tensors []Tensor) error {
	b, err := Encode(meta, tensors)
	if err != nil {
		return fmt.Errorf("write checkpoint %s: %w", path, err)
	}
	if err := atomicfile.Write(path, b); err != nil {
		return fmt.Errorf("write checkpoint %s: %w", path, err)
	}
	return nil
}

// Read reads and validates a checkpoint (see Decode).
func Read(path string) (header json.RawMessage, tensors []Tensor, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load checkpoint %s: %w", path, err)
	}
	h, ts, err := Decode(b)
	if err != nil {
		return nil, nil, fmt.Errorf("load checkpoint %s: %w", path, err)
	}
	return h, ts, nil
}

// Decode validates a checkpoint's bytes (magic, version, checksum, header,
// every tensor inside the data section, every value finite) and returns
// its header (the whole JSON object, "tensors" included) and tensors.
func Decode(b []byte) (header json.RawMessage, tensors []Tensor, err error) {
	if len(b) < 8 || string(b[:8]) != magic {
		return nil, nil, fmt.Errorf("%w: no %q header (foreign file)", ErrNotCheckpoint, magic)
	}
	if len(b) < 20 {
		return nil, nil, fmt.Errorf("%w: truncated (%d bytes)", ErrNotCheckpoint, len(b))
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != version {
		return nil, nil, fmt.Errorf("%w: format version %d, this program reads %d", ErrNotCheckpoint, v, version)
	}
	body := b[:len(b)-4]
	if want, got := binary.LittleEndian.Uint32(b[len(b)-4:]), crc32.ChecksumIEEE(body); want != got {
		return nil, nil, fmt.Errorf("%w: checksum mismatch (truncated or corrupt)", ErrNotCheckpoint)
	}
	hl := int(binary.LittleEndian.Uint32(b[12:]))
	if hl < 0 || 16+hl > len(body) {
		return nil, nil, fmt.Errorf("%w: header length %d past the end", ErrNotCheckpoint, hl)
	}
	header = append(json.RawMessage(nil), body[16:16+hl]...)
	var h struct {
		Tensors []TensorInfo `json:"tensors"`
	}
	if err := json.Unmarshal(header, &h); err != nil {
		return nil, nil, fmt.Errorf("%w: header: %v", ErrNotCheckpoint, err)
	}
	data := body[16+hl:]
	tensors = make([]Tensor, len(h.Tensors))
	for i, info := range h.Tensors {
		n := product(info.Shape)
		if info.Dtype != "float32" || n < 0 || info.Offset < 0 || info.Offset+4*int64(n) > int64(len(data)) {
			return nil, nil, fmt.Errorf("%w: tensor %s (%s %v at %d) does not fit the data section", ErrNotCheckpoint, info.Name, info.Dtype, info.Shape, info.Offset)
		}
		vals := make([]float32, n)
		src := data[info.Offset:]
		for j := range vals {
			v := math.Float32frombits(binary.LittleEndian.Uint32(src[4*j:]))
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, nil, fmt.Errorf("%w: %s %s has a non-finite value (%v at index %d)", ErrNotCheckpoint, info.Kind, info.Name, v, j)
			}
			vals[j] = v
		}
		tensors[i] = Tensor{Info: info, Data: vals}
	}
	return header, tensors, nil
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

// PreferAverage returns the tensors with each param and state replaced by
// its weight average (kind ema) where the checkpoint has one: the weights a
// checkpoint of an averaging run (EMA, SWA) stands for.
func PreferAverage(ts []Tensor) []Tensor {
	avg := map[string]Tensor{}
	for _, t := range ts {
		if t.Info.Kind == KindEMA {
			avg[t.Info.Name] = t
		}
	}
	out := make([]Tensor, 0, len(ts))
	for _, t := range ts {
		k := t.Info.Kind
		if a, ok := avg[t.Info.Name]; ok && (k == KindParam || k == KindState) {
			t.Data = a.Data
		}
		out = append(out, t)
	}
	return out
}

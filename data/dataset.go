package data

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// Dataset is a labelled set of images in memory, each stored as planar RGB
// bytes (red plane, green plane, blue plane, rows top to bottom).
//
// CIFAR-10's splits (Load) and folders resized to 32×32 (LoadFolder with
// FolderOptions.Exact) hold ImageSize×ImageSize images, ImageBytes each,
// one after the other, and leave Sizes and Offsets nil. Folder datasets
// that keep each image's aspect set Sizes (each image's width and height)
// and Offsets (where each image starts in Pixels, and len(Pixels) last).
//
// A streamed folder dataset (LoadFolder with FolderOptions.Stream) holds
// Labels, Classes and Sizes but no Pixels: its images stay on disk and
// Read decodes them.
type Dataset struct {
	Pixels  []byte
	Labels  []int32 // class index of each image, in [0, len(Classes))
	Classes []string
	Sizes   []Size
	Offsets []int
	stream  *stream // nil: in memory
}

// Size is an image's width and height in pixels.
type Size struct{ W, H int }

// Len is the number of images.
func (d *Dataset) Len() int { return len(d.Labels) }

// Image returns the bytes of image i of a fixed-size (32×32) dataset.
func (d *Dataset) Image(i int) []byte { return d.Pixels[i*ImageBytes : (i+1)*ImageBytes] }

// ImageAt returns the bytes, width and height of image i of a dataset in
// memory (Read reads a streamed one's too).
func (d *Dataset) ImageAt(i int) ([]byte, int, int) {
	if d.Sizes == nil {
		return d.Image(i), ImageSize, ImageSize
	}
	return d.Pixels[d.Offsets[i]:d.Offsets[i+1]], d.Sizes[i].W, d.Sizes[i].H
}

// Dims returns image i's width and height.
func (d *Dataset) Dims(i int) (w, h int) {
	if d.Sizes == nil {
		return ImageSize, ImageSize
	}
	return d.Sizes[i].W, d.Sizes[i].H
}

// FixedSize reports whether every image is ImageSize×ImageSize (Sizes nil).
func (d *Dataset) FixedSize() bool { return d.Sizes == nil }

// Check reports an inconsistent dataset: labels outside the classes, or
// sizes and offsets that do not describe Pixels.
func (d *Dataset) Check() error {
	if d == nil {
		return errors.New("dataset: none (nil)")
	}
	for i, l := range d.Labels {
		if l < 0 || int(l) >= len(d.Classes) {
			return fmt.Errorf("dataset: image %d has label %d, outside the %d classes", i, l, len(d.Classes))
		}
	}
	if d.stream != nil {
		if len(d.Sizes) != d.Len() || len(d.stream.paths) != d.Len() {
			return fmt.Errorf("dataset: sizes and files of %d streamed images do not agree", d.Len())
		}
		return nil
	}
	if d.Sizes == nil {
		if len(d.Pixels) != d.Len()*ImageBytes {
			return fmt.Errorf("dataset: %d pixel bytes for %d images of %d", len(d.Pixels), d.Len(), ImageBytes)
		}
		return nil
	}
	if len(d.Sizes) != d.Len() || len(d.Offsets) != d.Len()+1 || d.Offsets[0] != 0 || d.Offsets[d.Len()] != len(d.Pixels) {
		return fmt.Errorf("dataset: sizes, offsets and pixels of %d images do not agree", d.Len())
	}
	for i, s := range d.Sizes {
		if s.W < 1 || s.H < 1 || d.Offsets[i+1]-d.Offsets[i] != 3*s.W*s.H {
			return fmt.Errorf("dataset: image %d: %d bytes for %d×%d", i, d.Offsets[i+1]-d.Offsets[i], s.W, s.H)
		}
	}
	return nil
}

// Fingerprint identifies the dataset's contents (its labels, sizes and
// pixels, in order): the first 16 hexadecimal digits of their SHA-256.
// Checkpoints record it so that a resumed run can tell that it is given
// other data. (Labels below 256 are hashed as one byte each, as before
// labels could exceed it, so older checkpoints' fingerprints still match.)
//
// A streamed dataset's fingerprint covers its files (paths, byte sizes and
// modification times) instead of their pixels.
func (d *Dataset) Fingerprint() string {
	if d.stream != nil {
		return d.streamFingerprint()
	}
	h := sha256.New()
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(d.Len()))
	h.Write(n[:])
	small := true
	for _, l := range d.Labels {
		small = small && l >= 0 && l < 256
	}
	if small {
		b := make([]byte, d.Len())
		for i, l := range d.Labels {
			b[i] = byte(l)
		}
		h.Write(b)
	} else {
		b := make([]byte, 4*d.Len())
		for i, l := range d.Labels {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(l))
		}
		h.Write(b)
	}
	for _, s := range d.Sizes {
		binary.LittleEndian.PutUint64(n[:], uint64(s.W)<<32|uint64(s.H))
		h.Write(n[:])
	}
	h.Write(d.Pixels)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Subset returns a dataset of copies of the images at idx, in that order
// (an index may repeat); it shares nothing with d (a streamed dataset's
// subset reads the same files).
func (d *Dataset) Subset(idx []int) (*Dataset, error) {
	total := 0
	for _, i := range idx {
		if i < 0 || i >= d.Len() {
			return nil, fmt.Errorf("dataset: subset index %d outside the %d images", i, d.Len())
		}
		if d.stream != nil {
			continue
		}
		img, _, _ := d.ImageAt(i)
		total += len(img)
	}
	if d.stream != nil {
		return d.streamSubset(idx), nil
	}
	s := &Dataset{Pixels: make([]byte, 0, total), Labels: make([]int32, len(idx)), Classes: d.Classes}
	if !d.FixedSize() {
		s.Sizes, s.Offsets = make([]Size, len(idx)), make([]int, 1, len(idx)+1)
	}
	for k, i := range idx {
		img, w, h := d.ImageAt(i)
		s.Pixels = append(s.Pixels, img...)
		s.Labels[k] = d.Labels[i]
		if s.Sizes != nil {
			s.Sizes[k] = Size{W: w, H: h}
			s.Offsets = append(s.Offsets, len(s.Pixels))
		}
	}
	return s, nil
}

// Split holds out frac (in (0, 1)) of each class's images, drawn by seed
// as ScanFolder draws a folder's validation images: a stratified
// validation split (Keras' validation_split, but random and per class;
// drawHeldOut).
// Both parts keep d's order; every class keeps at least one training image.
func (d *Dataset) Split(frac float64, seed uint64) (rest, held *Dataset, err error) {
	if !(frac > 0 && frac < 1) {
		return nil, nil, fmt.Errorf("dataset: validation fraction %g: must be in (0, 1)", frac)
	}
	byClass := make([][]int, len(d.Classes))
	for i, l := range d.Labels {
		if l < 0 || int(l) >= len(d.Classes) {
			return nil, nil, fmt.Errorf("dataset: image %d has label %d, outside the %d classes", i, l, len(d.Classes))
		}
		byClass[l] = append(byClass[l], i)
	}
	sizes := make([]int, len(byClass))
	for c, idx := range byClass {
		sizes[c] = len(idx)
	}
	drawn := drawHeldOut(sizes, frac, 1, seed)
	isHeld := make([]bool, d.Len())
	for c, idx := range byClass {
		for j, i := range idx {
			isHeld[i] = drawn[c][j]
		}
	}
	var keep, out []int
	for i, h := range isHeld {
		if h {
			out = append(out, i)
		} else {
			keep = append(keep, i)
		}
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("dataset: a validation fraction %g of %d images holds out none", frac, d.Len())
	}
	if rest, err = d.Subset(keep); err != nil {
		return nil, nil, err
	}
	if held, err = d.Subset(out); err != nil {
		return nil, nil, err
	}
	return rest, held, nil
}

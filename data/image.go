package data

import (
	"fmt"
	"image"
	_ "image/jpeg" // decoders registered for DecodeFile
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Resize modes of Preprocess.
const (
	// ResizeExact scales the whole image to resolution × resolution (no
	// resampling when it already has that size): what CIFAR-10 models,
	// trained on whole 32×32 images, expect.
	ResizeExact = "exact"
	// ResizeCenterCrop scales the shorter side to resolution/0.875 and
	// crops the centre (torchvision's ImageNet evaluation).
	ResizeCenterCrop = "center-crop"
)

// Preprocess is how an image becomes a model's input: resized, then each
// channel normalised as (pixel/255 − Mean)/Std. Checkpoints store it so that
// prediction uses exactly what training used.
type Preprocess struct {
	Mean   [3]float32 `json:"mean"`
	Std    [3]float32 `json:"std"`
	Resize string     `json:"resize"` // ResizeExact or ResizeCenterCrop
}

// CIFAR10Preprocess is the preprocessing of the CIFAR-10 models.
func CIFAR10Preprocess() Preprocess { return Preprocess{Mean: Mean, Std: Std, Resize: ResizeExact} }

// Validate reports what is wrong with the preprocessing.
func (p Preprocess) Validate() error {
	for c, s := range p.Std {
		if !(s > 0) {
			return fmt.Errorf("preprocess: std %g of channel %d: must be positive", s, c)
		}
	}
	if p.Resize != ResizeExact && p.Resize != ResizeCenterCrop {
		return fmt.Errorf("preprocess: unknown resize %q (want %s or %s)", p.Resize, ResizeExact, ResizeCenterCrop)
	}
	return nil
}

// Apply writes img as a normalised 3 × res × res float32 tensor into dst
// (len 3·res·res), exactly as evaluation prepares an image of a dataset:
// stored as LoadFolder stores it (whole at 32×32 for ResizeExact; shorter
// side res/0.875 for ResizeCenterCrop; resized with an antialiased
// bilinear filter), then resampled to res as the Loader does.
func (p Preprocess) Apply(dst []float32, img image.Image, res int) error {
	if len(dst) != 3*res*res || res < 1 {
		return fmt.Errorf("preprocess: %d values for a %d×%d image", len(dst), res, res)
	}
	if err := p.Validate(); err != nil {
		return err
	}
	b := img.Bounds()
	if b.Dx() < 1 || b.Dy() < 1 {
		return fmt.Errorf("preprocess: empty image")
	}
	if p.Resize == ResizeExact {
		pix, _ := storeImage(img, FolderOptions{Exact: true})
		var tmp [ImageBytes]float32
		prepare(tmp[:], pix, 0, 0, false, p.Mean, p.Std)
		resize(dst, tmp[:], res)
		return nil
	}
	pix, s := storeImage(img, FolderOptions{ShorterSide: StoredSide(res)})
	x0, y0, bw, bh := centerCropBox(s.W, s.H, p.Resize, res)
	sampleBox(dst, pix, s.W, s.H, x0, y0, bw, bh, false, res, &p)
	return nil
}

// StoredSide is the shorter side image folders are stored at for a
// network input of res: res/0.875, the size torchvision's evaluation
// resizes to before its centre crop.
func StoredSide(res int) int { return int(math.Ceil(float64(res) / 0.875)) }

// IsImageFile reports whether a file name has a JPEG or PNG extension.
func IsImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png":
		return true
	}
	return false
}

// ImagePaths expands files and folders (walked recursively, in sorted
// order) into the image files among them; a named file is kept whatever its
// extension, so that decoding can say what is wrong with it.
func ImagePaths(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		var found []string
		// The trailing separator makes a linked folder's contents the walk.
		err = filepath.WalkDir(a+string(filepath.Separator), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && IsImageFile(d.Name()) {
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no JPEG or PNG images in the folder", a)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

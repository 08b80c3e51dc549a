package data

import (
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gomobilenet/mobilenet/internal/sysmem"
	"golang.org/x/image/draw"
)

// An image folder is torchvision's ImageFolder and Keras'
// image_dataset_from_directory layout: ROOT/<class>/<image>, class names
// the sorted folder names, JPEG and PNG images (other files are ignored),
// with ROOT/train and ROOT/val (or ROOT/test) as the splits when present.

// Item is one image of a folder: its file and class index.
type Item struct {
	Path  string
	Label int
}

// Folder is a scanned image folder: its classes and the images of its
// training and validation splits.
type Folder struct {
	Root    string
	Classes []string
	Train   []Item
	Val     []Item
	// ValFrom says where Val comes from: the folder's "val" or "test"
	// split, or "split" when it is a seeded fraction of the images.
	ValFrom string
}

// ErrNoImages is returned (wrapped) for folders without images.
var ErrNoImages = errors.New("no JPEG or PNG images")

// IsFolderDataset reports whether root is to be read as an image folder:
// it has subfolders (class folders, or train/) and no CIFAR-10 binary
// release (DirName). An empty or absent folder is not one: that is where
// CIFAR-10 gets downloaded.
func IsFolderDataset(root string) bool {
	entries, err := os.ReadDir(root)
	if err != nil {
		return false
	}
	sub := false
	for _, e := range entries {
		if e.Name() == DirName {
			return false
		}
		sub = sub || (isDir(root, e) && !strings.HasPrefix(e.Name(), "."))
	}
	return sub
}

// isDir reports whether the entry of dir is a folder, following symbolic
// links (class folders are often links into another tree).
func isDir(dir string, e os.DirEntry) bool {
	if e.Type()&os.ModeSymlink == 0 {
		return e.IsDir()
	}
	fi, err := os.Stat(filepath.Join(dir, e.Name()))
	return err == nil && fi.IsDir()
}

// ScanFolder lists an image folder's classes and images. With ROOT/train
// present, ROOT/val or ROOT/test is the validation split (its classes must
// be among train's); otherwise valSplit (in [0, 1)) of each class's images,
// drawn with seed, are held out. A class folder without images is an error
// (a misplaced folder would otherwise shift every label after it).
func ScanFolder(root string, valSplit float64, seed uint64) (*Folder, error) {
	if !(valSplit >= 0 && valSplit < 1) {
		return nil, fmt.Errorf("image folder %s: validation fraction %g: must be in [0, 1)", root, valSplit)
	}
	f := &Folder{Root: root}
	trainDir := filepath.Join(root, "train")
	if fi, err := os.Stat(trainDir); err == nil && fi.IsDir() {
		classes, items, err := scanClasses(trainDir, nil)
		if err != nil {
			return nil, err
		}
		f.Classes, f.Train = classes, items
		for _, name := range []string{"val", "test"} {
			dir := filepath.Join(root, name)
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				continue
			}
			if _, f.Val, err = scanClasses(dir, classes); err != nil {
				return nil, err
			}
			f.ValFrom = name
			break
		}
		if f.ValFrom == "" {
			return nil, fmt.Errorf("image folder %s: has train/ but neither val/ nor test/", root)
		}
		return f, nil
	}
	classes, items, err := scanClasses(root, nil)
	if err != nil {
		return nil, err
	}
	f.Classes, f.ValFrom = classes, "split"
	byClass := make([][]Item, len(classes))
	for _, it := range items {
		byClass[it.Label] = append(byClass[it.Label], it)
	}
	sizes := make([]int, len(byClass))
	for c, its := range byClass {
		sizes[c] = len(its)
	}
	held := drawHeldOut(sizes, valSplit, 0, seed)
	for c, its := range byClass {
		for j, it := range its {
			if held[c][j] {
				f.Val = append(f.Val, it)
			} else {
				f.Train = append(f.Train, it)
			}
		}
	}
	sortItems(f.Train)
	sortItems(f.Val)
	return f, nil
}

// drawHeldOut draws the validation part of a stratified split: for class c
// of sizes[c] items, the first round(frac·n) positions of a permutation of
// them, but no more than n−keep, are held out (held[c][j] for item j),
// from a stream of seed. ScanFolder (keep 0) and Dataset.Split (keep 1)
// share it, so that they hold out the same images for the same seed.
func drawHeldOut(sizes []int, frac float64, keep int, seed uint64) [][]bool {
	r := rand.New(rand.NewPCG(seed, 0x5b117))
	held := make([][]bool, len(sizes))
	for c, n := range sizes {
		held[c] = make([]bool, n)
		m := min(int(math.Round(frac*float64(n))), max(n-keep, 0))
		for k, j := range r.Perm(n) {
			if k < m {
				held[c][j] = true
			}
		}
	}
	return held
}

func sortItems(its []Item) {
	sort.Slice(its, func(i, j int) bool {
		if its[i].Label != its[j].Label {
			return its[i].Label < its[j].Label
		}
		return its[i].Path < its[j].Path
	})
}

// scanClasses reads dir/<class>/<image>; with known classes (a validation
// split) every folder must be one of them and labels follow them.
func scanClasses(dir string, known []string) ([]string, []Item, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("image folder: %w", err)
	}
	var classes []string
	for _, e := range entries {
		if isDir(dir, e) {
			classes = append(classes, e.Name())
		}
	}
	sort.Strings(classes)
	if len(classes) == 0 {
		return nil, nil, fmt.Errorf("image folder %s: %w: no class folders (want %s/<class>/<image>)", dir, ErrNoImages, dir)
	}
	index := map[string]int{}
	for i, c := range classes {
		index[c] = i
	}
	if known != nil {
		index = map[string]int{}
		for i, c := range known {
			index[c] = i
		}
	}
	var items []Item
	for _, c := range classes {
		label, ok := index[c]
		if !ok {
			return nil, nil, fmt.Errorf("image folder %s: class %q is not among the training classes", dir, c)
		}
		files, err := os.ReadDir(filepath.Join(dir, c))
		if err != nil {
			return nil, nil, fmt.Errorf("image folder: %w", err)
		}
		n := 0
		for _, fe := range files {
			if !fe.IsDir() && IsImageFile(fe.Name()) {
				items = append(items, Item{Path: filepath.Join(dir, c, fe.Name()), Label: label})
				n++
			}
		}
		if n == 0 {
			return nil, nil, fmt.Errorf("image folder %s: %w in class folder %s (every class needs images; remove the folder if it is not a class)", dir, ErrNoImages, filepath.Join(dir, c))
		}
	}
	if known == nil {
		return classes, items, nil
	}
	return known, items, nil
}

// FolderOptions say how LoadFolder stores images.
type FolderOptions struct {
	// Exact resizes every image, whole, to ImageSize×ImageSize (the
	// CIFAR-10 configuration's input; such datasets work like CIFAR-10's).
	// Otherwise images keep their aspect, shrunk so that their shorter side
	// is at most ShorterSide (required then).
	Exact       bool
	ShorterSide int
	// Strict makes an unreadable image an error; by default it is skipped
	// and reported in FolderReport.
	Strict bool
	// Workers decode in parallel (default GOMAXPROCS).
	Workers int
	// Stream leaves the images on disk, decoded by each Read (the
	// training loader's workers, batch by batch), when the decoded set
	// would not fit in memory (StreamAuto), always or never. Sets stored
	// at 32×32 (Exact) are always loaded.
	Stream StreamMode
	// MemoryLimit is the memory the decoded set may take (0: three
	// quarters of what the system has available).
	MemoryLimit int64
	// ReducedDCT makes a streamed set decode each JPEG at the smallest of
	// libjpeg-turbo's DCT scales (n/8) that still covers the stored size,
	// then resize: two to four times less decoding work for large photos,
	// at pixels within a level or so of a full decode's (the DCT-domain
	// downscale; PIL's draft mode). A set held in memory is decoded in
	// full, as Preprocess.Apply decodes for prediction; without
	// libjpeg-turbo it does nothing. cmd/train sets it for the training
	// split.
	ReducedDCT bool
}

// FolderReport lists the images LoadFolder skipped.
type FolderReport struct {
	Skipped []error // one per unreadable image, naming its file
}

// LoadFolder decodes the images into memory, in parallel, converting grey,
// CMYK and paletted images to RGB and resizing them with an antialiased
// bilinear filter (as torchvision's Resize) as opts say. A set that would
// not fit in the memory available is streamed instead (opts.Stream: its
// images decoded by each Read), or refused before decoding.
func LoadFolder(items []Item, classes []string, opts FolderOptions) (*Dataset, FolderReport, error) {
	var rep FolderReport
	if len(items) == 0 {
		return nil, rep, fmt.Errorf("image folder: %w", ErrNoImages)
	}
	if !opts.Exact && opts.ShorterSide < 1 {
		return nil, rep, fmt.Errorf("image folder: shorter side %d: must be positive", opts.ShorterSide)
	}
	perImage := int64(ImageBytes)
	if !opts.Exact {
		perImage = int64(3 * opts.ShorterSide * opts.ShorterSide * 2) // aspect up to 2:1
	}
	fits, limit := fitsInMemory(len(items), perImage, opts)
	inMemory := opts
	inMemory.ReducedDCT = false
	switch {
	case !opts.Exact && opts.Stream == StreamAlways:
		return streamFolder(items, classes, opts)
	case !fits && !opts.Exact && opts.Stream == StreamAuto:
		// The estimate is an upper bound: the headers say what the set
		// takes exactly.
		s, rep, err := streamFolder(items, classes, opts)
		if err != nil {
			return nil, rep, err
		}
		var total int64
		for _, z := range s.Sizes {
			total += int64(3 * z.W * z.H)
		}
		if ok, _ := fitsInMemory(1, total, opts); !ok {
			return s, rep, nil
		}
		opts = inMemory
	case !fits:
		return nil, rep, fmt.Errorf("image folder: %d images stored at %d bytes each would need %s, more than fits in memory (%s)",
			len(items), perImage, sysmem.Format(perImage*int64(len(items))), limit)
	default:
		opts = inMemory
	}
	type decoded struct {
		pix  []byte
		size Size
		err  error
	}
	out := make([]decoded, len(items))
	parallel(len(items), opts.Workers, func(i int) {
		pix, size, err := decodeStored(items[i].Path, opts)
		out[i] = decoded{pix, size, err}
	})
	d := &Dataset{Classes: classes}
	if !opts.Exact {
		d.Offsets = []int{0}
	}
	for i, o := range out {
		if o.err != nil {
			if opts.Strict {
				return nil, rep, o.err
			}
			rep.Skipped = append(rep.Skipped, o.err)
			continue
		}
		d.Labels = append(d.Labels, int32(items[i].Label))
		d.Pixels = append(d.Pixels, o.pix...)
		if !opts.Exact {
			d.Sizes = append(d.Sizes, o.size)
			d.Offsets = append(d.Offsets, len(d.Pixels))
		}
	}
	if d.Len() == 0 {
		return nil, rep, fmt.Errorf("image folder: %w that can be read (%d skipped; the first: %v)", ErrNoImages, len(rep.Skipped), rep.Skipped[0])
	}
	if err := d.Check(); err != nil {
		return nil, rep, err
	}
	return d, rep, nil
}

// decodeStored decodes one image and returns its stored planar RGB form.
func decodeStored(path string, opts FolderOptions) ([]byte, Size, error) {
	if opts.ReducedDCT && !opts.Exact {
		img, w, h, err := decodeReduced(path, opts.ShorterSide)
		if err != nil {
			return nil, Size{}, err
		}
		// Stored at the full image's size, as a full decode stores it. The
		// reduced image's last row and column may cover the edge blocks'
		// padding too (⌈w·n/8⌉ pixels for w·n/8): the full image spans
		// w·n/8 of its pixels, the box the resize takes.
		s := storedSize(w, h, opts)
		r := img.Bounds()
		return storeImageBox(img, s, float64(w)*float64(scaleNum(r.Dx(), w))/8, float64(h)*float64(scaleNum(r.Dy(), h))/8), s, nil
	}
	img, err := DecodeFile(path)
	if err != nil {
		return nil, Size{}, err
	}
	b := img.Bounds()
	if b.Dx() < 1 || b.Dy() < 1 {
		return nil, Size{}, fmt.Errorf("%s: empty image", path)
	}
	pix, s := storeImage(img, opts)
	return pix, s, nil
}

// decodeReduced decodes a JPEG at a reduced DCT scale whose shorter side
// is at least shorter (libjpeg-turbo), and returns it with the full
// image's size; other images, or without libjpeg-turbo, it decodes whole.
func decodeReduced(path string, shorter int) (image.Image, int, int, error) {
	img, w, h, _, err := decodeReducedBy(path, shorter)
	return img, w, h, err
}

// decodeReducedBy is decodeReduced, also saying whether libjpeg-turbo's
// scaled decode made the image.
func decodeReducedBy(path string, shorter int) (img image.Image, w, h int, turboDecoded bool, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, 0, false, err
	}
	if t := turbo(); t != nil && isJPEG(b) && os.Getenv(JPEGEnv) != "go" {
		if img, w, h, err := t.decodeScaled(b, shorter); err == nil {
			return img, w, h, true, nil
		}
	}
	img, err = Decode(b)
	if err != nil {
		return nil, 0, 0, false, fmt.Errorf("%s: not a readable JPEG or PNG image: %w", path, err)
	}
	r := img.Bounds()
	if r.Dx() < 1 || r.Dy() < 1 {
		return nil, 0, 0, false, fmt.Errorf("%s: empty image", path)
	}
	return img, r.Dx(), r.Dy(), false, nil
}

// storeImage converts a decoded image to its stored planar RGB form.
func storeImage(img image.Image, opts FolderOptions) ([]byte, Size) {
	b := img.Bounds()
	s := storedSize(b.Dx(), b.Dy(), opts)
	return storeImageAt(img, s), s
}

// scaleNum is the n of the DCT scale n/8 that gave a reduced dimension of
// scaled pixels from full ones (⌈full·n/8⌉ = scaled; 8 when not reduced).
func scaleNum(scaled, full int) int {
	for n := 1; n <= 8; n++ {
		if (full*n+7)/8 == scaled {
			return n
		}
	}
	return 8
}

// storeImageAt converts a decoded image to planar RGB resized to s.
func storeImageAt(img image.Image, s Size) []byte {
	b := img.Bounds()
	return storeImageBox(img, s, float64(b.Dx()), float64(b.Dy()))
}

// storeImageBox converts the box [0, bw) × [0, bh) of a decoded image to
// planar RGB resized to s.
func storeImageBox(img image.Image, s Size, bw, bh float64) []byte {
	b := img.Bounds()
	w, h := s.W, s.H
	sw, sh := b.Dx(), b.Dy()
	rgba := image.NewRGBA(image.Rect(0, 0, sw, sh))
	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src) // converts YCbCr, grey, CMYK, paletted
	pix := make([]byte, 3*sw*sh)
	for i := 0; i < sw*sh; i++ {
		pix[i], pix[sw*sh+i], pix[2*sw*sh+i] = rgba.Pix[4*i], rgba.Pix[4*i+1], rgba.Pix[4*i+2]
	}
	if w == sw && h == sh && bw == float64(sw) && bh == float64(sh) {
		return pix
	}
	return resizePlanarBox(pix, sw, sh, w, h, bw, bh)
}

// resizePlanar resamples planar RGB bytes from sw×sh to w×h with the
// Loader's filter (filterTaps: bilinear, widened when shrinking, so
// antialiased as torchvision's Resize), rounding to the nearest byte.
func resizePlanar(src []byte, sw, sh, w, h int) []byte {
	return resizePlanarBox(src, sw, sh, w, h, float64(sw), float64(sh))
}

// resizePlanarBox is resizePlanar of the box [0, bw) × [0, bh) of src.
func resizePlanarBox(src []byte, sw, sh, w, h int, bw, bh float64) []byte {
	xt := filterTaps(w, 0, bw, sw, false)
	yt := filterTaps(h, 0, bh, sh, false)
	tmp := make([]float32, sh*w)
	out := make([]byte, 3*w*h)
	for c := 0; c < 3; c++ {
		plane := src[c*sw*sh : (c+1)*sw*sh]
		for y := 0; y < sh; y++ {
			row, t := plane[y*sw:(y+1)*sw], tmp[y*w:(y+1)*w]
			for x, tp := range xt {
				var s float32
				for i, wt := range tp.w {
					s += wt * float32(row[tp.first+i])
				}
				t[x] = s
			}
		}
		o := out[c*w*h : (c+1)*w*h]
		for y, tp := range yt {
			for x := 0; x < w; x++ {
				var s float32
				for i, wt := range tp.w {
					s += wt * tmp[(tp.first+i)*w+x]
				}
				o[y*w+x] = byte(min(max(s+0.5, 0), 255))
			}
		}
	}
	return out
}

// StatsSample is how many images of a streamed dataset Stats reads.
const StatsSample = 2000

// Stats returns the per-channel mean and standard deviation of the
// dataset's pixels (in [0, 1]): the normalisation a folder dataset trains
// with, recorded in its checkpoints.
//
// For a streamed dataset they are estimated from up to StatsSample images
// spread evenly through it (an unreadable one is left out).
func (d *Dataset) Stats() (mean, std [3]float32) {
	var sum, sq [3]float64
	var n float64
	count, step := d.Len(), 1.0
	if d.stream != nil && count > StatsSample {
		count, step = StatsSample, float64(d.Len())/StatsSample
	}
	for k := 0; k < count; k++ {
		pix, w, h, err := d.Read(int(float64(k) * step))
		if err != nil {
			continue
		}
		plane := w * h
		for c := 0; c < 3; c++ {
			var s, q float64
			for _, v := range pix[c*plane : (c+1)*plane] {
				f := float64(v) / 255
				s += f
				q += f * f
			}
			sum[c] += s
			sq[c] += q
		}
		n += float64(plane)
	}
	for c := 0; c < 3; c++ {
		m := sum[c] / max(n, 1)
		mean[c] = float32(m)
		std[c] = float32(math.Sqrt(max(sq[c]/max(n, 1)-m*m, 1e-12)))
	}
	return mean, std
}

// WriteSkipped prints how many images were skipped and the first few paths.
func (r FolderReport) WriteSkipped(w io.Writer, what string) {
	if len(r.Skipped) == 0 {
		return
	}
	fmt.Fprintf(w, "%s: skipped %d unreadable image(s):\n", what, len(r.Skipped))
	for i, err := range r.Skipped {
		if i == 5 {
			fmt.Fprintf(w, "  … and %d more\n", len(r.Skipped)-5)
			break
		}
		fmt.Fprintf(w, "  %v\n", err)
	}
}

package data

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
)

// Per-channel mean and standard deviation of the CIFAR-10 training images
// (pixel values in [0, 1]).
var (
	Mean = [3]float32{0.4914, 0.4822, 0.4465}
	Std  = [3]float32{0.2470, 0.2435, 0.2616}
)

// ErrNoFlipsToAlternate is NewLoader's error for AlternateFlips without
// Augment or RandomResizedCrop, the augmentations whose random flips it
// replaces; recipes that set up a Loader report it too.
var ErrNoFlipsToAlternate = errors.New("alternating flips without augmentation: there are no flips to alternate")

// LoaderConfig configures a Loader.
type LoaderConfig struct {
	BatchSize  int  // images per batch (required)
	Resolution int  // output height and width; 32 keeps CIFAR-10's images as they are (0: 32)
	Shuffle    bool // a new permutation each epoch
	// Input is the normalisation and the evaluation resize (nil:
	// CIFAR10Preprocess): ResizeExact scales whole images, ResizeCenterCrop
	// takes torchvision's centre crop.
	Input *Preprocess
	// Augment draws, per image, a random crop (4 pixels of zero padding of
	// a 32×32 image, the same share of others) and a horizontal flip:
	// CIFAR-10's augmentation.
	Augment bool
	// RandomResizedCrop draws, per image, torchvision's RandomResizedCrop
	// (8–100% of the area, aspect 3/4–4/3) and a horizontal flip: the
	// ImageNet augmentation. It replaces Augment.
	RandomResizedCrop bool
	// AlternateFlips replaces the random horizontal flip of Augment and
	// RandomResizedCrop by alternating flips (Jordan, "94% on CIFAR-10 in
	// 3.29 seconds", 2024): each image's flip is drawn once from Seed for
	// the even epochs and inverted in the odd ones, so every pair of epochs
	// shows each image both ways. The crop draws stay as they were.
	AlternateFlips bool
	// Cutout > 0 sets a Cutout×Cutout square of each image to the mean
	// (0 after normalisation), its centre drawn uniformly over the image
	// and the square clipped at the borders (DeVries & Taylor, 2017): of
	// the 32×32 image for fixed-size datasets, of the output otherwise.
	Cutout int
	// TrivialAugment applies TrivialAugment Wide (one of fourteen
	// operations at a random magnitude; augment.go) to each training image
	// after the crop and flip: fixed-size (32×32) datasets only.
	TrivialAugment bool
	// RandomErasing > 0 is the probability of setting a random rectangle
	// (2–33% of the area) of each output image to the mean (torchvision's
	// RandomErasing).
	RandomErasing float64
	// Mix mixes the images of each batch in pairs (MixUp, CutMix; mix.go),
	// after every per-image augmentation; Batch.Y2 and Batch.Lam give the
	// mixed labels.
	Mix  Mix
	Seed uint64 // shuffling and augmentation depend only on Seed, the epoch and the batch index
	// DropLast drops the last partial batch (training, whose graph has a
	// fixed batch size). Otherwise the last batch is padded with zeros to
	// BatchSize and Batch.N says how many images are real.
	DropLast bool
	// Window, with a Resolution below 32 on a fixed-size dataset (the
	// CIFAR-10 path), takes a random Resolution×Resolution window of each
	// prepared 32×32 image (after its crop, flip, TrivialAugment and
	// Cutout) where the loader would otherwise resize the whole image: the
	// low-resolution epochs of progressive resizing in crop mode, in which
	// objects keep their size. The window's offsets draw from a stream of
	// their own.
	Window bool
	// Shard makes the loader deliver one rank's part of every batch in
	// data-parallel work (the zero value: all of it).
	Shard    Shard
	Workers  int // goroutines preparing batches (default: GOMAXPROCS)
	Prefetch int // batches prepared ahead (default 2 per worker)
}

// Shard is rank Rank's part of the data among Size ranks. By default it
// splits every batch: BatchSize stays the global batch, and the rank gets
// its BatchSize/Size consecutive images of it, each prepared exactly as a
// one-process loader prepares it (the same image, crop, flip, Cutout…: the
// random draws of the other ranks' images are taken and dropped). So N
// ranks' steps together see the one-process batch: training's sharding.
// With WholeBatches it deals whole batches instead, batch i to rank
// i mod Size: evaluation's sharding, under which each image lands in the
// batch, and gets the logits, it would get in one process.
type Shard struct {
	Rank, Size   int
	WholeBatches bool
}

// On reports whether the shard is a part of the data (Size > 1).
func (s Shard) On() bool { return s.Size > 1 }

// Batch is a mini-batch: X holds BatchSize images as normalised float32
// NCHW (BatchSize × 3 × Resolution × Resolution), Y their labels; only the
// first N are real (N < BatchSize only in a padded last batch). With
// LoaderConfig.Mix on, image i is a mix of weight Lam of image i's and
// 1−Lam of image Y2[i]'s: its target is Lam·Y[i] + (1−Lam)·Y2[i]. Without
// mixing Y2 is nil and Lam is 1.
//
// Err, when not nil, says that an image of a streamed dataset could not be
// read (its file named): the batch is incomplete and must not be used.
type Batch struct {
	Index int
	X     []float32
	Y     []int
	Y2    []int
	Lam   float64
	N     int
	Err   error
}

// Loader turns a Dataset into batches.
type Loader struct {
	ds  *Dataset
	cfg LoaderConfig
}

// NewLoader checks the configuration.
func NewLoader(ds *Dataset, cfg LoaderConfig) (*Loader, error) {
	if cfg.Resolution == 0 {
		cfg.Resolution = ImageSize
	}
	if cfg.Input == nil {
		p := CIFAR10Preprocess()
		cfg.Input = &p
	}
	if err := cfg.Input.Validate(); err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	if err := ds.Check(); err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	maxCut := ImageSize
	if !ds.FixedSize() {
		maxCut = cfg.Resolution
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Prefetch <= 0 {
		cfg.Prefetch = 2 * cfg.Workers
	}
	switch {
	case cfg.BatchSize <= 0:
		return nil, fmt.Errorf("loader: batch size %d: must be positive", cfg.BatchSize)
	case cfg.Resolution < 1:
		return nil, fmt.Errorf("loader: resolution %d: must be positive", cfg.Resolution)
	case cfg.AlternateFlips && !cfg.Augment && !cfg.RandomResizedCrop:
		return nil, fmt.Errorf("loader: %w (set Augment or RandomResizedCrop)", ErrNoFlipsToAlternate)
	case cfg.TrivialAugment && !ds.FixedSize():
		return nil, fmt.Errorf("loader: trivial augment works on 32×32 datasets (CIFAR-10's, or folders with the CIFAR-10 configuration)")
	case !(cfg.RandomErasing >= 0 && cfg.RandomErasing <= 1):
		return nil, fmt.Errorf("loader: random erasing probability %g: must be in [0, 1]", cfg.RandomErasing)
	case cfg.Window && (!ds.FixedSize() || cfg.RandomResizedCrop || cfg.Input.Resize != ResizeExact):
		return nil, fmt.Errorf("loader: a window of each image works on 32×32 datasets (CIFAR-10's, or folders with the CIFAR-10 configuration), without random resized crops or a centre crop")
	case cfg.Window && cfg.Resolution > ImageSize:
		return nil, fmt.Errorf("loader: a window of %d×%d: larger than the %d×%d images", cfg.Resolution, cfg.Resolution, ImageSize, ImageSize)
	case cfg.Cutout < 0 || cfg.Cutout > maxCut:
		return nil, fmt.Errorf("loader: cutout %d: must be in [0, %d]", cfg.Cutout, maxCut)
	case ds.Len() == 0:
		return nil, fmt.Errorf("loader: empty dataset")
	case cfg.DropLast && ds.Len() < cfg.BatchSize:
		return nil, fmt.Errorf("loader: %d images make no full batch of %d", ds.Len(), cfg.BatchSize)
	}
	if err := cfg.Mix.Validate(); err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	if sh := cfg.Shard; sh.Size < 0 || sh.Size > 0 && (sh.Rank < 0 || sh.Rank >= sh.Size) {
		return nil, fmt.Errorf("loader: rank %d of %d ranks", sh.Rank, sh.Size)
	} else if sh.On() && !sh.WholeBatches && cfg.BatchSize%sh.Size != 0 {
		return nil, fmt.Errorf("loader: batch size %d: %d ranks do not divide it", cfg.BatchSize, sh.Size)
	}
	return &Loader{ds: ds, cfg: cfg}, nil
}

// Config returns the loader's configuration, its defaults filled in.
func (l *Loader) Config() LoaderConfig { return l.cfg }

// NumBatches is the number of batches per epoch (of the whole data: with
// a Shard, the steps every rank takes; with WholeBatches, the batches the
// ranks deal among themselves).
func (l *Loader) NumBatches() int {
	n, b := l.ds.Len(), l.cfg.BatchSize
	if l.cfg.DropLast {
		return n / b
	}
	return (n + b - 1) / b
}

// PartSize is the number of images of each batch this loader delivers:
// BatchSize, or its rank's share of it with a Shard that splits batches.
func (l *Loader) PartSize() int {
	if sh := l.cfg.Shard; sh.On() && !sh.WholeBatches {
		return l.cfg.BatchSize / sh.Size
	}
	return l.cfg.BatchSize
}

// mine reports whether batch i is delivered by this loader.
func (l *Loader) mine(i int) bool {
	sh := l.cfg.Shard
	return !sh.On() || !sh.WholeBatches || i%sh.Size == sh.Rank
}

// Order returns the image order of an epoch.
func (l *Loader) Order(epoch int) []int {
	if !l.cfg.Shuffle {
		o := make([]int, l.ds.Len())
		for i := range o {
			o[i] = i
		}
		return o
	}
	return rand.New(rand.NewPCG(l.cfg.Seed, uint64(epoch)<<32|0x5eed)).Perm(l.ds.Len())
}

// Epoch prepares the batches of an epoch from batch index start on, in the
// background, and delivers them in order. Cancel ctx to stop early; the
// channel is closed at the end.
func (l *Loader) Epoch(ctx context.Context, epoch, start int) <-chan Batch {
	order := l.Order(epoch)
	nb := l.NumBatches()
	out := make(chan Batch, l.cfg.Prefetch)
	// Workers fill slots; a sequencer delivers them in order.
	type slot struct {
		b    Batch
		done chan struct{}
	}
	slots := make(chan *slot, l.cfg.Prefetch)
	jobs := make(chan *slot, l.cfg.Prefetch)
	var wg sync.WaitGroup
	for w := 0; w < l.cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range jobs {
				l.fill(&s.b, order, epoch)
				close(s.done)
			}
		}()
	}
	go func() {
		defer close(jobs)
		defer close(slots)
		for i := start; i < nb; i++ {
			if !l.mine(i) {
				continue
			}
			s := &slot{b: Batch{Index: i}, done: make(chan struct{})}
			select {
			case slots <- s:
			case <-ctx.Done():
				return
			}
			jobs <- s
		}
	}()
	go func() {
		defer close(out)
		defer wg.Wait()
		for s := range slots {
			<-s.done
			select {
			case out <- s.b:
			case <-ctx.Done():
				for range slots {
				}
				return
			}
		}
	}()
	return out
}

// fill prepares batch b.Index of an epoch (this loader's part of it),
// mixed when LoaderConfig.Mix says so.
func (l *Loader) fill(b *Batch, order []int, epoch int) {
	part := l.part()
	if l.cfg.Mix.On() {
		// Images mix with their neighbours in the whole batch, which
		// other ranks' parts hold: the whole batch, then the part.
		part = [2]int{0, l.cfg.BatchSize}
	}
	l.fillImages(b, order, epoch, part)
	b.Lam = 1
	if l.cfg.Mix.On() {
		// Its own stream, as every augmentation has.
		mix := rand.New(rand.NewPCG(l.cfg.Seed^0x313a31, uint64(epoch)<<32|uint64(b.Index)))
		b.Y2 = make([]int, len(b.Y))
		b.Lam = l.cfg.Mix.apply(b.X, b.Y, b.Y2, b.N, 3, l.cfg.Resolution, mix)
		if p := l.part(); p != part {
			b.slice(p[0], p[1], 3*l.cfg.Resolution*l.cfg.Resolution)
		}
	}
}

// part is the range of positions of each batch this loader delivers.
func (l *Loader) part() [2]int {
	n := l.PartSize()
	if sh := l.cfg.Shard; sh.On() && !sh.WholeBatches {
		return [2]int{sh.Rank * n, (sh.Rank + 1) * n}
	}
	return [2]int{0, n}
}

// slice cuts a batch down to its images [lo, hi) (of size values each).
func (b *Batch) slice(lo, hi, size int) {
	b.X = b.X[lo*size : hi*size]
	b.Y = b.Y[lo:hi]
	if b.Y2 != nil {
		b.Y2 = b.Y2[lo:hi]
	}
	b.N = max(0, min(b.N-lo, hi-lo))
}

// fillImages prepares the images and labels at positions part of batch
// b.Index of an epoch. The random draws of every position are taken, so
// that each image's augmentation does not depend on the part.
func (l *Loader) fillImages(b *Batch, order []int, epoch int, part [2]int) {
	bs, r := l.cfg.BatchSize, l.cfg.Resolution
	lo := b.Index * bs
	hi := min(lo+bs, len(order))
	b.N = max(0, min(hi-lo-part[0], part[1]-part[0]))
	b.X = make([]float32, (part[1]-part[0])*3*r*r)
	b.Y = make([]int, part[1]-part[0])
	rng := rand.New(rand.NewPCG(l.cfg.Seed^0xa5a5, uint64(epoch)<<32|uint64(b.Index)))
	// Cutout, TrivialAugment and random erasing draw from their own
	// streams: turning one on leaves the others' draws as they were.
	cut := rand.New(rand.NewPCG(l.cfg.Seed^0xc07c07, uint64(epoch)<<32|uint64(b.Index)))
	ta := rand.New(rand.NewPCG(l.cfg.Seed^0x7a7a7a, uint64(epoch)<<32|uint64(b.Index)))
	erase := rand.New(rand.NewPCG(l.cfg.Seed^0xe5a5e5, uint64(epoch)<<32|uint64(b.Index)))
	win := rand.New(rand.NewPCG(l.cfg.Seed^0x3d3d3d, uint64(epoch)<<32|uint64(b.Index)))
	if !l.classic() {
		l.fillBoxes(b, order[lo:hi], epoch, part, rng, cut, erase)
		return
	}
	in := l.cfg.Input
	var img [ImageBytes]float32
	var raw [ImageBytes]byte
	var fill [3]byte
	for c := range fill {
		fill[c] = byte(math.Round(float64(in.Mean[c]) * 255))
	}
	for i := lo; i < hi; i++ {
		idx := order[i]
		dx, dy, flip := 0, 0, false
		if l.cfg.Augment {
			dx, dy, flip = rng.IntN(9)-4, rng.IntN(9)-4, l.flip(rng, idx, epoch)
		}
		k := i - lo - part[0] // the image's position in the part
		if k < 0 || k >= part[1]-part[0] {
			// Another rank's image: its draws only.
			if l.cfg.TrivialAugment {
				trivialAugment(nil, ImageSize, fill, ta)
			}
			if l.cfg.Cutout > 0 {
				cut.IntN(ImageSize)
				cut.IntN(ImageSize)
			}
			if l.cfg.Window {
				win.IntN(ImageSize - r + 1)
				win.IntN(ImageSize - r + 1)
			}
			if l.cfg.RandomErasing > 0 {
				randomErase(nil, r, l.cfg.RandomErasing, erase)
			}
			continue
		}
		b.Y[k] = int(l.ds.Labels[idx])
		if l.cfg.TrivialAugment {
			cropFlipBytes(raw[:], l.ds.Image(idx), dx, dy, flip, fill)
			trivialAugment(raw[:], ImageSize, fill, ta)
			prepare(img[:], raw[:], 0, 0, false, in.Mean, in.Std)
		} else {
			prepare(img[:], l.ds.Image(idx), dx, dy, flip, in.Mean, in.Std)
		}
		if l.cfg.Cutout > 0 {
			cutout(img[:], cut.IntN(ImageSize), cut.IntN(ImageSize), l.cfg.Cutout)
		}
		out := b.X[k*3*r*r : (k+1)*3*r*r]
		if l.cfg.Window {
			window(out, img[:], r, win.IntN(ImageSize-r+1), win.IntN(ImageSize-r+1))
		} else {
			resize(out, img[:], r)
		}
		if l.cfg.RandomErasing > 0 {
			randomErase(out, r, l.cfg.RandomErasing, erase)
		}
	}
}

// flip draws the horizontal flip of image idx in an epoch: from rng, or,
// with AlternateFlips, the image's own bit of Seed inverted in odd epochs
// (rng's draw is still taken, so that the draws after it do not move).
func (l *Loader) flip(rng *rand.Rand, idx, epoch int) bool {
	random := rng.IntN(2) == 1
	if !l.cfg.AlternateFlips {
		return random
	}
	return (imageBit(l.cfg.Seed, idx) == 1) != (epoch%2 == 1)
}

// imageBit is a fixed pseudo-random bit of image idx under seed (the
// SplitMix64 finaliser of the pair).
func imageBit(seed uint64, idx int) uint64 {
	z := (seed ^ 0xf1f1f1f1) + uint64(idx)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return (z ^ z>>31) & 1
}

// classic reports whether batches come from CIFAR-10's path: fixed-size
// images, whole (ResizeExact), cropped with padding when augmented.
func (l *Loader) classic() bool {
	return l.ds.FixedSize() && !l.cfg.RandomResizedCrop && l.cfg.Input.Resize == ResizeExact
}

// fillBoxes prepares the images idx of a batch the general way: a box of
// each image (random resized crop, shifted crop or the evaluation box),
// resampled to the resolution, and Cutout on the result.
func (l *Loader) fillBoxes(b *Batch, idx []int, epoch int, part [2]int, rng, cut, erase *rand.Rand) {
	r, in := l.cfg.Resolution, l.cfg.Input
	for j, i := range idx {
		k := j - part[0] // the image's position in the part
		mine := k >= 0 && k < part[1]-part[0]
		var pix []byte
		w, h := l.ds.Dims(i)             // the stored size: the draws' frame
		pw, ph, sx, sy := w, h, 1.0, 1.0 // the pixels read, and their scale from the stored frame
		if mine {
			b.Y[k] = int(l.ds.Labels[i])
			var err error
			if pix, pw, ph, sx, sy, err = l.ds.readSample(i); err != nil {
				if b.Err == nil {
					b.Err = fmt.Errorf("batch %d: %w", b.Index, err)
				}
				mine = false // its draws only
			}
		}
		var x0, y0, bw, bh float64
		flip := false
		switch {
		case l.cfg.RandomResizedCrop:
			x0, y0, bw, bh = randomResizedCropBox(w, h, rng.Float64)
			flip = l.flip(rng, i, epoch)
		case l.cfg.Augment: // shifted by up to 4/32 of the box, as CIFAR-10's padded crop
			x0, y0, bw, bh = centerCropBox(w, h, in.Resize, r)
			x0 += float64(rng.IntN(9)-4) * bw / ImageSize
			y0 += float64(rng.IntN(9)-4) * bh / ImageSize
			flip = l.flip(rng, i, epoch)
		default:
			x0, y0, bw, bh = centerCropBox(w, h, in.Resize, r)
		}
		var dst []float32 // nil: another rank's image, its draws only
		if mine {
			dst = b.X[k*3*r*r : (k+1)*3*r*r]
			sampleBox(dst, pix, pw, ph, x0*sx, y0*sy, bw*sx, bh*sy, flip, r, in)
		}
		if l.cfg.Cutout > 0 {
			cx, cy := cut.IntN(r), cut.IntN(r)
			if mine {
				cutoutAt(dst, r, cx, cy, l.cfg.Cutout)
			}
		}
		if l.cfg.RandomErasing > 0 {
			randomErase(dst, r, l.cfg.RandomErasing, erase)
		}
	}
}

// cropFlipBytes is prepare's crop and flip on bytes: dst (3×32×32) is src
// shifted by (dx, dy), padded with fill, optionally mirrored.
func cropFlipBytes(dst, src []byte, dx, dy int, flip bool, fill [3]byte) {
	const s = ImageSize
	for c := 0; c < 3; c++ {
		plane, out := src[c*s*s:(c+1)*s*s], dst[c*s*s:(c+1)*s*s]
		for y := 0; y < s; y++ {
			sy := y + dy
			for x := 0; x < s; x++ {
				sx := x + dx
				if flip {
					sx = s - 1 - x + dx
				}
				if sy < 0 || sy >= s || sx < 0 || sx >= s {
					out[y*s+x] = fill[c]
				} else {
					out[y*s+x] = plane[sy*s+sx]
				}
			}
		}
	}
}

// prepare normalises one image into dst (3×32×32), shifted by (dx, dy) with
// zero padding (a random crop of the 4-pixel padded image) and optionally
// mirrored. Padding is zero after normalisation, i.e. the channel mean.
func prepare(dst []float32, src []byte, dx, dy int, flip bool, mean, std [3]float32) {
	const s = ImageSize
	for c := 0; c < 3; c++ {
		m, inv := mean[c], 1/std[c]
		plane := src[c*s*s : (c+1)*s*s]
		out := dst[c*s*s : (c+1)*s*s]
		for y := 0; y < s; y++ {
			sy := y + dy
			row := out[y*s : (y+1)*s]
			if sy < 0 || sy >= s {
				clear(row)
				continue
			}
			for x := 0; x < s; x++ {
				sx := x + dx
				if flip {
					sx = s - 1 - x + dx
				}
				if sx < 0 || sx >= s {
					row[x] = 0
					continue
				}
				row[x] = (float32(plane[sy*s+sx])/255 - m) * inv
			}
		}
	}
}

// cutout zeroes the size×size square centred at (cx, cy) (the top-left of
// the centre for even sizes) in every channel of a 3×32×32 image, clipped
// at the borders.
func cutout(img []float32, cx, cy, size int) { cutoutAt(img, ImageSize, cx, cy, size) }

// cutoutAt is cutout on a 3×s×s image.
func cutoutAt(img []float32, s, cx, cy, size int) {
	x0, y0 := max(cx-size/2, 0), max(cy-size/2, 0)
	x1, y1 := min(cx-size/2+size, s), min(cy-size/2+size, s)
	for c := 0; c < 3; c++ {
		for y := y0; y < y1; y++ {
			clear(img[c*s*s+y*s+x0 : c*s*s+y*s+x1])
		}
	}
}

// window copies the r×r window of the 32×32 image src (3 planes) whose
// top-left corner is (x0, y0) into dst.
func window(dst, src []float32, r, x0, y0 int) {
	const s = ImageSize
	for c := 0; c < 3; c++ {
		for y := 0; y < r; y++ {
			copy(dst[(c*r+y)*r:(c*r+y+1)*r], src[(c*s+y0+y)*s+x0:])
		}
	}
}

// resize scales a 3×32×32 image to 3×r×r with bilinear interpolation
// (align_corners=false); r = 32 copies.
func resize(dst, src []float32, r int) {
	const s = ImageSize
	if r == s {
		copy(dst, src)
		return
	}
	scale := float32(s) / float32(r)
	for c := 0; c < 3; c++ {
		in := src[c*s*s : (c+1)*s*s]
		out := dst[c*r*r : (c+1)*r*r]
		for y := 0; y < r; y++ {
			fy := max((float32(y)+0.5)*scale-0.5, 0)
			y0 := min(int(fy), s-1)
			y1 := min(y0+1, s-1)
			wy := fy - float32(y0)
			for x := 0; x < r; x++ {
				fx := max((float32(x)+0.5)*scale-0.5, 0)
				x0 := min(int(fx), s-1)
				x1 := min(x0+1, s-1)
				wx := fx - float32(x0)
				top := in[y0*s+x0]*(1-wx) + in[y0*s+x1]*wx
				bot := in[y1*s+x0]*(1-wx) + in[y1*s+x1]*wx
				out[y*r+x] = top*(1-wy) + bot*wy
			}
		}
	}
}

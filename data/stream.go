package data

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"image"
	"math"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/gomobilenet/mobilenet/internal/sysmem"
)

// StreamMode says when LoadFolder leaves a folder's images on disk and
// decodes them batch by batch instead of holding them in memory.
type StreamMode int

const (
	// StreamAuto streams when the decoded set would not fit in the
	// memory available (FolderOptions.MemoryLimit).
	StreamAuto StreamMode = iota
	// StreamNever refuses a set that does not fit.
	StreamNever
	// StreamAlways streams whatever the size.
	StreamAlways
)

func (m StreamMode) String() string {
	switch m {
	case StreamNever:
		return "never"
	case StreamAlways:
		return "always"
	}
	return "auto"
}

// ParseStreamMode reads auto, never or always.
func ParseStreamMode(s string) (StreamMode, error) {
	for _, m := range []StreamMode{StreamAuto, StreamNever, StreamAlways} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("stream %q: want auto, never or always", s)
}

// stream is a dataset's images left on disk: decoded on each Read, as
// LoadFolder would have stored them.
type stream struct {
	paths []string
	files []fileID // size and modification time, for the fingerprint
	opts  FolderOptions
}

type fileID struct {
	size  int64
	mtime int64
}

// Streamed reports whether the dataset's images stay on disk (LoadFolder
// with FolderOptions.Stream): each Read decodes its file.
func (d *Dataset) Streamed() bool { return d.stream != nil }

// Read returns image i's stored pixels (planar RGB), width and height:
// from memory, or decoded from its file for a streamed dataset (then an
// error names the file that could not be read).
func (d *Dataset) Read(i int) ([]byte, int, int, error) {
	if d.stream == nil {
		pix, w, h := d.ImageAt(i)
		return pix, w, h, nil
	}
	pix, s, err := decodeStored(d.stream.paths[i], d.stream.opts)
	if err != nil {
		return nil, 0, 0, err
	}
	if want := d.Sizes[i]; s != want { // the file changed since the scan
		return nil, 0, 0, fmt.Errorf("%s: %d×%d now, %d×%d when the folder was scanned", d.stream.paths[i], s.W, s.H, want.W, want.H)
	}
	return pix, s.W, s.H, nil
}

// readSample returns image i for the loader to sample a box of: its
// pixels (planar RGB), their width and height, and the extent of the image
// in those pixels per stored pixel (sx, sy: a box in stored coordinates,
// times them, is the box in these). A dataset in memory, and a streamed
// one without ReducedDCT, give the stored image (scales 1). With
// ReducedDCT, a JPEG that libjpeg-turbo decodes is given as decoded, at
// its reduced DCT scale (or whole), not resized to the stored size: the
// loader's sampling then resamples once, from the decode, instead of
// twice (within a level of the in-memory batches); other images are given
// in their stored form, exactly as in memory.
func (d *Dataset) readSample(i int) (pix []byte, w, h int, sx, sy float64, err error) {
	if d.stream == nil || !d.stream.opts.ReducedDCT || d.stream.opts.Exact {
		pix, w, h, err = d.Read(i)
		return pix, w, h, 1, 1, err
	}
	path := d.stream.paths[i]
	img, fw, fh, turboDecoded, err := decodeReducedBy(path, d.stream.opts.ShorterSide)
	if err != nil {
		return nil, 0, 0, 0, 0, err
	}
	want := d.Sizes[i]
	if s := storedSize(fw, fh, d.stream.opts); s != want {
		return nil, 0, 0, 0, 0, fmt.Errorf("%s: stored at %d×%d now, %d×%d when the folder was scanned", path, s.W, s.H, want.W, want.H)
	}
	r := img.Bounds()
	w, h = r.Dx(), r.Dy()
	if !turboDecoded { // a PNG, or Go's decoder: the stored form, as in memory
		return storeImageAt(img, want), want.W, want.H, 1, 1, nil
	}
	// The decode covers fw·n/8 of its pixels (⌈fw·n/8⌉ of them: the last
	// may cover edge-block padding too).
	ex, ey := float64(fw)*float64(scaleNum(w, fw))/8, float64(fh)*float64(scaleNum(h, fh))/8
	return storeImageBox(img, Size{w, h}, float64(w), float64(h)), w, h, ex / float64(want.W), ey / float64(want.H), nil
}

// streamFolder returns the dataset of items left on disk: each image's
// header is read (in parallel) for its size, none is decoded. Unreadable
// headers are skipped (or an error with opts.Strict), as LoadFolder skips
// unreadable images.
func streamFolder(items []Item, classes []string, opts FolderOptions) (*Dataset, FolderReport, error) {
	var rep FolderReport
	type scanned struct {
		size Size
		id   fileID
		err  error
	}
	out := make([]scanned, len(items))
	parallel(len(items), opts.Workers, func(i int) {
		size, id, err := scanImage(items[i].Path, opts)
		out[i] = scanned{size, id, err}
	})
	d := &Dataset{Classes: classes, Offsets: nil, stream: &stream{opts: opts}}
	for i, o := range out {
		if o.err != nil {
			if opts.Strict {
				return nil, rep, o.err
			}
			rep.Skipped = append(rep.Skipped, o.err)
			continue
		}
		d.Labels = append(d.Labels, int32(items[i].Label))
		d.Sizes = append(d.Sizes, o.size)
		d.stream.paths = append(d.stream.paths, items[i].Path)
		d.stream.files = append(d.stream.files, o.id)
	}
	if d.Len() == 0 {
		return nil, rep, fmt.Errorf("image folder: %w that can be read (%d skipped; the first: %v)", ErrNoImages, len(rep.Skipped), rep.Skipped[0])
	}
	return d, rep, nil
}

// scanImage reads an image file's header: the size LoadFolder would store
// it at, and the file's identity.
func scanImage(path string, opts FolderOptions) (Size, fileID, error) {
	f, err := os.Open(path)
	if err != nil {
		return Size{}, fileID{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Size{}, fileID{}, err
	}
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return Size{}, fileID{}, fmt.Errorf("%s: not a readable JPEG or PNG image: %w", path, err)
	}
	if cfg.Width < 1 || cfg.Height < 1 || int64(cfg.Width)*int64(cfg.Height) > maxStoredPixels {
		return Size{}, fileID{}, fmt.Errorf("%s: %d×%d pixels", path, cfg.Width, cfg.Height)
	}
	return storedSize(cfg.Width, cfg.Height, opts), fileID{st.Size(), st.ModTime().UnixNano()}, nil
}

// maxStoredPixels bounds an image's pixel count (a decompression bomb is
// refused, not decoded).
const maxStoredPixels = 1 << 28

// storedSize is the size an image of w×h is stored at.
func storedSize(w, h int, opts FolderOptions) Size {
	if opts.Exact {
		return Size{ImageSize, ImageSize}
	}
	if s := min(w, h); s > opts.ShorterSide {
		w, h = max(1, int(math.Round(float64(w)*float64(opts.ShorterSide)/float64(s)))), max(1, int(math.Round(float64(h)*float64(opts.ShorterSide)/float64(s))))
	}
	return Size{w, h}
}

// fitsInMemory reports whether n images stored at perImage bytes fit in
// the memory LoadFolder may use, and says how much that is.
func fitsInMemory(n int, perImage int64, opts FolderOptions) (bool, string) {
	limit := opts.MemoryLimit
	if limit <= 0 {
		avail, ok := sysmem.Available()
		if !ok {
			return true, "unknown"
		}
		limit = avail * 3 / 4
	}
	return perImage*int64(n) <= limit, sysmem.Format(limit)
}

// parallel runs f(0) … f(n−1) on workers goroutines (0: GOMAXPROCS).
func parallel(n, workers int, f func(i int)) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// streamFingerprint identifies a streamed dataset by its labels, sizes
// and files (paths, byte sizes and modification times): hashing every
// image's pixels would decode the whole folder.
func (d *Dataset) streamFingerprint() string {
	h := sha256.New()
	h.Write([]byte("stream"))
	var n [8]byte
	for i, p := range d.stream.paths {
		binary.LittleEndian.PutUint64(n[:], uint64(d.Labels[i]))
		h.Write(n[:])
		binary.LittleEndian.PutUint64(n[:], uint64(d.Sizes[i].W)<<32|uint64(d.Sizes[i].H))
		h.Write(n[:])
		h.Write([]byte(p))
		binary.LittleEndian.PutUint64(n[:], uint64(d.stream.files[i].size))
		h.Write(n[:])
		binary.LittleEndian.PutUint64(n[:], uint64(d.stream.files[i].mtime))
		h.Write(n[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// streamSubset is Subset of a streamed dataset: the same files.
func (d *Dataset) streamSubset(idx []int) *Dataset {
	s := &Dataset{Labels: make([]int32, len(idx)), Classes: d.Classes, Sizes: make([]Size, len(idx)),
		stream: &stream{paths: make([]string, len(idx)), files: make([]fileID, len(idx)), opts: d.stream.opts}}
	for k, i := range idx {
		s.Labels[k], s.Sizes[k] = d.Labels[i], d.Sizes[i]
		s.stream.paths[k], s.stream.files[k] = d.stream.paths[i], d.stream.files[i]
	}
	return s
}

// DecodeRate measures how fast this machine decodes a streamed dataset's
// images as the loader does: images a second on one
// goroutine, and its CPU cost in milliseconds an image, over up to n
// images spread evenly through the set (0 and 0 for an in-memory set).
func (d *Dataset) DecodeRate(n int) (perSecond, msPerImage float64, err error) {
	if d.stream == nil || d.Len() == 0 {
		return 0, 0, nil
	}
	n = min(n, d.Len())
	start := time.Now()
	for k := range n {
		if _, _, _, _, _, err := d.readSample(k * d.Len() / n); err != nil {
			return 0, 0, err
		}
	}
	s := time.Since(start).Seconds()
	return float64(n) / s, 1000 * s / float64(n), nil
}

package data

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// photo is a w×h image with smooth gradients and noise: something JPEG
// compresses as it does photographs.
func photo(w, h int, seed uint64) *image.RGBA { return photoNoise(w, h, seed, 20) }

// photoNoise is photo with per-pixel noise of up to noise levels.
func photoNoise(w, h int, seed uint64, noise int) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 1))
	n := func() float64 {
		if noise == 0 {
			return 0
		}
		return float64(r.IntN(noise))
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fx, fy := 2+r.Float64()*6, 2+r.Float64()*6
	for y := range h {
		for x := range w {
			u, v := float64(x)/float64(w), float64(y)/float64(h)
			base := 128 + 90*math.Sin(fx*u+fy*v)
			img.Set(x, y, color.RGBA{byte(max(0, min(255, base+n()))), byte(max(0, min(255, 255-base+n()))), byte(max(0, min(255, 64+128*u+n()))), 255})
		}
	}
	return img
}

// photoFolder writes n JPEG and PNG "photos" of sizes between 60 and 200
// pixels a side in two classes, and returns the items.
func photoFolder(t *testing.T, n int) ([]Item, []string) { return photoFolderNoise(t, n, 20) }

func photoFolderNoise(t *testing.T, n, noise int) ([]Item, []string) {
	root := t.TempDir()
	r := rand.New(rand.NewPCG(4, 4))
	for i := range n {
		ext := ".jpg"
		if i%5 == 0 {
			ext = ".png"
		}
		writeImage(t, filepath.Join(root, "train", []string{"a", "b"}[i%2], fmt.Sprintf("%03d%s", i, ext)), photoNoise(60+r.IntN(141), 60+r.IntN(141), uint64(i), noise))
	}
	for _, c := range []string{"a", "b"} {
		writeImage(t, filepath.Join(root, "val", c, "v.png"), photo(40, 40, 99))
	}
	f, err := ScanFolder(root, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	return f.Train, f.Classes
}

// TestStreamedEqualsInMemory: a streamed folder dataset gives the loader's
// batches of the same folder held in memory bit for bit (random resized
// crops, flips, Cutout, shards), the same statistics and subsets; a
// memory cap below the decoded size makes StreamAuto stream, and one above
// it does not; StreamNever refuses what does not fit.
func TestStreamedEqualsInMemory(t *testing.T) {
	items, classes := photoFolder(t, 23)
	base := FolderOptions{ShorterSide: 48}
	mem, _, err := LoadFolder(items, classes, base)
	if err != nil {
		t.Fatal(err)
	}
	opts := base
	opts.Stream = StreamAlways
	st, _, err := LoadFolder(items, classes, opts)
	if err != nil {
		t.Fatal(err)
	}
	if mem.Streamed() || !st.Streamed() || st.Pixels != nil || !slices.Equal(st.Sizes, mem.Sizes) || !slices.Equal(st.Labels, mem.Labels) {
		t.Fatalf("streamed %v/%v, sizes or labels differ", mem.Streamed(), st.Streamed())
	}
	in := Preprocess{Mean: [3]float32{.5, .5, .5}, Std: [3]float32{.25, .25, .25}, Resize: ResizeCenterCrop}
	for _, cfg := range []LoaderConfig{
		{BatchSize: 5, Resolution: 40, Input: &in},
		{BatchSize: 6, Resolution: 40, Input: &in, Shuffle: true, RandomResizedCrop: true, Cutout: 9, RandomErasing: 0.5, Seed: 2, DropLast: true, Shard: Shard{Rank: 1, Size: 2}},
	} {
		a, b := collectEpoch(t, mem, cfg, 1), collectEpoch(t, st, cfg, 1)
		for i := range a {
			if b[i].Err != nil || !slices.Equal(a[i].X, b[i].X) || !slices.Equal(a[i].Y, b[i].Y) {
				t.Fatalf("batch %d: streamed differs from in memory (%v)", i, b[i].Err)
			}
		}
	}
	if m1, s1 := mem.Stats(); true {
		m2, s2 := st.Stats()
		if m1 != m2 || s1 != s2 {
			t.Errorf("statistics: in memory %v %v, streamed %v %v", m1, s1, m2, s2)
		}
	}
	sub, err := st.Subset([]int{3, 0, 3})
	if err != nil || !sub.Streamed() || sub.Len() != 3 {
		t.Fatalf("subset: %v", err)
	}
	p1, _, _, _ := sub.Read(2)
	p2, _, _ := mem.ImageAt(3)
	if !slices.Equal(p1, p2) {
		t.Error("a streamed subset reads other pixels")
	}
	if st.Fingerprint() != st.Fingerprint() || st.Fingerprint() == mem.Fingerprint() {
		t.Error("fingerprints: a streamed dataset's must be stable, and differ from the pixels' hash")
	}
	// The memory cap.
	var total int64
	for _, s := range mem.Sizes {
		total += int64(3 * s.W * s.H)
	}
	for _, tc := range []struct {
		limit  int64
		mode   StreamMode
		stream bool
		fails  bool
	}{
		{total / 2, StreamAuto, true, false},
		{total * 10, StreamAuto, false, false},
		{total * 3 / 2, StreamAuto, false, false}, // below the 2:1 bound, above the headers' sum: in memory
		{total / 2, StreamNever, false, true},
	} {
		o := base
		o.MemoryLimit, o.Stream = tc.limit, tc.mode
		ds, _, err := LoadFolder(items, classes, o)
		if (err != nil) != tc.fails || err == nil && ds.Streamed() != tc.stream {
			t.Errorf("memory cap %d of %d, %v: err %v, streamed %v", tc.limit, total, tc.mode, err, err == nil && ds.Streamed())
		}
	}
}

// TestStreamedFileGone: an image that changes or disappears after the
// scan makes its batch's Err name the file, and no panic.
func TestStreamedFileGone(t *testing.T) {
	items, classes := photoFolder(t, 6)
	st, _, err := LoadFolder(items, classes, FolderOptions{ShorterSide: 48, Stream: StreamAlways})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(st.stream.paths[2])
	writeImage(t, st.stream.paths[4], photo(300, 20, 9)) // another size
	in := Preprocess{Mean: [3]float32{.5, .5, .5}, Std: [3]float32{.25, .25, .25}, Resize: ResizeCenterCrop}
	bs := collectEpoch(t, st, LoaderConfig{BatchSize: 3, Resolution: 32, Input: &in}, 0)
	for i, want := range []string{st.stream.paths[2], st.stream.paths[4]} {
		if bs[i].Err == nil || !errors.Is(bs[i].Err, os.ErrNotExist) && i == 0 || !strings.Contains(bs[i].Err.Error(), filepath.Base(want)) {
			t.Errorf("batch %d: error %v, want one naming %s", i, bs[i].Err, want)
		}
	}
}

// TestReducedDCT: decoding JPEGs at a reduced DCT scale stores every image
// at the size a full decode does, with pixels within a level of it on
// average on smooth images (the two downscales, DCT-domain and
// antialiased bilinear, agree on smooth content to their rounding; they
// differ on pixel noise, which each filters its own way); PNGs and small
// images are decoded in full. Without libjpeg-turbo it is a full decode.
func TestReducedDCT(t *testing.T) {
	items, classes := photoFolderNoise(t, 12, 0)
	full, _, err := LoadFolder(items, classes, FolderOptions{ShorterSide: 24})
	if err != nil {
		t.Fatal(err)
	}
	red, _, err := LoadFolder(items, classes, FolderOptions{ShorterSide: 24, ReducedDCT: true, Stream: StreamAlways})
	if err != nil {
		t.Fatal(err)
	}
	held, _, err := LoadFolder(items, classes, FolderOptions{ShorterSide: 24, ReducedDCT: true})
	if err != nil {
		t.Fatal(err)
	}
	if held.Fingerprint() != full.Fingerprint() {
		t.Error("a set held in memory with ReducedDCT is not decoded in full")
	}
	if !slices.Equal(full.Sizes, red.Sizes) {
		t.Fatalf("sizes: %v, reduced %v", full.Sizes, red.Sizes)
	}
	worst := 0.0
	for i := range full.Len() {
		a, _, _ := full.ImageAt(i)
		b, _, _, err := red.Read(i)
		if err != nil {
			t.Fatal(err)
		}
		sum := 0.0
		for j := range a {
			sum += math.Abs(float64(a[j]) - float64(b[j]))
		}
		worst = max(worst, sum/float64(len(a)))
	}
	t.Logf("mean absolute difference, worst image: %.2f levels (decoder: %s)", worst, JPEGDecoder())
	if worst > 1 {
		t.Errorf("reduced-DCT images differ from full decodes by %.2f levels on average", worst)
	}
	if turbo() != nil && os.Getenv(JPEGEnv) != "go" && worst == 0 {
		t.Error("libjpeg-turbo loads, yet no image was decoded at a reduced scale")
	}
	// The loader samples a streamed reduced image straight from its decode
	// (one resampling, not two): its batches are within a level, on
	// average, of the in-memory set's, for centre crops and random resized
	// crops with flips.
	in := Preprocess{Mean: [3]float32{0, 0, 0}, Std: [3]float32{1, 1, 1}, Resize: ResizeCenterCrop} // values in [0, 1]
	for _, cfg := range []LoaderConfig{
		{BatchSize: 4, Resolution: 20, Input: &in},
		{BatchSize: 4, Resolution: 20, Input: &in, Shuffle: true, RandomResizedCrop: true, Seed: 5},
	} {
		a, b := collectEpoch(t, full, cfg, 0), collectEpoch(t, red, cfg, 0)
		sum, n := 0.0, 0
		for i := range a {
			if b[i].Err != nil {
				t.Fatal(b[i].Err)
			}
			for j := range a[i].X {
				sum += math.Abs(float64(a[i].X[j]-b[i].X[j])) * 255
				n++
			}
		}
		t.Logf("loader batches, random resized crop %v: mean absolute difference %.2f levels", cfg.RandomResizedCrop, sum/float64(n))
		if sum/float64(n) > 1 {
			t.Errorf("loader batches of the reduced decode differ by %.2f levels on average", sum/float64(n))
		}
	}
}

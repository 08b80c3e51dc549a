package data

import (
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeImage writes img to path as PNG or JPEG (by extension).
func writeImage(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if strings.HasSuffix(path, ".png") {
		err = png.Encode(f, img)
	} else {
		err = jpeg.Encode(f, img, &jpeg.Options{Quality: 95})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// solid is a w×h image of one colour.
func solid(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		copy(img.Pix[4*i:], []byte{c.R, c.G, c.B, 255})
	}
	return img
}

// testFolder makes ROOT/train/{cat,dog} and ROOT/val/{cat,dog}: PNG and
// JPEG files of several sizes, a grey image, a corrupt JPEG and a text file.
func testFolder(t *testing.T) string {
	root := t.TempDir()
	for i := 0; i < 4; i++ {
		writeImage(t, filepath.Join(root, "train", "cat", "c"+string(rune('0'+i))+".png"), solid(32, 32, color.RGBA{200, 10, 10, 255}))
		writeImage(t, filepath.Join(root, "train", "dog", "d"+string(rune('0'+i))+".jpg"), solid(40+i, 30, color.RGBA{10, 200, 10, 255}))
	}
	grey := image.NewGray(image.Rect(0, 0, 20, 24))
	for i := range grey.Pix {
		grey.Pix[i] = 128
	}
	writeImage(t, filepath.Join(root, "train", "dog", "grey.png"), grey)
	os.WriteFile(filepath.Join(root, "train", "cat", "broken.jpg"), []byte("\xff\xd8\xff not really a JPEG"), 0o644)
	os.WriteFile(filepath.Join(root, "train", "cat", "notes.txt"), []byte("not an image"), 0o644)
	writeImage(t, filepath.Join(root, "val", "cat", "v.png"), solid(32, 32, color.RGBA{200, 10, 10, 255}))
	writeImage(t, filepath.Join(root, "val", "dog", "v.jpg"), solid(32, 32, color.RGBA{10, 200, 10, 255}))
	return root
}

func TestScanAndLoadFolder(t *testing.T) {
	root := testFolder(t)
	if !IsFolderDataset(root) || IsFolderDataset(t.TempDir()) {
		t.Fatal("IsFolderDataset")
	}
	f, err := ScanFolder(root, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.Classes, []string{"cat", "dog"}) || f.ValFrom != "val" || len(f.Train) != 10 || len(f.Val) != 2 {
		t.Fatalf("scan: classes %v, %d train, %d val from %s", f.Classes, len(f.Train), len(f.Val), f.ValFrom)
	}
	for _, exact := range []bool{true, false} {
		ds, rep, err := LoadFolder(f.Train, f.Classes, FolderOptions{Exact: exact, ShorterSide: 16})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0].Error(), "broken.jpg") {
			t.Errorf("skipped %v, want broken.jpg", rep.Skipped)
		}
		if ds.Len() != 9 || ds.FixedSize() != exact {
			t.Fatalf("exact %v: %d images, fixed size %v", exact, ds.Len(), ds.FixedSize())
		}
		// The first image is a lossless red PNG; the grey one is grey in every channel.
		pix, w, h := ds.ImageAt(0)
		if pix[0] != 200 || pix[w*h] != 10 || ds.Labels[0] != 0 {
			t.Errorf("exact %v: first image starts %d, %d (label %d)", exact, pix[0], pix[w*h], ds.Labels[0])
		}
		last, w, h := ds.ImageAt(ds.Len() - 1) // grey.png sorts last among the dogs
		if last[0] != 128 || last[w*h] != 128 || last[2*w*h] != 128 {
			t.Errorf("exact %v: grey image is %d, %d, %d", exact, last[0], last[w*h], last[2*w*h])
		}
		if !exact {
			if _, w, h := ds.ImageAt(5); min(w, h) != 16 || w != int(math.Round(41*16/30.0)) {
				t.Errorf("dog 41×30 stored as %d×%d, want shorter side 16", w, h)
			}
		}
	}
	if _, _, err := LoadFolder(f.Train, f.Classes, FolderOptions{Exact: true, Strict: true}); err == nil || !strings.Contains(err.Error(), "broken.jpg") {
		t.Errorf("strict: error %v", err)
	}
}

func TestScanFolderErrors(t *testing.T) {
	root := testFolder(t)
	os.MkdirAll(filepath.Join(root, "train", "empty"), 0o755)
	if _, err := ScanFolder(root, 0, 1); !errors.Is(err, ErrNoImages) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty class folder: %v", err)
	}
	if _, err := ScanFolder(t.TempDir(), 0, 1); !errors.Is(err, ErrNoImages) {
		t.Errorf("empty folder: %v", err)
	}
	other := testFolder(t)
	writeImage(t, filepath.Join(other, "val", "bird", "b.png"), solid(4, 4, color.RGBA{}))
	if _, err := ScanFolder(other, 0, 1); err == nil || !strings.Contains(err.Error(), `"bird" is not among`) {
		t.Errorf("unknown validation class: %v", err)
	}
	if _, err := ScanFolder(root, 1.5, 1); err == nil {
		t.Error("validation fraction 1.5: no error")
	}
}

// TestScanFolderSymlinks: class folders may be links into another tree.
func TestScanFolderSymlinks(t *testing.T) {
	src := testFolder(t)
	root := t.TempDir()
	for _, c := range []string{"cat", "dog"} {
		if err := os.Symlink(filepath.Join(src, "train", c), filepath.Join(root, c)); err != nil {
			t.Skip("no symbolic links here:", err)
		}
	}
	f, err := ScanFolder(root, 0.25, 1)
	if err != nil || !IsFolderDataset(root) {
		t.Fatal(err)
	}
	if !slices.Equal(f.Classes, []string{"cat", "dog"}) || len(f.Train)+len(f.Val) != 10 {
		t.Errorf("classes %v, %d+%d images", f.Classes, len(f.Train), len(f.Val))
	}
}

func TestScanFolderSplit(t *testing.T) {
	root := t.TempDir()
	for c, name := range []string{"a", "b", "c"} {
		for i := 0; i < 10*(c+1); i++ {
			writeImage(t, filepath.Join(root, name, string(rune('a'+i%26))+string(rune('0'+i/26))+".png"), solid(2, 2, color.RGBA{}))
		}
	}
	f, err := ScanFolder(root, 0.2, 7)
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, 3)
	for _, it := range f.Val {
		counts[it.Label]++
	}
	if f.ValFrom != "split" || !slices.Equal(counts, []int{2, 4, 6}) || len(f.Train) != 48 {
		t.Errorf("split: validation per class %v, %d training", counts, len(f.Train))
	}
	g, _ := ScanFolder(root, 0.2, 7)
	if !slices.Equal(g.Val, f.Val) {
		t.Error("the same seed holds out other images")
	}
}

// TestSampleBox: the whole image at its own size is the identity, and
// halving averages pairs of pixels (antialiasing).
func TestSampleBox(t *testing.T) {
	p := Preprocess{Mean: [3]float32{0, 0, 0}, Std: [3]float32{1, 1, 1}, Resize: ResizeExact}
	const w, h = 6, 4
	src := make([]byte, 3*w*h)
	for i := range src {
		src[i] = byte(i * 7 % 256)
	}
	out := make([]float32, 3*w*w)
	sq := src[:3*4*4]
	for i := range sq {
		sq[i] = byte(i * 5 % 256)
	}
	sampleBox(out[:3*16], sq, 4, 4, 0, 0, 4, 4, false, 4, &p)
	for i, v := range out[:3*16] {
		if math.Abs(float64(v)-float64(sq[i])/255) > 1e-6 {
			t.Fatalf("identity: %d: %v, want %v", i, v, float64(sq[i])/255)
		}
	}
	checker := make([]byte, 3*8*8)
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			if (x+y)%2 == 0 {
				for c := 0; c < 3; c++ {
					checker[c*64+y*8+x] = 255
				}
			}
		}
	}
	half := make([]float32, 3*4*4)
	sampleBox(half, checker, 8, 8, 0, 0, 8, 8, false, 4, &p)
	for i, v := range half {
		if math.Abs(float64(v)-0.5) > 0.02 {
			t.Fatalf("halving a checkerboard: %d: %v, want 0.5", i, v)
		}
	}
}

func TestRandomResizedCropBox(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		w, h := 1+r.IntN(300), 1+r.IntN(300)
		x0, y0, bw, bh := randomResizedCropBox(w, h, r.Float64)
		if bw < 1 || bh < 1 || x0 < 0 || y0 < 0 || x0+bw > float64(w)+1e-9 || y0+bh > float64(h)+1e-9 {
			t.Fatalf("%d×%d: box %v %v %v %v outside", w, h, x0, y0, bw, bh)
		}
	}
}

// TestFolderLoader: batches of a variable-size dataset, evaluation centre
// crops (a solid image gives its normalised colour) and random resized
// crops, deterministic for a seed.
func TestFolderLoader(t *testing.T) {
	root := testFolder(t)
	f, _ := ScanFolder(root, 0, 1)
	ds, _, err := LoadFolder(f.Train, f.Classes, FolderOptions{ShorterSide: 40})
	if err != nil {
		t.Fatal(err)
	}
	in := Preprocess{Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.25, 0.25, 0.25}, Resize: ResizeCenterCrop}
	ev, err := NewLoader(ds, LoaderConfig{BatchSize: 4, Resolution: 24, Input: &in})
	if err != nil {
		t.Fatal(err)
	}
	b := <-ev.Epoch(t.Context(), 0, 0)
	want := (200.0/255 - 0.5) / 0.25 // red channel of the first (cat) image
	if math.Abs(float64(b.X[0])-want) > 1e-4 || math.Abs(float64(b.X[24*24-1])-want) > 1e-4 {
		t.Errorf("centre crop of a solid image: %v, %v, want %v", b.X[0], b.X[24*24-1], want)
	}
	train := LoaderConfig{BatchSize: 4, Resolution: 24, Input: &in, Shuffle: true, RandomResizedCrop: true, Cutout: 8, Seed: 3, DropLast: true}
	la, _ := NewLoader(ds, train)
	lb, _ := NewLoader(ds, train)
	x, y := <-la.Epoch(t.Context(), 2, 1), <-lb.Epoch(t.Context(), 2, 1)
	if !slices.Equal(x.X, y.X) || !slices.Equal(x.Y, y.Y) {
		t.Error("the same seed gives other batches")
	}
	if _, err := NewLoader(ds, LoaderConfig{BatchSize: 4, Resolution: 24, Cutout: 25}); err == nil {
		t.Error("cutout larger than the resolution: no error")
	}
}

// TestApplyMatchesLoader: prediction's preprocessing of a file (Apply) is
// the evaluation loader's for the same image, bit for bit, in both resize
// modes: what makes cmd/predict agree with cmd/eval.
func TestApplyMatchesLoader(t *testing.T) {
	root := testFolder(t)
	f, _ := ScanFolder(root, 0, 1)
	for _, c := range []struct {
		resize string
		res    int
		exact  bool
	}{{ResizeExact, 32, true}, {ResizeExact, 40, true}, {ResizeCenterCrop, 24, false}, {ResizeCenterCrop, 7, false}} {
		items := f.Train[1:] // without broken.jpg
		ds, _, err := LoadFolder(items, f.Classes, FolderOptions{Exact: c.exact, ShorterSide: StoredSide(c.res)})
		if err != nil {
			t.Fatal(err)
		}
		in := Preprocess{Mean: [3]float32{0.4, 0.5, 0.6}, Std: [3]float32{0.2, 0.3, 0.25}, Resize: c.resize}
		l, err := NewLoader(ds, LoaderConfig{BatchSize: ds.Len(), Resolution: c.res, Input: &in})
		if err != nil {
			t.Fatal(err)
		}
		b := <-l.Epoch(t.Context(), 0, 0)
		n := 3 * c.res * c.res
		for i, it := range items {
			img, err := DecodeFile(it.Path)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float32, n)
			if err := in.Apply(got, img, c.res); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, b.X[i*n:(i+1)*n]) {
				t.Fatalf("%s at %d: Apply differs from the loader for %s", c.resize, c.res, it.Path)
			}
		}
	}
}

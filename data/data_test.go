package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/internal/testenv"
)

// writeFake writes a small dataset in the official layout: n images per
// file, image i of file f having label (i+f)%10 and pixels derived from both.
func writeFake(t testing.TB, root string, n int) {
	t.Helper()
	dir := filepath.Join(root, DirName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := append(Train.files(), Test.files()...)
	for f, name := range files {
		if err := os.WriteFile(filepath.Join(dir, name), fakeRecords(n, f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "batches.meta.txt"), []byte(strings.Join(DefaultClassNames, "\n")+"\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fakeRecords(n, f int) []byte {
	var b []byte
	for i := 0; i < n; i++ {
		b = append(b, byte((i+f)%10))
		for p := 0; p < ImageBytes; p++ {
			b = append(b, byte(p*7+i*13+f))
		}
	}
	return b
}

func TestLoad(t *testing.T) {
	root := t.TempDir()
	writeFake(t, root, 20)
	tr, err := Load(root, Train, 0)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 100 || tr.Labels[21] != 2 || tr.Image(21)[5] != byte(5*7+1*13+1) {
		t.Fatalf("train: %d images, label[21]=%d", tr.Len(), tr.Labels[21])
	}
	te, err := Load(root, Test, 7)
	if err != nil {
		t.Fatal(err)
	}
	if te.Len() != 7 || te.Classes[9] != "truck" {
		t.Fatalf("test: %d images, classes %v", te.Len(), te.Classes)
	}
}

func TestLoadErrors(t *testing.T) {
	root := t.TempDir()
	if _, err := Load(root, Train, 0); !errors.Is(err, ErrMissing) {
		t.Errorf("missing folder: %v", err)
	}
	writeFake(t, root, 3)
	path := filepath.Join(root, DirName, "test_batch.bin")
	os.WriteFile(path, fakeRecords(3, 0)[:RecordBytes*2+100], 0o644)
	if _, err := Load(root, Test, 0); err == nil || !strings.Contains(err.Error(), "test_batch.bin") || !strings.Contains(err.Error(), "whole number") {
		t.Errorf("truncated file: %v", err)
	}
	bad := fakeRecords(3, 0)
	bad[RecordBytes] = 10
	os.WriteFile(path, bad, 0o644)
	if _, err := Load(root, Test, 0); err == nil || !strings.Contains(err.Error(), "label 10") {
		t.Errorf("bad label: %v", err)
	}
}

func TestLoaderDeterministicAndComplete(t *testing.T) {
	root := t.TempDir()
	writeFake(t, root, 13)
	ds, _ := Load(root, Train, 0) // 65 images
	cfg := LoaderConfig{BatchSize: 8, Shuffle: true, Augment: true, Seed: 4}
	l, err := NewLoader(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	collect := func(l *Loader, epoch, start int) []Batch {
		var r []Batch
		for b := range l.Epoch(context.Background(), epoch, start) {
			r = append(r, b)
		}
		return r
	}
	a, b := collect(l, 3, 0), collect(l, 3, 0)
	if len(a) != 9 || a[8].N != 1 {
		t.Fatalf("%d batches, last has %d images", len(a), a[len(a)-1].N)
	}
	seen := map[int]int{}
	for i := range a {
		if a[i].Index != i {
			t.Fatal("batches out of order")
		}
		for j := range a[i].X {
			if a[i].X[j] != b[i].X[j] {
				t.Fatal("same seed and epoch gave different batches")
			}
		}
		for j := 0; j < a[i].N; j++ {
			seen[a[i].Y[j]]++
		}
	}
	if total := func() int {
		s := 0
		for _, v := range seen {
			s += v
		}
		return s
	}(); total != 65 {
		t.Errorf("epoch covered %d images, want 65", total)
	}
	// Resuming mid-epoch gives the same batches.
	c := collect(l, 3, 5)
	if c[0].Index != 5 || c[0].X[100] != a[5].X[100] {
		t.Error("resuming at batch 5 differs")
	}
	// Another epoch is shuffled differently.
	if d := collect(l, 4, 0); d[0].Y[0] == a[0].Y[0] && d[0].Y[1] == a[0].Y[1] && d[0].Y[2] == a[0].Y[2] && d[0].Y[3] == a[0].Y[3] {
		t.Error("epoch 4 has the order of epoch 3")
	}
	ld, _ := NewLoader(ds, LoaderConfig{BatchSize: 8, DropLast: true})
	if ld.NumBatches() != 8 {
		t.Errorf("drop last: %d batches", ld.NumBatches())
	}
}

func TestPrepareAugmentAndResize(t *testing.T) {
	src := make([]byte, ImageBytes)
	for i := range src {
		src[i] = byte(i % 251)
	}
	at := func(img []float32, c, y, x int) float32 { return img[c*1024+y*32+x] }
	norm := func(c, y, x int) float32 { return (float32(src[c*1024+y*32+x])/255 - Mean[c]) / Std[c] }
	img := make([]float32, ImageBytes)
	prepare(img, src, 0, 0, false, Mean, Std)
	if math.Abs(float64(at(img, 1, 3, 4)-norm(1, 3, 4))) > 1e-6 {
		t.Fatal("normalisation")
	}
	prepare(img, src, 2, -3, false, Mean, Std) // shifted crop: out(y,x) = in(y-3, x+2)
	if at(img, 0, 1, 5) != 0 || at(img, 2, 10, 5) != norm(2, 7, 7) || at(img, 0, 10, 30) != 0 {
		t.Fatal("crop")
	}
	prepare(img, src, 0, 0, true, Mean, Std)
	if at(img, 1, 5, 0) != norm(1, 5, 31) {
		t.Fatal("flip")
	}
	small := make([]float32, 3*16*16)
	prepare(img, src, 0, 0, false, Mean, Std)
	resize(small, img, 16)
	want := (at(img, 0, 2, 2) + at(img, 0, 2, 3) + at(img, 0, 3, 2) + at(img, 0, 3, 3)) / 4
	if math.Abs(float64(small[1*16+1]-want)) > 1e-5 {
		t.Fatalf("resize: %v want %v", small[17], want)
	}
}

// archive builds a cifar-10-binary.tar.gz from a fake dataset.
func archive(t *testing.T) []byte {
	root := t.TempDir()
	writeFake(t, root, 4)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: DirName + "/", Typeflag: tar.TypeDir, Mode: 0o755})
	entries, _ := os.ReadDir(filepath.Join(root, DirName))
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(root, DirName, e.Name()))
		tw.WriteHeader(&tar.Header{Name: DirName + "/" + e.Name(), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))})
		tw.Write(b)
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func TestDownload(t *testing.T) {
	body := archive(t)
	sum := md5.Sum(body)
	good := hex.EncodeToString(sum[:])
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok.tar.gz":
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		case "/truncated.tar.gz":
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body[:len(body)/2])
		default:
			http.Error(w, "nope", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	for _, c := range []struct {
		name, path, md5, want string
	}{
		{"success", "/ok.tar.gz", good, ""},
		{"checksum mismatch", "/ok.tar.gz", strings.Repeat("0", 32), "MD5 mismatch"},
		{"truncated body", "/truncated.tar.gz", good, "truncated"},
		{"HTTP error", "/missing.tar.gz", good, "404"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			var progress bytes.Buffer
			err := Ensure(context.Background(), root, true, Source{URL: srv.URL + c.path, MD5: c.md5, Progress: &progress})
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				ds, err := Load(root, Test, 0)
				if err != nil || ds.Len() != 4 {
					t.Fatalf("after download: %v", err)
				}
				if !strings.Contains(progress.String(), "downloading CIFAR-10") {
					t.Errorf("no progress bar: %q", progress.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			entries, _ := os.ReadDir(root)
			if len(entries) != 0 {
				t.Errorf("a failed download left %v behind", entries)
			}
		})
	}
	if err := Ensure(context.Background(), t.TempDir(), false, Source{}); !errors.Is(err, ErrMissing) {
		t.Errorf("no-download: %v", err)
	}
}

// sharedCIFAR returns the development copy beside the project, written in the
// binary layout by ../shared/cifar10/make-bin, or skips.
func sharedCIFAR(t testing.TB) string {
	for _, root := range []string{os.Getenv("CIFAR10_DIR"), "../data", "../../data"} {
		if root == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, DirName, "test_batch.bin")); err == nil {
			testenv.Ran(t, "cifar10")
			return root
		}
	}
	testenv.Need(t, "cifar10", false, "real CIFAR-10 not found: set CIFAR10_DIR to a folder holding cifar-10-batches-bin (../shared/cifar10/make-bin DIR writes one)")
	return ""
}

func TestRealCIFAR10(t *testing.T) {
	root := sharedCIFAR(t)
	for _, c := range []struct {
		split  Split
		n, per int
	}{{Train, 50000, 5000}, {Test, 10000, 1000}} {
		ds, err := Load(root, c.split, 0)
		if err != nil {
			t.Fatal(err)
		}
		counts := make([]int, NumClasses)
		for _, l := range ds.Labels {
			counts[l]++
		}
		if ds.Len() != c.n {
			t.Errorf("%v: %d records, want %d", c.split, ds.Len(), c.n)
		}
		for k, n := range counts {
			if n != c.per {
				t.Errorf("%v: class %d has %d images, want %d", c.split, k, n, c.per)
			}
		}
	}
}

// BenchmarkPipeline measures augmented training batches (128 images) per
// second; images/s is reported.
func BenchmarkPipeline(b *testing.B) {
	root := b.TempDir()
	writeFake(b, root, 2000)
	ds, _ := Load(root, Train, 0)
	l, _ := NewLoader(ds, LoaderConfig{BatchSize: 128, Shuffle: true, Augment: true, DropLast: true})
	b.ResetTimer()
	images := 0
	for images < b.N*128 {
		for batch := range l.Epoch(context.Background(), images, 0) {
			images += batch.N
			if images >= b.N*128 {
				break
			}
		}
	}
	b.ReportMetric(float64(images)/b.Elapsed().Seconds(), "images/s")
}

func TestCutout(t *testing.T) {
	const s = ImageSize
	for _, c := range []struct{ cx, cy, size, x0, x1, y0, y1 int }{
		{16, 16, 8, 12, 20, 12, 20},
		{0, 0, 8, 0, 4, 0, 4},       // clipped at the top-left
		{31, 30, 8, 27, 32, 26, 32}, // clipped at the bottom-right
		{10, 5, 5, 8, 13, 3, 8},     // odd size: centred
		{3, 3, 32, 0, 19, 0, 19},    // larger than the rest of the image
	} {
		img := make([]float32, ImageBytes)
		for i := range img {
			img[i] = 1
		}
		cutout(img, c.cx, c.cy, c.size)
		for ch := 0; ch < 3; ch++ {
			for y := 0; y < s; y++ {
				for x := 0; x < s; x++ {
					in := x >= c.x0 && x < c.x1 && y >= c.y0 && y < c.y1
					if v := img[ch*s*s+y*s+x]; (v == 0) != in {
						t.Fatalf("cutout at (%d,%d) size %d: pixel (%d,%d,%d) = %v", c.cx, c.cy, c.size, ch, x, y, v)
					}
				}
			}
		}
	}
}

// TestLoaderCutout: with Cutout the batches are those without it except for
// one blanked square of at most Cutout×Cutout per image (the crop, flip and
// order draws are unchanged), placed differently from image to image.
func TestLoaderCutout(t *testing.T) {
	root := t.TempDir()
	writeFake(t, root, 13)
	ds, _ := Load(root, Train, 0)
	base := LoaderConfig{BatchSize: 16, Shuffle: true, Augment: true, Seed: 9}
	withCut := base
	withCut.Cutout = 8
	la, _ := NewLoader(ds, base)
	lb, err := NewLoader(ds, withCut)
	if err != nil {
		t.Fatal(err)
	}
	a, b := <-la.Epoch(t.Context(), 2, 0), <-lb.Epoch(t.Context(), 2, 0)
	const plane = ImageSize * ImageSize
	corners := map[int]bool{}
	for i := 0; i < a.N; i++ {
		x0, y0, x1, y1 := ImageSize, ImageSize, -1, -1
		for p := 0; p < plane; p++ {
			for ch := 0; ch < 3; ch++ {
				va, vb := a.X[i*3*plane+ch*plane+p], b.X[i*3*plane+ch*plane+p]
				if vb != va && vb != 0 {
					t.Fatalf("image %d: pixel %d changed from %v to %v", i, p, va, vb)
				}
			}
			if b.X[i*3*plane+p] != a.X[i*3*plane+p] {
				x, y := p%ImageSize, p/ImageSize
				x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
			}
		}
		if x1 >= 0 && (x1-x0 >= 8 || y1-y0 >= 8) {
			t.Errorf("image %d: changed pixels span %dx%d, more than the 8x8 cutout", i, x1-x0+1, y1-y0+1)
		}
		corners[y0*ImageSize+x0] = true
	}
	if len(corners) < a.N/2 {
		t.Errorf("cutout squares at only %d places for %d images", len(corners), a.N)
	}
	if _, err := NewLoader(ds, LoaderConfig{BatchSize: 4, Cutout: 33}); err == nil {
		t.Error("cutout 33 accepted")
	}
}

// TestLoaderWindow: with Window, each image is a Resolution×Resolution
// window of the image the 32×32 loader prepares from the same draws (crop,
// flip, Cutout), at offsets that vary over the whole range; a window on a
// dataset of other sizes, with random resized crops, or larger than the
// images is refused.
func TestLoaderWindow(t *testing.T) {
	root := t.TempDir()
	writeFake(t, root, 13)
	ds, _ := Load(root, Train, 0)
	for _, r := range []int{1, 17, 24, 32} {
		full := LoaderConfig{BatchSize: 32, Shuffle: true, Augment: true, Cutout: 8, Seed: 3}
		win := full
		win.Resolution, win.Window = r, true
		la, _ := NewLoader(ds, full)
		lb, err := NewLoader(ds, win)
		if err != nil {
			t.Fatal(err)
		}
		a, b := <-la.Epoch(t.Context(), 1, 0), <-lb.Epoch(t.Context(), 1, 0)
		const s, plane = ImageSize, ImageSize * ImageSize
		xs, ys := map[int]bool{}, map[int]bool{}
		for i := 0; i < a.N; i++ {
			if a.Y[i] != b.Y[i] {
				t.Fatalf("resolution %d, image %d: label %d, want %d", r, i, b.Y[i], a.Y[i])
			}
			found := false
			for y0 := 0; y0 <= s-r && !found; y0++ {
				for x0 := 0; x0 <= s-r && !found; x0++ {
					same := true
					for c := 0; c < 3 && same; c++ {
						for y := 0; y < r && same; y++ {
							for x := 0; x < r; x++ {
								if b.X[i*3*r*r+(c*r+y)*r+x] != a.X[i*3*plane+c*plane+(y0+y)*s+x0+x] {
									same = false
									break
								}
							}
						}
					}
					if same {
						found = true
						xs[x0], ys[y0] = true, true
					}
				}
			}
			if !found {
				t.Fatalf("resolution %d, image %d: not a window of the 32×32 image", r, i)
			}
		}
		// 32 images over 32−r+1 offsets each way (one when r is 32).
		if want := min(s-r+1, 4); len(xs) < want || len(ys) < want {
			t.Errorf("resolution %d: windows at %d column and %d row offsets, want ≥ %d of each", r, len(xs), len(ys), want)
		}
	}
	bad := []struct {
		name string
		ds   *Dataset
		cfg  LoaderConfig
	}{
		{"variable sizes", variableDataset(4), LoaderConfig{BatchSize: 2, Resolution: 16, Window: true}},
		{"random resized crop", ds, LoaderConfig{BatchSize: 2, Resolution: 16, Window: true, RandomResizedCrop: true}},
		{"larger than the images", ds, LoaderConfig{BatchSize: 2, Resolution: 40, Window: true}},
	}
	for _, c := range bad {
		if _, err := NewLoader(c.ds, c.cfg); err == nil || !strings.Contains(err.Error(), "window") {
			t.Errorf("%s: %v, want a window error", c.name, err)
		}
	}
}

// TestLoaderNoDataset: a nil dataset is an error, not a crash.
func TestLoaderNoDataset(t *testing.T) {
	if _, err := NewLoader(nil, LoaderConfig{BatchSize: 4}); err == nil || !strings.Contains(err.Error(), "dataset") {
		t.Errorf("a nil dataset: %v", err)
	}
}

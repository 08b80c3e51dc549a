package data

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// syntheticDataset holds n images of 4:3 aspect whose shorter side is
// StoredSide(res) (32×32 for res 32), as LoadFolder stores them.
func syntheticDataset(n, res int) *Dataset {
	r := rand.New(rand.NewPCG(1, 1))
	d := &Dataset{Classes: []string{"a", "b"}}
	if res == ImageSize {
		d.Pixels = make([]byte, n*ImageBytes)
		d.Labels = make([]int32, n)
		for i := range d.Pixels {
			d.Pixels[i] = byte(r.IntN(256))
		}
		return d
	}
	s := StoredSide(res)
	w, h := s*4/3, s
	d.Offsets = []int{0}
	for i := 0; i < n; i++ {
		pix := make([]byte, 3*w*h)
		for j := range pix {
			pix[j] = byte(r.IntN(256))
		}
		d.Pixels = append(d.Pixels, pix...)
		d.Labels = append(d.Labels, int32(i%2))
		d.Sizes = append(d.Sizes, Size{w, h})
		d.Offsets = append(d.Offsets, len(d.Pixels))
	}
	return d
}

// BenchmarkLoader measures training batches (augmented: CIFAR-10's crop
// and flip at 32, random resized crop and flip above) prepared in the
// background by GOMAXPROCS workers, in images per second:
//
//	go test ./data -run X -bench Loader
func BenchmarkLoader(b *testing.B) {
	for _, res := range []int{32, 128, 224} {
		b.Run(fmt.Sprintf("res%d", res), func(b *testing.B) {
			ds := syntheticDataset(256, res)
			cfg := LoaderConfig{BatchSize: 64, Resolution: res, Shuffle: true, DropLast: true, Seed: 1}
			if res == ImageSize {
				cfg.Augment = true
			} else {
				in := Preprocess{Mean: Mean, Std: Std, Resize: ResizeCenterCrop}
				cfg.Input, cfg.RandomResizedCrop = &in, true
			}
			l, err := NewLoader(ds, cfg)
			if err != nil {
				b.Fatal(err)
			}
			images := 0
			start := time.Now()
			for i := 0; i < b.N; i++ {
				for range l.Epoch(context.Background(), i, 0) {
					images += cfg.BatchSize
				}
			}
			b.ReportMetric(float64(images)/time.Since(start).Seconds(), "images/s")
		})
	}
}

// BenchmarkLoadFolder measures decoding JPEG files (640×480) and storing
// them for resolution 224 (shorter side 256), in images per second.
func BenchmarkLoadFolder(b *testing.B) {
	dir := b.TempDir()
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7 % 251)
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	var items []Item
	for i := 0; i < 32; i++ {
		p := filepath.Join(dir, fmt.Sprintf("%d.jpg", i))
		os.WriteFile(p, buf.Bytes(), 0o644)
		items = append(items, Item{Path: p, Label: i % 2})
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, _, err := LoadFolder(items, []string{"a", "b"}, FolderOptions{ShorterSide: StoredSide(224)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(items))/time.Since(start).Seconds(), "images/s")
}

package data_test

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log"
	"os"
	"path/filepath"

	"github.com/gomobilenet/mobilenet/data"
)

// writePNG writes a w×h picture of one colour.
func writePNG(path string, w, h int, c color.RGBA) {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, c)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		log.Fatal(err)
	}
}

// An image folder as torchvision's ImageFolder reads it, ROOT/<class>/<image>,
// without a train/val split: ScanFolder holds out a seeded share of each
// class, LoadFolder decodes and resizes the images into a Dataset (here
// whole to 32×32, as the CIFAR-10 network takes them) and reports the files
// it could not read.
func ExampleScanFolder() {
	root, err := os.MkdirTemp("", "photos")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer os.RemoveAll(root)
	for _, class := range []string{"cats", "dogs"} {
		os.Mkdir(filepath.Join(root, class), 0o755)
		for i := 0; i < 5; i++ {
			writePNG(filepath.Join(root, class, fmt.Sprintf("%d.png", i)), 40+i, 30, color.RGBA{uint8(50 * i), 100, 200, 255})
		}
	}
	os.WriteFile(filepath.Join(root, "dogs", "broken.jpg"), []byte("not a JPEG"), 0o644)
	fmt.Println("an image folder:", data.IsFolderDataset(root))

	f, err := data.ScanFolder(root, 0.2, 1)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(f.Classes, len(f.Train), "training images,", len(f.Val), "held out ("+f.ValFrom+")")

	ds, report, err := data.LoadFolder(f.Train, f.Classes, data.FolderOptions{Exact: true})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(ds.Len(), "decoded, each", len(ds.Image(0)), "bytes;", len(report.Skipped), "skipped")
	// Output:
	// an image folder: true
	// [cats dogs] 9 training images, 2 held out (split)
	// 8 decoded, each 3072 bytes; 1 skipped
}

// A Loader turns a Dataset into shuffled, augmented, normalised batches,
// prepared in the background; the last partial batch is padded (N says how
// many images are real) unless DropLast.
func ExampleNewLoader() {
	ds := &data.Dataset{Pixels: make([]byte, 10*data.ImageBytes), Labels: []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, Classes: data.DefaultClassNames}
	l, err := data.NewLoader(ds, data.LoaderConfig{BatchSize: 4, Shuffle: true, Augment: true, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(l.NumBatches(), "batches an epoch")
	for b := range l.Epoch(context.Background(), 0, 0) {
		fmt.Println("batch", b.Index, "of", b.N, "images:", len(b.X), "values, labels", b.Y[:b.N])
	}
	_, err = data.NewLoader(ds, data.LoaderConfig{BatchSize: 0})
	fmt.Println(err)
	// Output:
	// 3 batches an epoch
	// batch 0 of 4 images: 12288 values, labels [0 5 7 8]
	// batch 1 of 4 images: 12288 values, labels [3 4 1 6]
	// batch 2 of 2 images: 12288 values, labels [9 2]
	// loader: batch size 0: must be positive
}

// ImagePaths expands the arguments of a command such as cmd/predict into
// image files: folders are walked, other files are left out.
func ExampleImagePaths() {
	dir, _ := os.MkdirTemp("", "images")
	defer os.RemoveAll(dir)
	os.Mkdir(filepath.Join(dir, "more"), 0o755)
	for _, name := range []string{"b.png", "a.JPG", "notes.txt", "more/c.jpeg"} {
		os.WriteFile(filepath.Join(dir, name), nil, 0o644)
	}
	paths, err := data.ImagePaths([]string{dir})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	for _, p := range paths {
		rel, _ := filepath.Rel(dir, p)
		fmt.Println(rel)
	}
	fmt.Println(data.IsImageFile("x.PNG"), data.IsImageFile("x.gif"))
	// Output:
	// a.JPG
	// b.png
	// more/c.jpeg
	// true false
}

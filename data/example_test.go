package data_test

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"log"

	"github.com/gomobilenet/mobilenet/data"
)

// Turn a picture of any size into a model's input, as cmd/predict does with
// a checkpoint's recorded preprocessing.
func ExamplePreprocess_Apply() {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48)) // a 64×48 mid-grey picture
	for y := 0; y < 48; y++ {
		for x := 0; x < 64; x++ {
			img.Set(x, y, color.RGBA{128, 128, 128, 255})
		}
	}
	pre := data.Preprocess{Mean: data.Mean, Std: data.Std, Resize: data.ResizeCenterCrop}
	x := make([]float32, 3*32*32)
	if err := pre.Apply(x, img, 32); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d values; red channel %.3f = (128/255 - %.4f) / %.4f\n", len(x), x[0], data.Mean[0], data.Std[0])
	// Output: 3072 values; red channel 0.043 = (128/255 - 0.4914) / 0.2470
}

// Mix the images of each training batch in pairs with CutMix (or MixUp):
// image i takes a box of image i−1 (the first, of the last), and its target
// is Lam·Y[i] + (1−Lam)·Y2[i].
func ExampleMix() {
	ds := &data.Dataset{Pixels: make([]byte, 8*data.ImageBytes), Labels: []int32{0, 1, 2, 3, 4, 5, 6, 7}, Classes: data.DefaultClassNames}
	l, err := data.NewLoader(ds, data.LoaderConfig{BatchSize: 4, Augment: true, Mix: data.Mix{CutMix: 1}, Seed: 1, DropLast: true})
	if err != nil {
		log.Fatal(err)
	}
	for b := range l.Epoch(context.Background(), 0, 0) {
		fmt.Printf("batch %d: labels %v mixed with %v, own share %.2f\n", b.Index, b.Y, b.Y2, b.Lam)
	}
	// Output:
	// batch 0: labels [0 1 2 3] mixed with [3 0 1 2], own share 0.46
	// batch 1: labels [4 5 6 7] mixed with [7 4 5 6], own share 0.29
}

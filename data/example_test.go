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

// Hold out a validation part of a training set: a tenth of each class,
// drawn by a seed (cmd/train --val-split does this to CIFAR-10).
func ExampleDataset_Split() {
	ds := &data.Dataset{Pixels: make([]byte, 100*data.ImageBytes), Labels: make([]int32, 100), Classes: []string{"cat", "dog"}}
	for i := range ds.Labels {
		ds.Labels[i] = int32(i % 2) // 50 of each class
	}
	train, val, err := ds.Split(0.1, 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(train.Len(), "training images,", val.Len(), "held out")
	// Output: 90 training images, 10 held out
}

// Copy some of a dataset's images into a dataset of their own.
func ExampleDataset_Subset() {
	ds := &data.Dataset{Pixels: make([]byte, 4*data.ImageBytes), Labels: []int32{0, 1, 2, 3}, Classes: data.DefaultClassNames}
	sub, err := ds.Subset([]int{3, 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sub.Len(), sub.Labels)
	// Output: 2 [3 1]
}

package data_test

import (
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

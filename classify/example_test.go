package classify_test

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"log"
	"os"
	"path/filepath"

	"github.com/gomobilenet/mobilenet/classify"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/train"
)

// Open a checkpoint once and classify images from any goroutine: a web
// handler's, say. (An untrained model here, written on the spot.)
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "classify")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer os.RemoveAll(dir)
	m, _ := model.New(model.CIFAR10(0.25), model.Options{Seed: 1})
	path := filepath.Join(dir, "model.bin")
	if err := train.WriteModel(path, m, m.Config); err != nil {
		fmt.Println("error:", err)
		return
	}

	c, err := classify.Open(path, classify.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48)) // any size: resized as the checkpoint says
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	img.Set(0, 0, color.White)
	top, err := c.Classify(context.Background(), img, 3)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(len(top), "classes, most probable first:", top[0].Prob >= top[1].Prob && top[1].Prob >= top[2].Prob)
	fmt.Println("classes:", c.Classes()[:3])
	// Output:
	// 3 classes, most probable first: true
	// classes: [airplane automobile bird]
}

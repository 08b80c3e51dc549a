package train_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/train"
)

// colours returns n images whose class k is written in their colour: red
// rises and green falls with k, blue is noise.
func colours(n int, seed byte) *data.Dataset {
	ds := &data.Dataset{Pixels: make([]byte, n*data.ImageBytes), Labels: make([]int32, n), Classes: data.DefaultClassNames}
	for i := 0; i < n; i++ {
		k := i % 10
		ds.Labels[i] = int32(k)
		img := ds.Image(i)
		for p := 0; p < 1024; p++ {
			noise := byte(p*7+i*13) + seed
			img[p] = byte(25*k) + noise%10
			img[1024+p] = byte(240-25*k) + noise%10
			img[2048+p] = noise
		}
	}
	return ds
}

// Run trains a small MobileNet, evaluating it after every epoch and writing
// last.bin, best.bin and metrics.jsonl to OutDir; LoadModel rebuilds the
// model from a checkpoint alone.
func ExampleRun() {
	out, _ := os.MkdirTemp("", "mobilenet-example")
	defer os.RemoveAll(out)

	r := train.DefaultRecipe()
	r.Epochs, r.BatchSize, r.EvalBatch, r.LR, r.WarmupEpochs, r.SWAEpochs = 6, 20, 50, 0.05, 0.5, 0
	cfg := model.CIFAR10(0.25)
	cfg.Resolution = 16 // images are resized to the model's resolution
	res, err := train.Run(context.Background(), train.Options{Recipe: r, Config: cfg, OutDir: out,
		Train: colours(200, 1), Test: colours(100, 2)})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("epochs:", res.Epochs)
	fmt.Println("better than chance:", res.BestAcc > 0.3)

	_, hdr, err := train.LoadModel(filepath.Join(out, "best.bin"), layers.Fused)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("checkpoint:", hdr.Config.Name, hdr.Config.Alpha, hdr.TestAcc == res.BestAcc)

	// The folder's run.json records the network, the recipe and each start.
	rec, err := train.ReadRunRecord(out)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("recorded:", rec.Recipe == r, len(rec.Starts), rec.Starts[0].Epoch)
	// Output:
	// epochs: 6
	// better than chance: true
	// checkpoint: cifar10 0.25 true
	// recorded: true 1 0
}

// A recipe describes itself on one line, as cmd/train logs it and cmd/eval
// reports a checkpoint's.
func ExampleRecipe_String() {
	r := train.DefaultRecipe()
	r.Epochs, r.Cutout, r.AlternateFlips, r.SWAEpochs = 48, 12, true, 0 // the short recipe
	fmt.Println(r)
	// Output:
	// 48 epochs, batch 128, lr 0.2 (1 warm-up epoch, cosine decay), Nesterov momentum 0.9, weight decay 0.0005 (conv), label smoothing 0.1, augment (alternating flips), cutout 12, init uniform, seed 1
}

// The default's SWA tail lengthens the run: 80 epochs at a tenth of the
// peak rate after the schedule's 200, the weights averaged at the end of
// each.
func ExampleRecipe_TotalEpochs() {
	r := train.DefaultRecipe()
	fmt.Println(r.TotalEpochs(), r.SWARate())
	r.SWALR = 0.05
	fmt.Println(r.SWARate())
	// Output:
	// 280 0.02
	// 0.05
}

// Translate and Mirror make the views of test-time augmentation; here on
// one 3×3 plane.
func ExampleTranslate() {
	x := []float32{
		1, 2, 3,
		4, 5, 6,
		7, 8, 9,
	}
	down := make([]float32, 9)
	train.Translate(down, x, 3, 1) // one pixel down and right; the edge reflected in
	mirrored := make([]float32, 9)
	train.Mirror(mirrored, x, 3)
	fmt.Println(down)
	fmt.Println(mirrored)
	// Output:
	// [5 4 5 2 1 2 5 4 5]
	// [3 2 1 6 5 4 9 8 7]
}

package train_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/train"
)

// A training loop of one's own, without Run: the optimizer, the learning
// rate schedule, the Trainer's steps, an Evaluator over the same variables
// (inference mode: BatchNorm's running statistics), and a checkpoint of the
// model that LoadModel rebuilds.
func ExampleNewTrainer() {
	cfg := model.CIFAR10(0.25)
	m, err := model.New(cfg, model.Options{Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	const batch, epochs = 20, 8
	trainSet, testSet := colours(200, 1), colours(100, 2)
	tr, err := train.NewTrainer(m, batch, train.NewSGD(0.9, 5e-4, true))
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()
	steps := epochs * trainSet.Len() / batch
	sched := train.Schedule{Base: 0.05, Warmup: 5, Total: steps}

	// images returns images [i, i+batch) of ds as floats in [-0.5, 0.5]
	// (channel-major, as the dataset stores them), and their labels.
	images := func(ds *data.Dataset, i int) ([]float32, []int) {
		x, y := make([]float32, 0, batch*data.ImageBytes), make([]int, batch)
		for k := range y {
			for _, p := range ds.Image(i + k) {
				x = append(x, float32(p)/255-0.5)
			}
			y[k] = int(ds.Labels[i+k])
		}
		return x, y
	}
	var first, last float64
	for s := 0; s < steps; s++ {
		x, y := images(trainSet, s*batch%trainSet.Len())
		loss, _, err := tr.Step(x, y, sched.At(s))
		if err != nil {
			log.Fatal(err)
		}
		if s == 0 {
			first = loss
		}
		last = loss
	}
	fmt.Printf("lr at steps 0, 5, 40, 80: %.4f %.4f %.4f %.4f\n", sched.At(0), sched.At(5), sched.At(40), sched.At(80))
	fmt.Println("loss fell:", last < first/2)

	ev, err := train.NewEvaluator(m, batch)
	if err != nil {
		log.Fatal(err)
	}
	defer ev.Close()
	right := 0
	for i := 0; i < testSet.Len(); i += batch {
		x, y := images(testSet, i)
		logits, err := ev.Logits(x)
		if err != nil {
			log.Fatal(err)
		}
		for k := range y {
			row := logits[k*10 : (k+1)*10]
			best := 0
			for c := range row {
				if row[c] > row[best] {
					best = c
				}
			}
			if best == y[k] {
				right++
			}
		}
	}
	fmt.Println("test accuracy above 90%:", right > testSet.Len()*9/10)

	dir, _ := os.MkdirTemp("", "trainer")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.bin")
	if err := train.WriteModel(path, m, cfg); err != nil {
		fmt.Println("error:", err)
		return
	}
	back, hdr, err := train.LoadModel(path, layers.Fused)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("reloaded:", hdr.Config.Name, back.Store.NumParams() == m.Store.NumParams())
	// Output:
	// lr at steps 0, 5, 40, 80: 0.0100 0.0500 0.0276 0.0000
	// loss fell: true
	// test accuracy above 90%: true
	// reloaded: cifar10 true
}

// ParseTTA reads the --tta flag's values.
func ExampleParseTTA() {
	for _, s := range []string{"none", "flip", "flip-translate", "ten-crop"} {
		tta, err := train.ParseTTA(s)
		fmt.Printf("%q %v\n", string(tta), err)
	}
	// Output:
	// "" <nil>
	// "flip" <nil>
	// "flip-translate" <nil>
	// "" test-time augmentation "ten-crop": want none, flip or flip-translate
}

// CheckMemory refuses, before anything is allocated, a run that could not
// fit in the machine's memory.
func ExampleCheckMemory() {
	cfg := model.ImageNet(1)
	cfg.Resolution = 2048
	err := train.CheckMemory(cfg, 256, 0)
	fmt.Println(errors.Is(err, train.ErrTooLarge))
	fmt.Println(train.CheckMemory(model.CIFAR10(0.25), 16, 16))
	// Output:
	// true
	// <nil>
}

package train

import (
	"math/rand/v2"
	"os"
	"testing"

	"github.com/gomobilenet/mobilenet/blas"
	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/model"
)

// randomDataset makes n random images with random labels.
func randomDataset(n int, seed uint64) *data.Dataset {
	r := rand.New(rand.NewPCG(seed, 1))
	ds := &data.Dataset{Pixels: make([]byte, n*data.ImageBytes), Labels: make([]int32, n), Classes: data.DefaultClassNames}
	for i := range ds.Pixels {
		ds.Pixels[i] = byte(r.IntN(256))
	}
	for i := range ds.Labels {
		ds.Labels[i] = int32(r.IntN(10))
	}
	return ds
}

// BenchmarkTrainEpoch times training steps (batch 128, alpha 0.75) through
// Run on random data; one op is one step.
func BenchmarkTrainStep(b *testing.B) {
	useBenchBLAS(b)
	r := DefaultRecipe()
	r.Epochs, r.SWAEpochs = 1, 0
	r.Augment = false
	ds := randomDataset(128*max(b.N, 1), 1)
	b.ResetTimer()
	_, err := Run(b.Context(), Options{Recipe: r, Config: model.CIFAR10(0.75), OutDir: b.TempDir(), Train: ds, Test: randomDataset(250, 2)})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkTrainerStep times Trainer.Step alone (batch 128, alpha 0.75,
// random data) and reports what a step allocates: the ops reuse their
// outputs and scratch across steps, so bytes/op stays far below one
// activation tensor.
func BenchmarkTrainerStep(b *testing.B) {
	useBenchBLAS(b)
	m, err := model.New(model.CIFAR10(0.75), model.Options{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	const batch = 128
	tr, err := NewTrainer(m, batch, NewSGD(0.9, 5e-4, true))
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*3*32*32)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y := make([]int, batch)
	for i := range y {
		y[i] = r.IntN(10)
	}
	for range 2 { // warm-up: buffers are allocated on the first steps
		if _, _, err := tr.Step(x, y, 0.01); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, _, err := tr.Step(x, y, 0.01); err != nil {
			b.Fatal(err)
		}
	}
}

// useBenchBLAS selects the backend the commands would: MOBILENET_BLAS when
// set, else Auto; the benchmark's one, so nothing to restore.
func useBenchBLAS(b *testing.B) {
	name := os.Getenv("MOBILENET_BLAS")
	if name == "" {
		name = blas.Auto
	}
	if _, err := blas.Use(name); err != nil {
		b.Fatal(err)
	}
}

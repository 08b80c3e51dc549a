package train_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/train"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The library snippet of README.md and docs/library.md, which
// TestReadmeSnippet holds to this function's body: a network of the
// project's layers in an ordinary Gorgonia graph, trained by the project's
// run loop on CIFAR-10. (Not run by go test: it downloads CIFAR-10.)
func Example_readme() {
	// README begin
	store, err := layers.NewStore(tensor.Float32, 1) // variables by name, seeded, train/eval mode
	if err != nil {
		log.Fatal(err)
	}
	build := func(b *layers.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
		h, err := layers.ApplyConv2D(b.In("stem"), x, layers.Conv2DConfig{Out: 32})
		if err != nil {
			return nil, err
		}
		if h, err = layers.ApplyBatchNorm(b.In("stem/bn"), h, layers.BatchNormConfig{Activation: layers.ReLU}); err != nil {
			return nil, err
		}
		for i, out := range []int{64, 128} { // depthwise-separable blocks, the second at stride 2
			cfg := layers.DefaultSeparableConfig(h.Shape()[1], out)
			cfg.Stride = 1 + i
			blk, err := layers.NewSeparableBlock(b.In(fmt.Sprintf("block%d", i+1)), cfg)
			if err != nil {
				return nil, err
			}
			if h, err = blk.Fwd(h); err != nil {
				return nil, err
			}
		}
		if h, err = layers.GlobalAvgPool(h); err != nil {
			return nil, err
		}
		return layers.ApplyDense(b.In("fc"), h, layers.DefaultDenseConfig(0, 10))
	}
	net, err := layers.NewNetwork(store, [3]int{3, 32, 32}, 10, build)
	if err != nil {
		log.Fatal(err)
	}

	dir := filepath.Join(os.TempDir(), "cifar10") // or an image folder: data.ScanFolder
	if err := data.Ensure(context.Background(), dir, true, data.Official(nil)); err != nil {
		log.Fatal(err)
	}
	trainSet, _ := data.Load(dir, data.Train, 0)
	testSet, _ := data.Load(dir, data.Test, 0)
	recipe := train.DefaultRecipe() // Nesterov SGD, warm-up + cosine, augmentation, label smoothing
	recipe.Epochs, recipe.SWAEpochs = 10, 0
	res, err := train.Run(context.Background(), train.Options{Network: net, NetworkName: "tiny separable net",
		Recipe: recipe, Train: trainSet, Test: testSet, OutDir: "run", Log: os.Stdout})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("test accuracy %.2f%%; checkpoints in run/\n", 100*res.BestAcc)
	// README end
}

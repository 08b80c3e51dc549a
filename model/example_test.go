package model_test

import (
	"fmt"
	"log"

	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	G "gorgonia.org/gorgonia"
)

// The paper's MobileNet-224 at width 0.5: parameters and mult-adds per image.
func ExampleConfig_Summary() {
	rows, err := model.ImageNet(0.5).Summary()
	if err != nil {
		log.Fatal(err)
	}
	params, macs := model.Totals(rows)
	fmt.Printf("%d layers, %.1fM parameters, %.0fM mult-adds\n", len(rows), float64(params)/1e6, float64(macs)/1e6)
	// Output: 56 layers, 1.3M parameters, 149M mult-adds
}

// A CIFAR-10 MobileNet at width 0.75, built into a graph for batches of 16.
func ExampleModel_Build() {
	m, err := model.New(model.CIFAR10(0.75), model.Options{Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	net, err := m.Build(G.NewGraph(), 16)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("input", net.Input.Shape(), "logits", net.Logits.Shape(), "parameters", m.Store.NumParams())
	// Output: input (16, 3, 32, 32) logits (16, 10) parameters 1824250
}

// The same CIFAR-10 MobileNet for 24×24 inputs: its graph's input is
// smaller, its variables are the model's own (one Store, as many
// parameters), so that training either trains both.
func ExampleModel_AtResolution() {
	m, err := model.New(model.CIFAR10(0.75), model.Options{Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	low, err := m.AtResolution(24)
	if err != nil {
		log.Fatal(err)
	}
	net, err := low.Build(G.NewGraph(), 16)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("input", net.Input.Shape(), "logits", net.Logits.Shape(), "same variables", low.Store == m.Store)
	if _, err := m.AtResolution(8); err != nil {
		fmt.Println(err)
	}
	// Output:
	// input (16, 3, 24, 24) logits (16, 10) same variables true
	// model: resolution 8: too small, the cifar10 network needs at least 16
}

// The width multiplier thins every layer (⌊channels·alpha⌋) and the
// resolution multiplier shrinks the input: the mult-adds of the paper's
// Tables 6 and 7 (569M, 325M, 149M, 41M; 418M, 290M, 186M), parameters alike.
func ExampleImageNet() {
	show := func(alpha float64, res int) {
		cfg := model.ImageNet(alpha)
		cfg.Resolution = res
		rows, err := cfg.Summary()
		if err != nil {
			log.Fatal(err)
		}
		params, macs := model.Totals(rows)
		fmt.Printf("%.2f MobileNet-%d: %.1fM parameters, %.0fM mult-adds, stem %d channels\n",
			alpha, res, float64(params)/1e6, float64(macs)/1e6, cfg.Channels(32))
	}
	for _, alpha := range []float64{1, 0.75, 0.5, 0.25} {
		show(alpha, 224)
	}
	for _, res := range []int{192, 160, 128} {
		show(1, res)
	}
	// Output:
	// 1.00 MobileNet-224: 4.2M parameters, 569M mult-adds, stem 32 channels
	// 0.75 MobileNet-224: 2.6M parameters, 325M mult-adds, stem 24 channels
	// 0.50 MobileNet-224: 1.3M parameters, 149M mult-adds, stem 16 channels
	// 0.25 MobileNet-224: 0.5M parameters, 41M mult-adds, stem 8 channels
	// 1.00 MobileNet-192: 4.2M parameters, 418M mult-adds, stem 32 channels
	// 1.00 MobileNet-160: 4.2M parameters, 291M mult-adds, stem 32 channels
	// 1.00 MobileNet-128: 4.2M parameters, 186M mult-adds, stem 32 channels
}

// The CIFAR-10 configuration keeps 32×32 inputs at full size in the first
// layer (stem stride 1); Validate names what is wrong with a bad one.
func ExampleCIFAR10() {
	cfg := model.CIFAR10(0.5)
	fmt.Println(cfg.Name, cfg.Alpha, cfg.Resolution, cfg.Classes, cfg.StemStride, cfg.MinResolution())
	cfg.Resolution = 8
	fmt.Println(cfg.Validate())
	// Output:
	// cifar10 0.5 32 10 1 16
	// resolution 8: too small, the cifar10 network needs at least 16
}

// Preset is the by-name form that commands and checkpoints use.
func ExamplePreset() {
	cfg, err := model.Preset("imagenet", 0.5)
	fmt.Println(cfg.Name, cfg.Resolution, cfg.StemStride, err)
	_, err = model.Preset("mnist", 1)
	fmt.Println(err)
	// Output:
	// imagenet 224 2 <nil>
	// unknown configuration "mnist" (want cifar10 or imagenet)
}

// A model's layers as a list, in order: the stem convolution and its
// BatchNorm (which inference builders and exporters fold into it, as they do
// inside each separable block), 13 separable blocks, pooling, the classifier.
func ExampleModel_Layers() {
	m, err := model.New(model.CIFAR10(0.25), model.Options{Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	ls, err := m.Layers()
	if err != nil {
		log.Fatal(err)
	}
	blocks := 0
	for i, l := range ls {
		if bn, ok := layers.FoldsInto(ls, i); ok {
			fmt.Println("layer", i, "folds", bn.Name())
		}
		if _, ok := l.(*layers.SeparableBlock); ok {
			blocks++
		}
	}
	fmt.Println(len(ls), "layers,", blocks, "separable blocks")
	// Output:
	// layer 0 folds batchnorm stem/bn
	// 17 layers, 13 separable blocks
}

// OutputStride keeps larger maps at the end of the network: 8 makes the
// CIFAR-10 network's last stride-2 block stride 1, so its last blocks run on
// 4×4 maps of a 32×32 image; the parameters stay, the mult-adds grow.
func ExampleConfig_Describe() {
	cfg := model.CIFAR10(0.75)
	rows, _ := cfg.Summary()
	p, macs := model.Totals(rows)
	fmt.Println(cfg.Describe(), p, macs, cfg.MinResolution())
	cfg.OutputStride = 8
	rows, _ = cfg.Summary()
	p, macs = model.Totals(rows)
	fmt.Println(cfg.Describe(), p, macs, cfg.MinResolution())
	cfg.OutputStride = 12
	fmt.Println(cfg.Validate())
	// Output:
	// cifar10 alpha 0.75 resolution 32 1824250 26508288 16
	// cifar10 alpha 0.75 resolution 32 output stride 8 1824250 37249536 8
	// output stride 12: must be 0 or a power of two from 1 (the stem's stride) to 16
}

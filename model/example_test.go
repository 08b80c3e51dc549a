package model_test

import (
	"fmt"
	"log"

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

package onnx_test

import (
	"fmt"
	"log"

	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/onnx"
)

// Export a (here untrained) MobileNet; cmd/export does this for checkpoints.
func ExampleModel() {
	m, err := model.New(model.CIFAR10(0.25), model.Options{Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	b, st, err := onnx.Model(m, onnx.Options{Softmax: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("opset %d, %d parameters, %d mult-adds, over 800 kB: %v\n", onnx.Opset, st.Params, st.MACs, len(b) > 800_000)
	// Output: opset 13, 215642 parameters, 3331072 mult-adds, over 800 kB: true
}

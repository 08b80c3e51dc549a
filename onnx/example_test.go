package onnx_test

import (
	"fmt"
	"log"

	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/onnx"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
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

// square is a layer of one's own (x², element-wise) that the exporter
// cannot know.
type square struct{}

func (square) Fwd(x *G.Node) (*G.Node, error) { return G.Square(x) }
func (square) Learnables() G.Nodes            { return nil }

// Export a network of one's own layers, not MobileNet: a convolution with its
// BatchNorm (folded into it), dropout (the identity in inference), pooling
// and a classifier. A layer the exporter does not know is refused by its
// type.
func ExampleSequence() {
	store, _ := layers.NewStore(tensor.Float32, 1)
	b := layers.NewBuilder(G.NewGraph(), store)
	conv, _ := layers.NewConv2D(b.In("conv"), layers.Conv2DConfig{In: 3, Out: 8, Stride: 2})
	bn, _ := layers.NewBatchNorm(b.In("conv/bn"), layers.BatchNormConfig{Channels: 8, Momentum: 0.1, Epsilon: 1e-5, Activation: layers.ReLU6})
	drop, _ := layers.NewDropout(b.In("drop"), layers.DropoutConfig{Rate: 0.2})
	fc, _ := layers.NewDense(b.In("fc"), layers.DefaultDenseConfig(8, 4))
	onnxBytes, st, err := onnx.Sequence([]layers.Layer{conv, bn, drop, layers.GlobalAvgPooling{}, fc}, 3, 16, 16, onnx.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Params, "parameters,", st.MACs, "mult-adds,", len(onnxBytes) > 1000)
	_, _, err = onnx.Sequence([]layers.Layer{conv, bn, square{}, layers.GlobalAvgPooling{}, fc}, 3, 16, 16, onnx.Options{})
	fmt.Println(err)
	// Output:
	// 268 parameters, 13856 mult-adds, true
	// onnx: no ONNX export for layer type onnx_test.square (exported: layers.Activation, layers.BatchNorm, layers.Conv2D, layers.Dense, layers.DepthwiseConv2D, layers.Dropout, layers.GlobalAvgPooling, layers.MaxPool2D, layers.PointwiseConv2D, layers.SeparableBlock)
}

package layers_test

import (
	"fmt"
	"log"

	"github.com/gomobilenet/mobilenet/layers"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// constant returns a float32 graph input of the given shape holding vals.
func constant(g *G.ExprGraph, name string, vals []float32, shape ...int) *G.Node {
	t := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(vals))
	return G.NodeFromAny(g, t, G.WithName(name))
}

// run computes the graph once and returns the value of n as float32s.
func run(g *G.ExprGraph, n *G.Node) []float32 {
	var v G.Value
	G.Read(n, &v)
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		log.Fatal(err)
	}
	if s, ok := v.Data().(float32); ok { // a scalar, such as a loss
		return []float32{s}
	}
	return append([]float32(nil), v.Data().([]float32)...)
}

// A standard 3×3 convolution at stride 2 with one pixel of padding, as
// MobileNet's ImageNet stem: the output shape, and the shapes of its
// variables in the Store.
func ExampleNewConv2D() {
	g := G.NewGraph()
	store, _ := layers.NewStore(tensor.Float32, 1)
	b := layers.NewBuilder(g, store)
	conv, err := layers.NewConv2D(b.In("stem"), layers.Conv2DConfig{In: 3, Out: 32, Stride: 2, Padding: layers.Pad(1), Bias: true})
	if err != nil {
		log.Fatal(err)
	}
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(8, 3, 224, 224), G.WithName("images"))
	y, err := conv.Fwd(x)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(y.Shape())
	for _, v := range store.Vars() {
		fmt.Println(v.Name, v.Value.Shape(), "decay:", v.Decay)
	}
	_, err = layers.NewConv2D(b.In("bad"), layers.Conv2DConfig{In: 3, Out: 0})
	fmt.Println(err != nil)
	// Output:
	// (8, 32, 112, 112)
	// stem/weight (32, 3, 3, 3) decay: true
	// stem/bias (32) decay: false
	// true
}

// A 1×1 convolution mixes channels at every pixel: with all-ones weights
// each output is the sum of the input channels there.
func ExampleNewPointwiseConv2D() {
	g := G.NewGraph()
	store, _ := layers.NewStore(tensor.Float32, 1)
	b := layers.NewBuilder(g, store)
	pw, err := layers.NewPointwiseConv2D(b.In("pw"), layers.PointwiseConfig{In: 2, Out: 3})
	if err != nil {
		log.Fatal(err)
	}
	w := store.Var("pw/weight")
	fmt.Println(w.Value.Shape())
	for i := range w.Value.Data().([]float32) {
		w.Value.Data().([]float32)[i] = 1
	}
	// One sample, two channels of 1×2 pixels: channel 0 is (1, 2), channel 1 is (10, 20).
	x := constant(g, "x", []float32{1, 2, 10, 20}, 1, 2, 1, 2)
	y := G.Must(pw.Fwd(x))
	fmt.Println(y.Shape(), run(g, y))
	// Output:
	// (3, 2, 1, 1)
	// (1, 3, 1, 2) [11 22 11 22 11 22]
}

// BatchNorm normalises with the batch's statistics in training mode and
// moves its running statistics towards them (by Momentum); in inference mode
// it normalises with the running statistics, which stay as they are.
func ExampleNewBatchNorm() {
	store, _ := layers.NewStore(tensor.Float32, 1)
	// One channel, four samples of one pixel: mean 5, variance 5.
	in := []float32{2, 4, 6, 8}
	forward := func() []float32 {
		g := G.NewGraph()
		b := layers.NewBuilder(g, store)
		bn, err := layers.NewBatchNorm(b.In("bn"), layers.BatchNormConfig{Channels: 1, Momentum: 0.1})
		if err != nil {
			log.Fatal(err)
		}
		return run(g, G.Must(bn.Fwd(constant(g, "x", append([]float32(nil), in...), 4, 1, 1, 1))))
	}
	fmt.Printf("training:  %.3f\n", forward())
	fmt.Printf("running mean %.2f, variance %.3f\n", store.Var("bn/running_mean").Float32s(), store.Var("bn/running_var").Float32s())
	store.Mode().SetTraining(false)
	fmt.Printf("inference: %.3f\n", forward())
	// Output:
	// training:  [-1.342 -0.447 0.447 1.342]
	// running mean [0.50], variance [1.567]
	// inference: [1.198 2.796 4.394 5.992]
}

// A depthwise-separable block, MobileNet's unit: its variables, and the
// output of a stride-2 block.
func ExampleNewSeparableBlock() {
	g := G.NewGraph()
	store, _ := layers.NewStore(tensor.Float32, 1)
	b := layers.NewBuilder(g, store)
	cfg := layers.DefaultSeparableConfig(32, 64)
	cfg.Stride = 2
	block, err := layers.NewSeparableBlock(b.In("block2"), cfg)
	if err != nil {
		log.Fatal(err)
	}
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(16, 32, 32, 32), G.WithName("x"))
	y := G.Must(block.Fwd(x))
	fmt.Println(y.Shape(), len(block.Learnables()), "learnable tensors")
	for _, v := range store.Vars() {
		fmt.Println(v.Name, v.Value.Shape(), v.Learnable)
	}
	// Output:
	// (16, 64, 16, 16) 6 learnable tensors
	// block2/dw/weight (32, 1, 3, 3) true
	// block2/dw/bn/scale (32) true
	// block2/dw/bn/bias (32) true
	// block2/dw/bn/running_mean (32) false
	// block2/dw/bn/running_var (32) false
	// block2/pw/weight (64, 32, 1, 1) true
	// block2/pw/bn/scale (64) true
	// block2/pw/bn/bias (64) true
	// block2/pw/bn/running_mean (64) false
	// block2/pw/bn/running_var (64) false
}

// A classifier head: global average pooling, then a dense layer from 64
// features to 10 classes. The weight is (out, in), as PyTorch's nn.Linear.
func ExampleNewDense() {
	g := G.NewGraph()
	store, _ := layers.NewStore(tensor.Float32, 1)
	b := layers.NewBuilder(g, store)
	fc, err := layers.NewDense(b.In("fc"), layers.DefaultDenseConfig(64, 10))
	if err != nil {
		log.Fatal(err)
	}
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(5, 64, 4, 4), G.WithName("features"))
	logits := G.Must(fc.Fwd(G.Must(layers.GlobalAvgPool(x))))
	fmt.Println(logits.Shape(), store.Var("fc/weight").Value.Shape(), store.Var("fc/bias").Value.Shape())
	// Output:
	// (5, 10) (10, 64) (10)
}

// Sequential chains layers, Keras-style; it is itself a Layer. A nil layer
// (what an ignored constructor error leaves) is refused.
func ExampleNewSequential() {
	g := G.NewGraph()
	store, _ := layers.NewStore(tensor.Float32, 1)
	b := layers.NewBuilder(g, store)
	conv, _ := layers.NewConv2D(b.In("conv"), layers.Conv2DConfig{In: 3, Out: 8})
	bn, _ := layers.NewBatchNorm(b.In("conv/bn"), layers.BatchNormConfig{Channels: 8, Momentum: 0.1, Epsilon: 1e-5, Activation: layers.ReLU6})
	fc, _ := layers.NewDense(b.In("fc"), layers.DefaultDenseConfig(8, 2))
	net, err := layers.NewSequential(conv, bn, layers.GlobalAvgPooling{}, fc)
	if err != nil {
		log.Fatal(err)
	}
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(2, 3, 16, 16), G.WithName("x"))
	y, err := net.Fwd(x)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(y.Shape(), len(net.Learnables()), "learnable tensors")
	var missing *layers.Dense
	_, err = layers.NewSequential(conv, missing)
	fmt.Println(err)
	// Output:
	// (2, 2) 5 learnable tensors
	// sequential: layer 1 is nil
}

// Dropout is active in training mode only; in inference mode it passes its
// input through.
func ExampleNewDropout() {
	store, _ := layers.NewStore(tensor.Float32, 1)
	store.Mode().SetTraining(false)
	g := G.NewGraph()
	b := layers.NewBuilder(g, store)
	drop, err := layers.NewDropout(b.In("drop"), layers.DropoutConfig{Rate: 0.5})
	if err != nil {
		log.Fatal(err)
	}
	y := G.Must(drop.Fwd(constant(g, "x", []float32{1, 2, 3, 4}, 4)))
	fmt.Println(drop.Rate(), run(g, y))
	// Output:
	// 0.5 [1 2 3 4]
}

// The activations on their own, element by element.
func ExampleActivate() {
	for _, a := range []layers.Activation{layers.Linear, layers.ReLU, layers.ReLU6} {
		g := G.NewGraph()
		y := G.Must(layers.Activate(constant(g, "x", []float32{-2, 0.5, 7}, 3), a))
		fmt.Println(a, run(g, y))
	}
	// Output:
	// linear [-2 0.5 7]
	// relu [0 0.5 7]
	// relu6 [0 0.5 6]
}

// The loss of logits (0, 0) is log 2 whatever the label; confident right
// logits cost little, confident wrong ones much; the loss is the batch mean. Softmax gives the class
// probabilities, and LogSumExp the same log-normaliser on a plain slice.
func ExampleSoftmaxCrossEntropy() {
	g := G.NewGraph()
	logits := constant(g, "logits", []float32{0, 0, 5, 0, 0, 5}, 3, 2)
	onehot := constant(g, "labels", []float32{1, 0, 1, 0, 1, 0}, 3, 2)
	loss := G.Must(layers.SoftmaxCrossEntropy(logits, onehot))
	probs := G.Must(layers.Softmax(logits))
	fmt.Printf("loss %.4f\n", run(g, loss))
	fmt.Printf("probabilities %.4f\n", run(g, probs))
	// The mean of the rows' losses, LogSumExp(row) − row[label]:
	for _, row := range [][]float64{{0, 0}, {5, 0}, {0, 5}} {
		fmt.Printf("%.4f ", layers.LogSumExp(row)-row[0])
	}
	fmt.Println()
	// Output:
	// loss [1.9022]
	// probabilities [0.5000 0.5000 0.9933 0.0067 0.0067 0.9933]
	// 0.6931 0.0067 5.0067
}

// Global average pooling: one mean per sample and channel.
func ExampleGlobalAvgPool() {
	g := G.NewGraph()
	// Two samples, one channel of 2×2 pixels each.
	x := constant(g, "x", []float32{1, 2, 3, 4, 10, 10, 10, 30}, 2, 1, 2, 2)
	fmt.Println(run(g, G.Must(layers.GlobalAvgPool(x))))
	// Output:
	// [2.5 15]
}

// Float32s reads any node's value as float32s, converting float64 ones.
func ExampleFloat32s() {
	g := G.NewGraph()
	n := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 2), G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{0.5, 1, 1.5, 2}))))
	vals, shape, err := layers.Float32s(n)
	fmt.Println(vals, shape, err)
	// Output:
	// [0.5 1 1.5 2] (2, 2) <nil>
}

// Same() pads as TensorFlow's "SAME"; Pad(n) as PyTorch's padding=n. Pads
// resolves either for an input size, kernel and stride.
func ExamplePadding_Pads() {
	for _, p := range []layers.Padding{layers.Same(), layers.Pad(1), layers.PadHW(0, 2)} {
		t, bo, l, r := p.Pads(32, 32, 3, 3, 2, 2)
		fmt.Printf("%v: top %d bottom %d left %d right %d\n", p, t, bo, l, r)
	}
	t, bo, l, r := layers.Same().Pads(32, 32, 2, 2, 2, 2) // an even kernel
	fmt.Println("same, 2×2 kernel:", t, bo, l, r)
	// Output:
	// same: top 0 bottom 1 left 0 right 1
	// pad(1,1,1,1): top 1 bottom 1 left 1 right 1
	// pad(0,0,2,2): top 0 bottom 0 left 2 right 2
	// same, 2×2 kernel: 0 0 0 0
}

// The flag parsers behind cmd/train's --weight-init and --depthwise.
func ExampleParseInit() {
	i, err := layers.ParseInit("he")
	fmt.Println(i, err)
	_, err = layers.ParseInit("xavier")
	fmt.Println(err)
	d, err := layers.ParseDepthwiseImpl("perchannel")
	fmt.Println(d, err)
	// Output:
	// he <nil>
	// unknown weight initialisation "xavier" (want uniform or he)
	// perchannel <nil>
}

// Variable names are paths; a scope holds itself and what lies under it.
func ExampleInScope() {
	for _, name := range []string{"block3/pw/weight", "block3", "block30/pw/weight", "fc/bias"} {
		fmt.Println(name, layers.InScope(name, "block3"))
	}
	// Output:
	// block3/pw/weight true
	// block3 true
	// block30/pw/weight false
	// fc/bias false
}

// FoldsInto finds the conv + BatchNorm pairs of a sequence, which an
// inference builder or exporter turns into one folded op each.
func ExampleFoldsInto() {
	g := G.NewGraph()
	store, _ := layers.NewStore(tensor.Float32, 1)
	b := layers.NewBuilder(g, store)
	conv, _ := layers.NewConv2D(b.In("conv"), layers.Conv2DConfig{In: 3, Out: 8})
	bn, _ := layers.NewBatchNorm(b.In("conv/bn"), layers.DefaultBatchNormConfig(8))
	fc, _ := layers.NewDense(b.In("fc"), layers.DefaultDenseConfig(8, 2))
	seq := []layers.Layer{conv, bn, layers.GlobalAvgPooling{}, fc}
	for i := range seq {
		if into, ok := layers.FoldsInto(seq, i); ok {
			fmt.Printf("layer %d folds %s\n", i, into.Name())
		}
	}
	// Output:
	// layer 0 folds batchnorm conv/bn
}

// Kernels names the hand-written kernel tier this CPU runs (the output
// depends on the machine: "avx512-amx", "avx512-bf16", "avx512", "avx2"
// or "go").
func ExampleKernels() {
	fmt.Println(layers.Kernels())
}

// ConvSpecOf reads a convolution without a graph, and FoldConv folds the
// BatchNorm after it into its weights, as exporters and inference plans
// do: here scale 2 over a running variance of 1 (ε 0) doubles the
// weights, and the shift and mean give the bias (shift − a·mean).
func ExampleFoldConv() {
	store, _ := layers.NewStore(tensor.Float32, 1)
	b := layers.NewBuilder(G.NewGraph(), store)
	conv, _ := layers.NewPointwiseConv2D(b.In("pw"), layers.PointwiseConfig{In: 2, Out: 1})
	bn, _ := layers.NewBatchNorm(b.In("pw/bn"), layers.BatchNormConfig{Channels: 1, Epsilon: 0})
	copy(store.Var("pw/weight").Value.Data().([]float32), []float32{1, -3})
	store.Var("pw/bn/scale").Value.Data().([]float32)[0] = 2
	store.Var("pw/bn/bias").Value.Data().([]float32)[0] = 1
	store.Var("pw/bn/running_mean").Value.Data().([]float32)[0] = 0.5
	spec, err := layers.ConvSpecOf(conv)
	if err != nil {
		log.Fatal(err)
	}
	w, bias, err := layers.FoldConv(spec, bn)
	fmt.Println(spec.Name, spec.In, spec.Out, spec.Kernel, spec.Weight)
	fmt.Println(w, bias, err)
	// Output:
	// pointwise conv pw 2 1 1 [1 -3]
	// [2 -6] [0] <nil>
}

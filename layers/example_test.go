package layers_test

import (
	"fmt"
	"log"
	"math/rand/v2"

	"github.com/gomobilenet/mobilenet/layers"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// A small classifier that is not MobileNet, built from the layers and trained
// for a few steps of plain SGD on synthetic data: is the left or the right
// the first or the second colour channel brighter?
func Example() {
	const n, c, h, w, classes = 16, 3, 8, 8, 2
	g := G.NewGraph()
	store, err := layers.NewStore(tensor.Float32, 1)
	if err != nil {
		log.Fatal(err)
	}
	b := layers.NewBuilder(g, store)

	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(n, c, h, w), G.WithName("images"))
	y := G.NewMatrix(g, tensor.Float32, G.WithShape(n, classes), G.WithName("labels"))

	stem, err := layers.NewConv2D(b.In("stem"), layers.Conv2DConfig{In: c, Out: 8, NoInputGrad: true})
	if err != nil {
		log.Fatal(err)
	}
	bn, _ := layers.NewBatchNorm(b.In("stem/bn"), layers.BatchNormConfig{Channels: 8, Momentum: 0.1, Epsilon: 1e-5, Activation: layers.ReLU})
	sep := layers.DefaultSeparableConfig(8, 16)
	sep.Stride = 2
	block, _ := layers.NewSeparableBlock(b.In("block1"), sep)
	fc, _ := layers.NewDense(b.In("fc"), layers.DefaultDenseConfig(16, classes))

	h1 := G.Must(stem.Fwd(x))
	h1 = G.Must(bn.Fwd(h1))
	h1 = G.Must(block.Fwd(h1))
	h1 = G.Must(layers.GlobalAvgPool(h1))
	logits := G.Must(fc.Fwd(h1))
	loss := G.Must(layers.SoftmaxCrossEntropy(logits, y))

	params := b.Learnables()
	if _, err := G.Grad(loss, params...); err != nil {
		log.Fatal(err)
	}
	var lossVal G.Value
	G.Read(loss, &lossVal)
	vm := G.NewTapeMachine(g, G.BindDualValues(params...))
	defer vm.Close()

	rng := rand.New(rand.NewPCG(1, 2))
	batch := func() (*tensor.Dense, *tensor.Dense) {
		xs := make([]float32, n*c*h*w)
		ys := make([]float32, n*classes)
		for i := 0; i < n; i++ {
			label := rng.IntN(2)
			ys[i*classes+label] = 1
			for j := 0; j < c*h*w; j++ {
				v := float32(rng.NormFloat64())
				if j/(h*w) == label {
					v += 1 // the brighter channel
				}
				xs[i*c*h*w+j] = v
			}
		}
		return tensor.New(tensor.WithShape(n, c, h, w), tensor.WithBacking(xs)), tensor.New(tensor.WithShape(n, classes), tensor.WithBacking(ys))
	}

	var first, last float32
	for step := 0; step < 30; step++ {
		xb, yb := batch()
		G.Let(x, xb)
		G.Let(y, yb)
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			log.Fatal(err)
		}
		// Plain SGD: w -= 0.1·grad, then clear the accumulated gradient.
		for _, p := range params {
			gv, _ := p.Grad()
			wd, gd := p.Value().Data().([]float32), gv.Data().([]float32)
			for i := range wd {
				wd[i] -= 0.1 * gd[i]
			}
			gv.(*tensor.Dense).Zero()
		}
		l := float32(*lossVal.(*G.F32))
		if step == 0 {
			first = l
		}
		last = l
	}
	fmt.Println("variables:", len(store.Vars()), "learnable:", len(params))
	fmt.Println("loss went down:", last < first/2)
	// Output:
	// variables: 17 learnable: 11
	// loss went down: true
}

// A depthwise convolution with depth multiplier 2 and stride 2: each of the
// 8 input channels gets two 3×3 kernels.
func ExampleNewDepthwiseConv2D() {
	g := G.NewGraph()
	store, _ := layers.NewStore(tensor.Float32, 1)
	b := layers.NewBuilder(g, store)
	dw, err := layers.NewDepthwiseConv2D(b.In("dw"), layers.DepthwiseConfig{Channels: 8, Multiplier: 2, Stride: 2, Padding: layers.Pad(1)})
	if err != nil {
		log.Fatal(err)
	}
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(4, 8, 15, 16), G.WithName("x"))
	y, err := dw.Fwd(x)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(y.Shape(), store.Var("dw/weight").Value.Shape())
	_, err = dw.Fwd(G.NewTensor(g, tensor.Float32, 4, G.WithShape(4, 3, 15, 16), G.WithName("bad")))
	fmt.Println(err)
	// Output:
	// (4, 16, 8, 8) (16, 1, 3, 3)
	// depthwise conv dw: input shape (4, 3, 15, 16) has 3 channels, layer expects 8
}

// An inference graph with each BatchNorm folded into the convolution before
// it: the same outputs as conv then BatchNorm in inference mode, in one
// pass.
func ExampleFoldBatchNorm() {
	store, _ := layers.NewStore(tensor.Float32, 1)
	build := func(fold bool) []float32 {
		g := G.NewGraph()
		b := layers.NewBuilder(g, store)
		conv, _ := layers.NewPointwiseConv2D(b.In("pw"), layers.PointwiseConfig{In: 3, Out: 4})
		bn, _ := layers.NewBatchNorm(b.In("pw/bn"), layers.BatchNormConfig{Channels: 4, Momentum: 0.1, Epsilon: 1e-5, Activation: layers.ReLU})
		img := make([]float32, 2*3*8*8)
		for i := range img {
			img[i] = float32(i%13) / 13
		}
		x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(2, 3, 8, 8), G.WithValue(tensor.New(tensor.WithShape(2, 3, 8, 8), tensor.WithBacking(img))))
		var y *G.Node
		if fold {
			y = G.Must(layers.FoldBatchNorm(conv, bn, x))
		} else {
			y = G.Must(bn.Fwd(G.Must(conv.Fwd(x))))
		}
		var v G.Value
		G.Read(y, &v)
		vm := G.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			log.Fatal(err)
		}
		return v.Data().([]float32)
	}
	store.Mode().SetTraining(false) // BatchNorm on its running statistics
	plain, folded := build(false), build(true)
	worst := 0.0
	for i := range plain {
		worst = max(worst, float64(abs(plain[i]-folded[i])))
	}
	fmt.Println(len(folded), "outputs, largest difference below 1e-5:", worst < 1e-5)
	// Output: 512 outputs, largest difference below 1e-5: true
}

func abs(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// The loss of a batch from integer class labels, as PyTorch's
// CrossEntropyLoss takes them: no one-hot matrix to build.
func ExampleSoftmaxCrossEntropyLabels() {
	g := G.NewGraph()
	logits := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 3), G.WithName("logits"),
		G.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{2, 0, 0, 0, 0, 0}))))
	labels := G.NewVector(g, tensor.Float32, G.WithShape(2), G.WithName("labels"), G.WithValue(layers.Labels(tensor.Float32, []int{0, 2})))
	loss, err := layers.SoftmaxCrossEntropyLabels(logits, labels)
	if err != nil {
		log.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%.4f\n", loss.Value().Data()) // (−log(e²/(e²+2)) − log(1/3)) / 2
	// Output:
	// 0.6691
}

package layers_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/gomobilenet/mobilenet/layers"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// residual is a ResNet basic block built from the layers: conv-BN-ReLU,
// conv-BN, the input added back, ReLU.
type residual struct {
	body *layers.Sequential
}

func newResidual(b *layers.Builder, ch int) (*residual, error) {
	conv1, err := layers.NewConv2D(b.In("conv1"), layers.Conv2DConfig{In: ch, Out: ch, Kernel: 3})
	if err != nil {
		return nil, err
	}
	bn1c := layers.DefaultBatchNormConfig(ch)
	bn1c.Activation = layers.ReLU
	bn1, err := layers.NewBatchNorm(b.In("conv1/bn"), bn1c)
	if err != nil {
		return nil, err
	}
	conv2, err := layers.NewConv2D(b.In("conv2"), layers.Conv2DConfig{In: ch, Out: ch, Kernel: 3})
	if err != nil {
		return nil, err
	}
	bn2, err := layers.NewBatchNorm(b.In("conv2/bn"), layers.DefaultBatchNormConfig(ch))
	if err != nil {
		return nil, err
	}
	body, err := layers.NewSequential(conv1, bn1, conv2, bn2)
	if err != nil {
		return nil, err
	}
	return &residual{body: body}, nil
}

func (r *residual) Fwd(x *G.Node) (*G.Node, error) {
	y, err := r.body.Fwd(x)
	if err != nil {
		return nil, err
	}
	sum, err := G.Add(y, x)
	if err != nil {
		return nil, err
	}
	return layers.Activate(sum, layers.ReLU)
}

func (r *residual) Learnables() G.Nodes { return r.body.Learnables() }

// A small ResNet-style network (stem, two residual blocks, a grouped 1×1
// convolution as in ShuffleNet, pooling, classifier) built from the
// layers and trained for a few steps with one of Gorgonia's solvers.
func Example_residualNetwork() {
	const n, classes = 16, 3
	g := G.NewGraph()
	store, _ := layers.NewStore(tensor.Float32, 7)
	b := layers.NewBuilder(g, store)
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(n, 3, 8, 8), G.WithName("x"))
	y := G.NewMatrix(g, tensor.Float32, G.WithShape(n, classes), G.WithName("y"))

	stem, _ := layers.NewConv2D(b.In("stem"), layers.Conv2DConfig{In: 3, Out: 8, NoInputGrad: true})
	block1, _ := newResidual(b.In("res1"), 8)
	block2, _ := newResidual(b.In("res2"), 8)
	grouped, _ := layers.NewPointwiseConv2D(b.In("mix"), layers.PointwiseConfig{In: 8, Out: 8, Groups: 2})
	fc, _ := layers.NewDense(b.In("fc"), layers.DefaultDenseConfig(8, classes))
	net, err := layers.NewSequential(stem, block1, block2, grouped, layers.GlobalAvgPooling{}, fc)
	if err != nil {
		log.Fatal(err)
	}
	logits, err := net.Fwd(x)
	if err != nil {
		log.Fatal(err)
	}
	loss := G.Must(layers.SoftmaxCrossEntropy(logits, y))
	if _, err := G.Grad(loss, b.Learnables()...); err != nil {
		log.Fatal(err)
	}
	var lv G.Value
	G.Read(loss, &lv)
	vm := G.NewTapeMachine(g, G.BindDualValues(b.Learnables()...))
	defer vm.Close()
	solver := G.NewMomentum(G.WithLearnRate(0.05))

	r := rand.New(rand.NewPCG(1, 1))
	xs, ys := make([]float32, n*3*64), make([]float32, n*classes)
	for i := 0; i < n; i++ { // the class is the brightest channel
		ys[i*classes+i%classes] = 1
		for j := 0; j < 3*64; j++ {
			xs[i*3*64+j] = float32(r.NormFloat64())
			if j/64 == i%classes {
				xs[i*3*64+j] += 1.5
			}
		}
	}
	G.Let(x, tensor.New(tensor.WithShape(n, 3, 8, 8), tensor.WithBacking(xs)))
	G.Let(y, tensor.New(tensor.WithShape(n, classes), tensor.WithBacking(ys)))
	var first, last float32
	for step := 0; step < 20; step++ {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			log.Fatal(err)
		}
		// Op outputs are buffers reused by the next run: read values now.
		if l := lv.Data().(float32); step == 0 {
			first = l
		} else {
			last = l
		}
		if err := solver.Step(G.NodesToValueGrads(b.Learnables())); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("parameters:", store.NumParams())
	fmt.Println("loss fell by more than half:", last < first/2)
	// Output:
	// parameters: 2643
	// loss fell by more than half: true
}

// Freezing a scope for transfer learning: the body's parameters leave
// Learnables (gradients and solvers skip them) and its BatchNorms
// normalise with their running statistics, which stay as they are.
func ExampleStore_SetTrainable() {
	store, _ := layers.NewStore(tensor.Float32, 1)
	build := func() *layers.Builder {
		b := layers.NewBuilder(G.NewGraph(), store)
		layers.NewConv2D(b.In("body/conv"), layers.Conv2DConfig{In: 3, Out: 4})
		layers.NewBatchNorm(b.In("body/conv/bn"), layers.DefaultBatchNormConfig(4))
		layers.NewDense(b.In("head"), layers.DefaultDenseConfig(4, 2))
		return b
	}
	build()
	n, err := store.SetTrainable("body", false)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("frozen:", n)
	for _, v := range build().LearnableVars() { // a graph built after freezing
		fmt.Println("trains:", v.Name)
	}
	// Output:
	// frozen: 3
	// trains: head/weight
	// trains: head/bias
}

// Saving a Store and loading it by name into another, with the model's
// configuration as metadata; a model with another classifier loads
// everything else and reports the rest.
func ExampleStore_Save() {
	dir, _ := os.MkdirTemp("", "store")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.bin")
	model := func(seed uint64, classes int) *layers.Store {
		s, _ := layers.NewStore(tensor.Float32, seed)
		b := layers.NewBuilder(G.NewGraph(), s)
		layers.NewConv2D(b.In("conv"), layers.Conv2DConfig{In: 3, Out: 4})
		layers.NewDense(b.In("fc"), layers.DefaultDenseConfig(4, classes))
		return s
	}
	if err := model(1, 10).Save(path, map[string]int{"classes": 10}); err != nil {
		fmt.Println("error:", err)
		return
	}
	hdr, rep, err := model(2, 10).Load(path, layers.LoadOptions{})
	var meta struct{ Classes int }
	json.Unmarshal(hdr, &meta)
	fmt.Printf("loaded %d variables, %d classes, error %v\n", len(rep.Loaded), meta.Classes, err)

	_, _, err = model(2, 5).Load(path, layers.LoadOptions{})
	var mismatch *layers.LoadError
	if errors.As(err, &mismatch) {
		fmt.Println(mismatch)
	}
	_, rep, _ = model(2, 5).Load(path, layers.LoadOptions{Skip: []string{"fc"}})
	fmt.Println("fine-tuning loads", rep.Loaded, "and keeps", rep.Skipped)
	// Output:
	// loaded 3 variables, 10 classes, error <nil>
	// the checkpoint does not match the model: mis-shaped fc/weight: (10, 4) in the checkpoint, (5, 4) here (and 1 more)
	// fine-tuning loads [conv/weight] and keeps [fc/weight fc/bias]
}

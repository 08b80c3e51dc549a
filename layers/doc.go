// Package layers provides Gorgonia graph layers for convolutional networks,
// MobileNet's among them: standard, grouped, depthwise (fused op or
// per-channel graph build) and pointwise convolution, BatchNorm with a
// fused activation, ReLU/ReLU6, the depthwise-separable block, global
// average pooling, dense, dropout, softmax cross-entropy, and Sequential
// to chain them.
//
// Every layer is an ordinary Gorgonia subgraph: gorgonia.Grad differentiates
// it and a TapeMachine runs it, so the layers mix with any other Gorgonia
// code (a residual connection is a gorgonia.Add). The heavy layers are
// custom ops with their own backward ops (each checked against finite
// differences), computed in float32 or float64, parallel over the cores,
// with matrix products through package blas. On amd64 the float32 hot loops
// run as Go assembly (no cgo) at the CPU's best tier; Kernels reports which.
//
// Variables live in a Store, by hierarchical name ("block3/pw/bn/scale"); a
// Builder adds layers to one graph under a name scope (Builder.In). Several
// graphs built over one Store share every variable, which is how a training
// graph and an inference graph of another batch size use the same weights;
// within one graph a variable belongs to one layer unless Builder.Reuse
// asks for sharing. The Store's Mode switches every BatchNorm and Dropout
// between training and inference at once, without touching the running
// statistics. Store.SetTrainable freezes a scope for transfer learning (its
// BatchNorms then stay on their running statistics), and Store.Save and
// Store.Load write and read the variables by name (package checkpoint's
// format), reporting missing, extra and mis-shaped names.
//
// Configurations: fields whose zero value is not a size (a kernel size, a
// stride, a group count, a depth multiplier) take the default documented on
// the field when zero; every other field means what it says, zero included
// (BatchNorm momentum 0 keeps the running statistics, activation zero is
// Linear, Bias false is no bias). The Default…Config constructors give the
// usual values (PyTorch's BatchNorm, MobileNet's block, a biased Dense).
// Weights start as PyTorch's (Init's zero value); HeNormal is
// torchvision's MobileNet initialisation.
//
// Op outputs are buffers that each run of the graph reuses: a value read
// with gorgonia.Read, or a node's Value, is overwritten by the next run;
// copy what must outlive it.
//
// Typical use:
//
//	g := gorgonia.NewGraph()
//	store, _ := layers.NewStore(tensor.Float32, seed)
//	b := layers.NewBuilder(g, store)
//	conv, _ := layers.NewConv2D(b.In("stem"), layers.Conv2DConfig{In: 3, Out: 32})
//	bn, _ := layers.NewBatchNorm(b.In("stem/bn"), layers.DefaultBatchNormConfig(32))
//	blk, _ := layers.NewSeparableBlock(b.In("block1"), layers.DefaultSeparableConfig(32, 64))
//	net, _ := layers.NewSequential(conv, bn, blk, layers.GlobalAvgPooling{})
//	y, _ := net.Fwd(x)
//	gorgonia.Grad(loss, b.Learnables()...)
//
// Layers return errors, naming the layer and the shapes, for bad
// configurations and inputs; they do not panic.
package layers

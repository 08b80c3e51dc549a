// Package layers provides Gorgonia graph layers for convolutional networks,
// MobileNet's among them: depthwise convolution (fused op or per-channel
// graph build), pointwise and standard convolution, BatchNorm with a fused
// activation, ReLU/ReLU6, the depthwise-separable block, global average
// pooling, dense, dropout and softmax cross-entropy.
//
// Every layer is an ordinary Gorgonia subgraph: gorgonia.Grad differentiates
// it and a TapeMachine runs it, so the layers mix with any other Gorgonia
// code. The heavy layers are custom ops with their own backward ops, computed
// in float32 or float64, parallel over the cores, with matrix products through
// package blas. On amd64 CPUs with AVX2 and FMA the float32 BatchNorm + ReLU
// loops and the 3×3 depthwise kernels (stride 1 and 2) run as Go assembly
// (no cgo); other CPUs, and builds with -tags purego, run the plain Go
// kernels. Kernels reports which.
//
// Variables live in a Store, by hierarchical name ("block3/pw/bn/scale"); a
// Builder adds layers to one graph under a name scope (Builder.In). Several
// graphs built over one Store share every variable, which is how a training
// graph and an inference graph of another batch size use the same weights.
// The Store's Mode switches every BatchNorm and Dropout of the model between
// training and inference at once, without touching the running statistics.
//
// Typical use:
//
//	g := gorgonia.NewGraph()
//	store, _ := layers.NewStore(tensor.Float32, seed)
//	b := layers.NewBuilder(g, store)
//	conv, _ := layers.NewConv2D(b.In("stem"), layers.Conv2DConfig{In: 3, Out: 32})
//	bn, _ := layers.NewBatchNorm(b.In("stem/bn"), layers.BatchNormConfig{Channels: 32, Activation: layers.ReLU})
//	blk, _ := layers.NewSeparableBlock(b.In("block1"), layers.SeparableConfig{In: 32, Out: 64})
//	y, _ := conv.Fwd(x) // then bn.Fwd(y), blk.Fwd(y), …
//	gorgonia.Grad(loss, b.Learnables()...)
//
// Layers return errors, naming the layer and the shapes, for bad
// configurations and inputs; they do not panic.
package layers

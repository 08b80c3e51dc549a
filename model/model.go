package model

import (
	"errors"
	"fmt"

	"github.com/gomobilenet/mobilenet/layers"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Options are the choices that do not change the network's function.
type Options struct {
	Seed      uint64               // initialises the weights
	Dtype     tensor.Dtype         // float32 (the zero value) or float64
	Depthwise layers.DepthwiseImpl // depthwise implementation (default fused)
	Init      layers.Init          // weight initialisation (the zero value is PyTorch's default)
	Precision layers.Precision     // of the matrix products (FP32, the zero value, or BF16: layers.Precision)
}

// Model is a MobileNet's configuration and variables. Graphs built from it
// (Build) share the variables, so a training graph and an inference graph
// always use the same weights and BatchNorm statistics.
type Model struct {
	Config Config
	Store  *layers.Store
	opts   Options
}

// New creates a model with freshly initialised variables.
func New(cfg Config, opts Options) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if opts.Dtype == (tensor.Dtype{}) {
		opts.Dtype = tensor.Float32
	}
	s, err := layers.NewStore(opts.Dtype, opts.Seed)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	s.SetPrecision(opts.Precision)
	m := &Model{Config: cfg, Store: s, opts: opts}
	// Build once on a throwaway graph so every variable exists (and is
	// initialised in a fixed order) before anything else touches the Store.
	if _, err := m.Build(G.NewGraph(), 1); err != nil {
		return nil, err
	}
	return m, nil
}

// SetTraining switches every BatchNorm and Dropout of every graph built
// from the model.
func (m *Model) SetTraining(on bool) { m.Store.Mode().SetTraining(on) }

// Net is one graph of a model, for a fixed batch size: its input (batch,
// 3, R, R), logits (batch, classes) and Builder.
type Net = layers.Net

// The layers.Network a Model is, for package train.

// VarStore is the model's Store.
func (m *Model) VarStore() *layers.Store { return m.Store }

// BuildNet is Build, or BuildInference when inference.
func (m *Model) BuildNet(g *G.ExprGraph, batch int, inference bool) (*Net, error) {
	return m.build(g, batch, inference)
}

// AtResolution returns the model for r×r inputs: the same variables (its
// Store: weights and BatchNorm statistics, shared, not copied), so that
// what one trains the other uses. A MobileNet's variables do not depend on
// its input size (global average pooling before the classifier); the
// graphs the two build differ only in their activations' sizes.
// Progressive resizing trains early epochs through it (package train).
func (m *Model) AtResolution(r int) (*Model, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	v := *m
	v.Config.Resolution = r
	if err := v.Config.Validate(); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return &v, nil
}

// InputShape is (3, Resolution, Resolution).
func (m *Model) InputShape() [3]int { return [3]int{3, m.Config.Resolution, m.Config.Resolution} }

// Classes is the configuration's class count.
func (m *Model) Classes() int { return m.Config.Classes }

var _ layers.Network = (*Model)(nil)

// Build adds the network to g for inputs of the given batch size.
func (m *Model) Build(g *G.ExprGraph, batch int) (*Net, error) { return m.build(g, batch, false) }

// BuildInference adds the network to g for inference only: every BatchNorm
// is folded into the convolution before it (layers.FoldBatchNorm), which
// saves a pass over every activation. It computes what Build's graph does
// in inference mode (to float32 rounding), from the same variables, and has
// no gradient.
func (m *Model) BuildInference(g *G.ExprGraph, batch int) (*Net, error) {
	return m.build(g, batch, true)
}

// check reports a Model that New did not make: nil, without a Store, or
// with a Config changed into an invalid one.
func (m *Model) check() error {
	if m == nil || m.Store == nil {
		return errors.New("model: none (nil, or not made by model.New)")
	}
	if err := m.Config.Validate(); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	return nil
}

func (m *Model) build(g *G.ExprGraph, batch int, fold bool) (*Net, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	if g == nil {
		return nil, errors.New("model: no graph (nil)")
	}
	if batch <= 0 {
		return nil, fmt.Errorf("model: batch size %d: must be positive", batch)
	}
	c := m.Config
	b := layers.NewBuilder(g, m.Store)
	ls, err := m.layers(b)
	if err != nil {
		return nil, err
	}
	r := c.Resolution
	x := G.NewTensor(g, m.Store.Dtype(), 4, G.WithShape(batch, 3, r, r), G.WithName("input"))
	h := x
	for i := 0; i < len(ls); i++ {
		l := ls[i]
		if fold {
			if bn, ok := layers.FoldsInto(ls, i); ok {
				if h, err = layers.FoldBatchNorm(l, bn, h); err != nil {
					return nil, fmt.Errorf("model: %w", err)
				}
				i++
				continue
			}
			if blk, ok := l.(*layers.SeparableBlock); ok {
				if h, err = blk.FwdInference(h); err != nil {
					return nil, fmt.Errorf("model: %w", err)
				}
				continue
			}
		}
		if h, err = l.Fwd(h); err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
	}
	return &Net{Graph: g, Input: x, Logits: h, Builder: b}, nil
}

// Layers lists the network's layers in order (stem convolution, its
// BatchNorm, the thirteen separable blocks, pooling, dropout when
// configured, the classifier) over the model's variables: what exporters
// walk.
func (m *Model) Layers() ([]layers.Layer, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	return m.layers(layers.NewBuilder(G.NewGraph(), m.Store))
}

// ClassifierScope is the scope of the network's classifier (its dense
// layer's variables are fc/weight and fc/bias): what fine-tuning replaces.
const ClassifierScope = "fc"

func (m *Model) layers(b *layers.Builder) ([]layers.Layer, error) {
	c := m.Config
	var ls []layers.Layer
	var err error
	// add appends a layer unless an earlier one failed.
	add := func(l layers.Layer, e error) {
		if err == nil {
			err = e
			ls = append(ls, l)
		}
	}
	stem := c.Channels(stemChannels)
	add(layers.NewConv2D(b.In("stem"), layers.Conv2DConfig{In: 3, Out: stem, Kernel: 3, Stride: c.StemStride, Padding: layers.Pad(1), Init: m.opts.Init, NoInputGrad: true}))
	bn := layers.DefaultBatchNormConfig(stem)
	bn.Activation = layers.ReLU
	add(layers.NewBatchNorm(b.In("stem/bn"), bn))
	in := stem
	strides := c.blockStrides()
	for i, blk := range body {
		out := c.Channels(blk.out)
		sc := layers.DefaultSeparableConfig(in, out)
		sc.Stride, sc.Impl, sc.Init = strides[i], m.opts.Depthwise, m.opts.Init
		add(layers.NewSeparableBlock(b.In(fmt.Sprintf("block%d", i+1)), sc))
		in = out
	}
	add(layers.GlobalAvgPooling{}, nil)
	if c.Dropout > 0 {
		add(layers.NewDropout(b.In("dropout"), layers.DropoutConfig{Rate: c.Dropout}))
	}
	add(layers.NewDense(b.In(ClassifierScope), layers.DenseConfig{In: in, Out: c.Classes, Bias: true, Init: m.opts.Init}))
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return ls, nil
}

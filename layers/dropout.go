package layers

import (
	"fmt"
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"
	"hash/fnv"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Dropout zeroes each element with probability Rate in training mode and
// scales the others by 1/(1−Rate); in inference mode it is the identity.
// Masks come from a generator seeded by the layer's name and a step counter
// kept as the state variable "<scope>/step", so that a run resumed from a
// checkpoint draws the same masks.
type Dropout struct {
	name string
	rate float64
	step *Var
	mode *Mode
	b    *Builder
}

// DropoutConfig configures a Dropout.
type DropoutConfig struct {
	Rate float64 // probability of zeroing an element, in [0, 1); 0 is the identity
}

// NewDropout creates the layer in the Builder's scope.
func NewDropout(b *Builder, cfg DropoutConfig) (*Dropout, error) {
	if err := b.check("dropout"); err != nil {
		return nil, err
	}
	name := "dropout " + b.Scope()
	rate := cfg.Rate
	if rate < 0 || rate >= 1 {
		return nil, fmt.Errorf("%s: rate %g: must be in [0, 1)", name, rate)
	}
	step, err := b.state("step", tensor.Shape{1}, constInit(0))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Dropout{name: name, rate: rate, step: step, mode: b.Mode(), b: b}, nil
}

// Learnables is empty: dropout has no parameters.
func (l *Dropout) Learnables() G.Nodes { return nil }

// Fwd applies the layer to x (any shape).
func (l *Dropout) Fwd(x *G.Node) (*G.Node, error) {
	if err := checkInput(l.name, x); err != nil {
		return nil, err
	}
	if l.rate == 0 {
		return x, nil
	}
	xs := x.Shape().Clone()
	h := fnv.New64a()
	h.Write([]byte(l.b.path("")))
	seed := h.Sum64()
	mask := make([]bool, xs.TotalSize())
	keep := 1 / (1 - l.rate)
	params := fmt.Sprintf("%v %g id%d", xs, l.rate, l.b.nextID())
	training := false
	d := &opSpec{name: "dropoutGrad", params: params, in: []tensor.Shape{xs}, out: xs,
		f32: func(o []float32, in [][]float32) { kernels.ApplyMask(o, in[0], mask, training, keep) },
		f64: func(o []float64, in [][]float64) { kernels.ApplyMask(o, in[0], mask, training, keep) }}
	draw := func() {
		training = l.mode.Training()
		if !training {
			return
		}
		var st float64
		switch v := l.step.Value.Data().(type) {
		case []float32:
			st = float64(v[0])
			v[0]++
		case []float64:
			st = v[0]
			v[0]++
		}
		r := rand.New(rand.NewPCG(seed, uint64(st)))
		for i := range mask {
			mask[i] = r.Float64() >= l.rate
		}
	}
	op := &opSpec{name: "dropout", params: params, in: []tensor.Shape{xs}, out: xs,
		f32:     func(o []float32, in [][]float32) { draw(); kernels.ApplyMask(o, in[0], mask, training, keep) },
		f64:     func(o []float64, in [][]float64) { draw(); kernels.ApplyMask(o, in[0], mask, training, keep) },
		diffWRT: []bool{true},
		symDiff: func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
			g, err := d.apply(grad)
			return G.Nodes{g}, err
		}}
	return op.apply(x)
}

package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func bnBuild(c int, act Activation, cfg func(*BatchNormConfig)) func(b *Builder, x *G.Node) (*G.Node, error) {
	return func(b *Builder, x *G.Node) (*G.Node, error) {
		bc := BatchNormConfig{Channels: c, Momentum: 0.1, Epsilon: 1e-5, Activation: act}
		if cfg != nil {
			cfg(&bc)
		}
		l, err := NewBatchNorm(b.In("bn"), bc)
		if err != nil {
			return nil, err
		}
		// Non-trivial scale and bias, so that their gradients are tested away from 1 and 0.
		r := rand.New(rand.NewPCG(3, 4))
		for _, n := range l.Learnables() {
			for i := range n.Value().Data().([]float64) {
				n.Value().Data().([]float64)[i] = 0.5 + r.Float64()
			}
		}
		return l.Fwd(x)
	}
}

func TestBatchNormGradients(t *testing.T) {
	for _, c := range []struct {
		shape []int
		act   Activation
		train bool
	}{
		{[]int{2, 3, 4, 5}, Linear, true},
		{[]int{1, 2, 3, 3}, ReLU, true},
		{[]int{3, 4, 2, 1}, ReLU6, true},
		{[]int{5, 3}, ReLU, true},
		{[]int{2, 3, 4, 5}, ReLU, false},
	} {
		name := fmt.Sprintf("bn %v %v train=%v", c.shape, c.act, c.train)
		build := bnBuild(c.shape[1], c.act, nil)
		checkGrad(t, gradCase{name: name, xShape: c.shape, build: func(b *Builder, x *G.Node) (*G.Node, error) {
			b.Mode().SetTraining(c.train)
			return build(b, x)
		}}, 30)
	}
}

// TestBatchNormTrainingNormalises checks the training forward against a
// direct computation and the running statistics against the momentum rule.
func TestBatchNormTrainingNormalises(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	const n, c, h, w = 3, 4, 5, 2
	xv := randDense(r, n, c, h, w)
	xd := xv.Data().([]float64)
	for i := range xd {
		xd[i] = 3*xd[i] + 2
	}
	s, _ := NewStore(tensor.Float64, 1)
	var bn *BatchNorm
	build := func(b *Builder, x *G.Node) (*G.Node, error) {
		var err error
		bn, err = NewBatchNorm(b.In("bn"), BatchNormConfig{Channels: c, Momentum: 0.3, Epsilon: 1e-5})
		if err != nil {
			return nil, err
		}
		return bn.Fwd(x)
	}
	y := evalGraph(t, s, xv, build)
	m, v := bn.RunningStats()
	for ch := 0; ch < c; ch++ {
		var vals []float64
		for i := 0; i < n; i++ {
			vals = append(vals, xd[(i*c+ch)*h*w:(i*c+ch+1)*h*w]...)
		}
		mean, varB := meanVar(vals)
		for i := 0; i < n; i++ {
			for p := 0; p < h*w; p++ {
				j := (i*c+ch)*h*w + p
				want := (xd[j] - mean) / math.Sqrt(varB+1e-5)
				if math.Abs(y[j]-want) > 1e-9 {
					t.Fatalf("channel %d: y[%d]=%v, want %v", ch, j, y[j], want)
				}
			}
		}
		cnt := float64(len(vals))
		if got, want := m.Value.Data().([]float64)[ch], 0.3*mean; math.Abs(got-want) > 1e-12 {
			t.Errorf("running mean[%d] = %v, want %v", ch, got, want)
		}
		if got, want := v.Value.Data().([]float64)[ch], 0.7+0.3*varB*cnt/(cnt-1); math.Abs(got-want) > 1e-12 {
			t.Errorf("running var[%d] = %v, want %v", ch, got, want)
		}
	}
	// Inference: the running statistics normalise, and they do not change.
	s.Mode().SetTraining(false)
	before := append([]float64(nil), m.Value.Data().([]float64)...)
	y2 := evalGraph(t, s, xv, build)
	for ch := 0; ch < c; ch++ {
		rm, rv := m.Value.Data().([]float64)[ch], v.Value.Data().([]float64)[ch]
		if rm != before[ch] {
			t.Fatalf("inference changed the running mean")
		}
		j := ch * h * w
		if want := (xd[j] - rm) / math.Sqrt(rv+1e-5); math.Abs(y2[j]-want) > 1e-9 {
			t.Errorf("inference y[%d] = %v, want %v", j, y2[j], want)
		}
	}
	// Back to training: the statistics are kept (unlike gorgonia.BatchNorm).
	s.Mode().SetTraining(true)
	if m.Value.Data().([]float64)[0] != before[0] {
		t.Fatal("switching back to training reset the running mean")
	}
}

func meanVar(v []float64) (float64, float64) {
	var m float64
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	var s float64
	for _, x := range v {
		s += (x - m) * (x - m)
	}
	return m, s / float64(len(v))
}

func TestBatchNormBadConfig(t *testing.T) {
	g := G.NewGraph()
	s, _ := NewStore(tensor.Float32, 1)
	b := NewBuilder(g, s)
	for _, cfg := range []BatchNormConfig{{Channels: 0}, {Channels: 3, Momentum: 2}, {Channels: 3, Epsilon: -1}} {
		if _, err := NewBatchNorm(b.In("x"), cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	l, _ := NewBatchNorm(b.In("ok"), BatchNormConfig{Channels: 3, Momentum: 0.1, Epsilon: 1e-5})
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(2, 4, 3, 3))
	if _, err := l.Fwd(x); err == nil {
		t.Error("wrong channel count: no error")
	}
}

func TestActivationGradients(t *testing.T) {
	for _, a := range []Activation{ReLU, ReLU6} {
		checkGrad(t, gradCase{name: a.String(), xShape: []int{2, 3, 4, 4}, build: func(b *Builder, x *G.Node) (*G.Node, error) {
			x3, err := G.Mul(x, G.NewConstant(4.0)) // spread values past 6
			if err != nil {
				return nil, err
			}
			return Activate(x3, a)
		}}, 40)
	}
}

package layers

import (
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func BenchmarkBNForwardKernel(b *testing.B) {
	n, c, hw := 128, 24, 1024
	x := make([]float32, n*c*hw)
	y := make([]float32, n*c*hw)
	for i := range x {
		x[i] = float32(i%100)/50 - 1
	}
	sc, bi, rm, rv := make([]float32, c), make([]float32, c), make([]float32, c), make([]float32, c)
	for i := range sc {
		sc[i] = 1
	}
	st := &bnState{mean: make([]float64, c), invstd: make([]float64, c), sumDy: make([]float64, c), sumDyXhat: make([]float64, c)}
	k := bnKernel{sc: &scratch{}, n: n, c: c, inner: hw, cfg: BatchNormConfig{Channels: c, Momentum: 0.1, Epsilon: 1e-5, Activation: ReLU}, st: st}
	b.SetBytes(int64(len(x) * 4))
	for i := 0; i < b.N; i++ {
		bnForward(k, true, y, x, sc, bi, rm, rv)
	}
}

func BenchmarkBNGraph(b *testing.B) {
	g := G.NewGraph()
	s, _ := NewStore(tensor.Float32, 1)
	bl := NewBuilder(g, s)
	xv := tensor.New(tensor.WithShape(128, 24, 32, 32), tensor.WithBacking(make([]float32, 128*24*1024)))
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(128, 24, 32, 32), G.WithValue(xv))
	l, _ := NewBatchNorm(bl.In("bn"), BatchNormConfig{Channels: 24, Activation: ReLU})
	y, _ := l.Fwd(x)
	_ = y
	vm := G.NewTapeMachine(g)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		vm.Reset()
		vm.RunAll()
	}
}

package layers

import (
	"fmt"
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BenchmarkBNKernels times BatchNorm + ReLU's training forward and backward
// kernels on MobileNet's plane sizes (batch 128, CIFAR-10 alpha 0.75).
func BenchmarkBNKernels(b *testing.B) {
	for _, s := range []struct{ c, hw int }{{24, 1024}, {96, 256}, {192, 64}, {384, 16}, {768, 4}} {
		n, c, hw := 128, s.c, s.hw
		x := make([]float32, n*c*hw)
		y := make([]float32, n*c*hw)
		dy := make([]float32, n*c*hw)
		for i := range x {
			x[i] = float32(i%100)/50 - 1
			dy[i] = float32(i%7) - 3
		}
		sc, bi, rm, rv := make([]float32, c), make([]float32, c), make([]float32, c), make([]float32, c)
		for i := range sc {
			sc[i] = 1
		}
		k := kernels.BN{Scratch: &kernels.Scratch{}, N: n, C: c, Inner: hw, Momentum: 0.1, Epsilon: 1e-5, Act: kernels.ReLU, State: kernels.NewBNState(c)}
		b.Run(fmt.Sprintf("%dx%d/forward", c, hw), func(b *testing.B) {
			b.SetBytes(int64(len(x) * 4))
			for i := 0; i < b.N; i++ {
				kernels.BNForward(k, true, y, x, sc, bi, rm, rv)
			}
		})
		b.Run(fmt.Sprintf("%dx%d/backward", c, hw), func(b *testing.B) {
			b.SetBytes(int64(len(x) * 4))
			for i := 0; i < b.N; i++ {
				kernels.BNBackward(k, y, x, sc, bi, dy)
			}
		})
	}
}

func BenchmarkBNGraph(b *testing.B) {
	g := G.NewGraph()
	s, _ := NewStore(tensor.Float32, 1)
	bl := NewBuilder(g, s)
	xv := tensor.New(tensor.WithShape(128, 24, 32, 32), tensor.WithBacking(make([]float32, 128*24*1024)))
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(128, 24, 32, 32), G.WithValue(xv))
	l, _ := NewBatchNorm(bl.In("bn"), BatchNormConfig{Channels: 24, Momentum: 0.1, Epsilon: 1e-5, Activation: ReLU})
	y, _ := l.Fwd(x)
	_ = y
	vm := G.NewTapeMachine(g)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		vm.Reset()
		vm.RunAll()
	}
}

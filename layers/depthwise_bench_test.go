package layers

import (
	"fmt"
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BenchmarkDepthwise times one forward + backward of a realistic depthwise
// layer (batch 128, 96 channels, 16×16, 3×3, float32) through a tape
// machine, for both implementations and strides:
//
//	go test ./layers -run X -bench Depthwise -benchtime 5x
func BenchmarkDepthwise(b *testing.B) {
	for _, impl := range []DepthwiseImpl{Fused, PerChannel} {
		for _, stride := range []int{1, 2} {
			b.Run(fmt.Sprintf("%v/stride%d", impl, stride), func(b *testing.B) {
				const n, c, h = 128, 96, 16
				g := G.NewGraph()
				s, _ := NewStore(tensor.Float32, 1)
				bl := NewBuilder(g, s)
				r := rand.New(rand.NewPCG(1, 1))
				xs := make([]float32, n*c*h*h)
				for i := range xs {
					xs[i] = float32(r.NormFloat64())
				}
				x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(n, c, h, h), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(n, c, h, h), tensor.WithBacking(xs))))
				l, err := NewDepthwiseConv2D(bl.In("dw"), DepthwiseConfig{Channels: c, Stride: stride, Padding: Pad(1), Impl: impl})
				if err != nil {
					b.Fatal(err)
				}
				y, err := l.Fwd(x)
				if err != nil {
					b.Fatal(err)
				}
				loss := G.Must(G.Sum(y))
				wrt := append(G.Nodes{x}, bl.Learnables()...)
				if _, err := G.Grad(loss, wrt...); err != nil {
					b.Fatal(err)
				}
				vm := G.NewTapeMachine(g, G.BindDualValues(wrt...))
				defer vm.Close()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					vm.Reset()
					if err := vm.RunAll(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDepthwiseKernels times the fused kernels alone (forward, input
// gradient, kernel gradient) without the graph, on every depthwise layer
// shape of CIFAR-10's MobileNet at alpha 0.75 (batch 128; the input's
// channels and size, and the stride).
func BenchmarkDepthwiseKernels(b *testing.B) {
	for _, s := range []struct{ h, c, stride int }{{32, 24, 1}, {32, 48, 2}, {16, 96, 1}, {16, 96, 2}, {8, 192, 1}, {8, 192, 2}, {4, 384, 1}, {4, 384, 2}, {2, 768, 1}} {
		b.Run(fmt.Sprintf("stride%d/%dx%dx%d", s.stride, s.c, s.h, s.h), func(b *testing.B) {
			n, c, h := 128, s.c, s.h
			g, _ := resolveGeom("bench", tensor.Shape{n, c, h, h}, c, c, 3, 3, s.stride, s.stride, Pad(1))
			x := make([]float32, n*c*h*h)
			for i := range x {
				x[i] = float32(i%7) - 3
			}
			k := make([]float32, c*9)
			y := make([]float32, n*c*g.Ho*g.Wo)
			dx := make([]float32, len(x))
			b.Run("forward", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					kernels.DWForward(g, y, x, k)
				}
			})
			b.Run("input-grad", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					kernels.DWBackwardInput(g, dx, y, k)
				}
			})
			b.Run("kernel-grad", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					kernels.DWBackwardKernel(g, k, x, y)
				}
			})
		})
	}
}

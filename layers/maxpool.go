package layers

import (
	"fmt"
	"math"

	"github.com/gomobilenet/mobilenet/layers/internal/kernels"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// MaxPool2D takes the maximum of each Kernel×Kernel window of every
// channel of x (N, C, H, W), windows Stride apart; padded positions never
// win (as in PyTorch's MaxPool2d and ONNX's MaxPool). Padding's zero value
// is "same" (the output ⌈H/Stride⌉×⌈W/Stride⌉, TensorFlow's), Pad(0) none.
// The gradient goes to the first maximum of each window, in row-major
// order, and adds up where windows overlap. It has no variables.
type MaxPool2D struct {
	Kernel  int // window side (0: 2)
	Stride  int // 0: Kernel
	Padding Padding
}

// Learnables: none.
func (MaxPool2D) Learnables() G.Nodes { return nil }

// KernelStride is the window side and stride with the defaults applied.
func (p MaxPool2D) KernelStride() (kernel, stride int) {
	kernel, stride = p.Kernel, p.Stride
	if kernel == 0 {
		kernel = 2
	}
	if stride == 0 {
		stride = kernel
	}
	return kernel, stride
}

// geom resolves the pooling's geometry for input shape xs.
func (p MaxPool2D) geom(xs tensor.Shape) (kernels.Geom, error) {
	k, s := p.KernelStride()
	if k < 1 || s < 1 {
		return kernels.Geom{}, fmt.Errorf("max pool: kernel %d, stride %d: must be positive", p.Kernel, p.Stride)
	}
	if len(xs) != 4 {
		return kernels.Geom{}, fmt.Errorf("max pool: input shape %v: want 4-D (N, C, H, W)", xs)
	}
	g, err := resolveGeom("max pool", xs, xs[1], xs[1], k, k, s, s, p.Padding)
	if err != nil {
		return g, err
	}
	if g.PT >= k || g.PB >= k || g.PL >= k || g.PR >= k {
		return g, fmt.Errorf("max pool: padding %d,%d,%d,%d not below the kernel %d: a window would hold padding only", g.PT, g.PB, g.PL, g.PR, k)
	}
	return g, nil
}

// Fwd applies the pooling to x (N, C, H, W).
func (p MaxPool2D) Fwd(x *G.Node) (*G.Node, error) {
	if err := checkInput("max pool", x); err != nil {
		return nil, err
	}
	xs := x.Shape().Clone()
	g, err := p.geom(xs)
	if err != nil {
		return nil, err
	}
	ys := tensor.Shape{g.N, g.C, g.Ho, g.Wo}
	d := &opSpec{name: "maxpoolGrad", params: g.String(), in: []tensor.Shape{xs, ys}, out: xs,
		f32: func(o []float32, in [][]float32) { maxPoolGrad(g, o, in[0], in[1]) },
		f64: func(o []float64, in [][]float64) { maxPoolGrad(g, o, in[0], in[1]) }}
	op := &opSpec{name: "maxpool", params: g.String(), in: []tensor.Shape{xs}, out: ys,
		f32:     func(o []float32, in [][]float32) { maxPoolForward(g, o, in[0]) },
		f64:     func(o []float64, in [][]float64) { maxPoolForward(g, o, in[0]) },
		diffWRT: []bool{true},
		symDiff: func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
			gx, err := d.apply(in[0], grad)
			return G.Nodes{gx}, err
		}}
	return op.apply(x)
}

// argmaxWindow returns the input index of the first maximum of window
// (oy, ox) of plane x (h×w), padded positions excluded.
func argmaxWindow[T Float](g kernels.Geom, x []T, oy, ox int) int {
	best, at := T(math.Inf(-1)), -1
	for ky := 0; ky < g.KH; ky++ {
		iy := oy*g.SH - g.PT + ky
		if iy < 0 || iy >= g.H {
			continue
		}
		for kx := 0; kx < g.KW; kx++ {
			ix := ox*g.SW - g.PL + kx
			if ix < 0 || ix >= g.W {
				continue
			}
			// The first maximum wins; a NaN wins over everything (it
			// propagates, as in PyTorch).
			if v := x[iy*g.W+ix]; at < 0 || v > best || (v != v && best == best) {
				best, at = v, iy*g.W+ix
			}
		}
	}
	return at
}

func maxPoolForward[T Float](g kernels.Geom, y, x []T) {
	hw, ohw := g.H*g.W, g.Ho*g.Wo
	kernels.ParallelFor(g.N*g.C, 4, func(p0, p1 int) {
		for p := p0; p < p1; p++ {
			xp, yp := x[p*hw:(p+1)*hw], y[p*ohw:(p+1)*ohw]
			for oy := 0; oy < g.Ho; oy++ {
				for ox := 0; ox < g.Wo; ox++ {
					yp[oy*g.Wo+ox] = xp[argmaxWindow(g, xp, oy, ox)]
				}
			}
		}
	})
}

func maxPoolGrad[T Float](g kernels.Geom, dx, x, dy []T) {
	hw, ohw := g.H*g.W, g.Ho*g.Wo
	kernels.ParallelFor(g.N*g.C, 4, func(p0, p1 int) {
		for p := p0; p < p1; p++ {
			xp, dxp, dyp := x[p*hw:(p+1)*hw], dx[p*hw:(p+1)*hw], dy[p*ohw:(p+1)*ohw]
			clear(dxp)
			for oy := 0; oy < g.Ho; oy++ {
				for ox := 0; ox < g.Wo; ox++ {
					dxp[argmaxWindow(g, xp, oy, ox)] += dyp[oy*g.Wo+ox]
				}
			}
		}
	})
}

package layers

import (
	"fmt"
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// groupedCases cover general groups (im2col per sample, one product per
// group), grouped pointwise products (small planes included, which the
// ungrouped layer would batch), and groups = In (the depthwise kernels, with
// and without a depth multiplier), at strides 1 and 2, odd sizes and batch 1.
var groupedCases = []struct {
	n, c, h, w, o, k, s, groups int
	pad                         Padding
	bias                        bool
}{
	{1, 4, 5, 5, 6, 3, 1, 2, Same(), false},
	{2, 6, 7, 6, 9, 3, 2, 3, Pad(1), true},
	{3, 6, 3, 5, 4, 1, 1, 2, Pad(0), false}, // grouped 1×1 on a small plane
	{2, 8, 9, 7, 8, 1, 1, 4, Pad(0), true},  // ShuffleNet-style grouped 1×1
	{2, 4, 6, 5, 8, 3, 1, 4, Pad(1), false}, // depthwise, multiplier 2
	{1, 3, 5, 5, 3, 3, 2, 3, Pad(1), true},  // depthwise, stride 2
	{2, 4, 7, 7, 4, 5, 2, 2, Pad4(2, 1, 0, 2), false},
}

func TestGroupedConvGradients(t *testing.T) {
	for _, c := range groupedCases {
		name := fmt.Sprintf("%+v", c)
		checkGrad(t, gradCase{name: "grouped conv " + name, xShape: []int{c.n, c.c, c.h, c.w}, build: func(b *Builder, x *G.Node) (*G.Node, error) {
			l, err := NewConv2D(b.In("conv"), Conv2DConfig{In: c.c, Out: c.o, Kernel: c.k, Stride: c.s, Padding: c.pad, Groups: c.groups, Bias: c.bias})
			if err != nil {
				return nil, err
			}
			return l.Fwd(x)
		}}, 25)
	}
}

// groupedConvRef is the grouped convolution by its definition (no bias).
func groupedConvRef(x []float64, w []float64, n, c, h, wd, o, k, groups int, g kernels.Geom) []float64 {
	cg, og := c/groups, o/groups
	y := make([]float64, n*o*g.Ho*g.Wo)
	for i := 0; i < n; i++ {
		for oc := 0; oc < o; oc++ {
			grp := oc / og
			for oy := 0; oy < g.Ho; oy++ {
				for ox := 0; ox < g.Wo; ox++ {
					var s float64
					for ci := 0; ci < cg; ci++ {
						ic := grp*cg + ci
						for ky := 0; ky < k; ky++ {
							for kx := 0; kx < k; kx++ {
								iy, ix := oy*g.SH-g.PT+ky, ox*g.SW-g.PL+kx
								if iy < 0 || iy >= h || ix < 0 || ix >= wd {
									continue
								}
								s += w[((oc*cg+ci)*k+ky)*k+kx] * x[((i*c+ic)*h+iy)*wd+ix]
							}
						}
					}
					y[((i*o+oc)*g.Ho+oy)*g.Wo+ox] = s
				}
			}
		}
	}
	return y
}

// TestGroupedConvMatchesDefinition checks the forward in float64 and
// float32 (where the depthwise case runs the SIMD kernels) against the
// definition, and the inference fold against conv + BatchNorm.
func TestGroupedConvMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, c := range groupedCases {
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			s, _ := NewStore(dt, 2)
			x64 := randDense(r, c.n, c.c, c.h, c.w)
			xv := x64
			if dt == tensor.Float32 {
				xv = to32(x64)
			}
			var l *Conv2D
			got := evalGraph(t, s, xv, func(b *Builder, x *G.Node) (*G.Node, error) {
				var err error
				l, err = NewConv2D(b.In("conv"), Conv2DConfig{In: c.c, Out: c.o, Kernel: c.k, Stride: c.s, Padding: c.pad, Groups: c.groups})
				if err != nil {
					return nil, err
				}
				return l.Fwd(x)
			})
			g, _ := l.resolve(xv.Shape())
			w := float64s(s.Var("conv/weight").Value.Data())
			want := groupedConvRef(x64.Data().([]float64), w, c.n, c.c, c.h, c.w, c.o, c.k, c.groups, g)
			tol := 1e-12
			if dt == tensor.Float32 {
				tol = 1e-5
			}
			if d := maxAbsDiff(got, want); d > tol {
				t.Errorf("%+v %v: differs from the definition by %g", c, dt, d)
			}
		}
	}
}

func TestGroupedConvConfigErrors(t *testing.T) {
	s, _ := NewStore(tensor.Float32, 1)
	for _, c := range []struct {
		cfg  Conv2DConfig
		want string
	}{
		{Conv2DConfig{In: 4, Out: 6, Groups: 3}, "3 groups: must divide"},
		{Conv2DConfig{In: 6, Out: 4, Groups: 3}, "3 groups: must divide"},
		{Conv2DConfig{In: 4, Out: 4, Groups: -2}, "groups"},
		{Conv2DConfig{In: 4, Out: 4, Init: Init(7)}, "unknown initialisation"},
	} {
		_, err := NewConv2D(NewBuilder(G.NewGraph(), s).In("c"), c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one about %q", c.cfg, err, c.want)
		}
	}
}

package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// maxPoolRef is max pooling by its definition: for each output position,
// the largest input of its window, padded positions left out.
func maxPoolRef(x []float64, n, c, h, w, k, s, pt, pl, ho, wo int) []float64 {
	y := make([]float64, n*c*ho*wo)
	for p := 0; p < n*c; p++ {
		for oy := 0; oy < ho; oy++ {
			for ox := 0; ox < wo; ox++ {
				m := math.Inf(-1)
				for i := oy*s - pt; i < oy*s-pt+k; i++ {
					for j := ox*s - pl; j < ox*s-pl+k; j++ {
						if i >= 0 && i < h && j >= 0 && j < w {
							m = math.Max(m, x[p*h*w+i*w+j])
						}
					}
				}
				y[p*ho*wo+oy*wo+ox] = m
			}
		}
	}
	return y
}

// TestMaxPool2D: the forward pass equals the definition (float64 and
// float32) on odd sizes, batch 1, kernels 2 and 3, strides 1 to 3, "same",
// none and explicit padding; the float64 gradient matches finite
// differences; bad configurations are errors.
func TestMaxPool2D(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	for _, c := range []struct {
		n, ch, h, w int
		pool        MaxPool2D
		pt, pl      int // the padding expected above and left
		ho, wo      int
	}{
		{2, 3, 8, 8, MaxPool2D{}, 0, 0, 4, 4},
		{1, 2, 7, 5, MaxPool2D{}, 0, 0, 4, 3},                                      // same: odd sizes padded below and right
		{2, 3, 9, 7, MaxPool2D{Kernel: 3, Stride: 2, Padding: Pad(1)}, 1, 1, 5, 4}, // ResNet's
		{1, 1, 6, 5, MaxPool2D{Kernel: 3, Stride: 1}, 1, 1, 6, 5},
		{3, 2, 7, 7, MaxPool2D{Kernel: 2, Stride: 3, Padding: Pad(0)}, 0, 0, 2, 2},
	} {
		name := fmt.Sprintf("%dx%dx%dx%d %+v", c.n, c.ch, c.h, c.w, c.pool)
		xv := randDense(r, c.n, c.ch, c.h, c.w)
		k, s := max(c.pool.Kernel, 2), c.pool.Stride
		if c.pool.Kernel == 0 {
			k = 2
		}
		if s == 0 {
			s = k
		}
		want := maxPoolRef(xv.Data().([]float64), c.n, c.ch, c.h, c.w, k, s, c.pt, c.pl, c.ho, c.wo)
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			g := G.NewGraph()
			v := xv
			if dt == tensor.Float32 {
				v = to32(xv)
			}
			x := G.NewTensor(g, dt, 4, G.WithShape(c.n, c.ch, c.h, c.w), G.WithName("x"), G.WithValue(v))
			y, err := c.pool.Fwd(x)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !y.Shape().Eq(tensor.Shape{c.n, c.ch, c.ho, c.wo}) {
				t.Fatalf("%s: output %v, want %v", name, y.Shape(), []int{c.n, c.ch, c.ho, c.wo})
			}
			vm := G.NewTapeMachine(g)
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			got := float64s(y.Value().Data())
			vm.Close()
			for i := range want {
				if math.Abs(got[i]-want[i]) > 1e-7*(1+math.Abs(want[i])) { // float32: the same value rounded
					t.Fatalf("%s %v: y[%d] = %v, want %v", name, dt, i, got[i], want[i])
				}
			}
		}
		pool := c.pool
		checkGrad(t, gradCase{name: "maxpool " + name, xShape: []int{c.n, c.ch, c.h, c.w}, build: func(b *Builder, x *G.Node) (*G.Node, error) {
			return pool.Fwd(x)
		}}, 400)
	}
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 1, 4, 4), G.WithName("x"))
	for _, bad := range []struct {
		pool MaxPool2D
		want string
	}{
		{MaxPool2D{Kernel: -1}, "must be positive"},
		{MaxPool2D{Kernel: 2, Padding: Pad(2)}, "not below the kernel"},
		{MaxPool2D{Kernel: 5, Padding: Pad(0)}, "larger than the padded input"},
	} {
		if _, err := bad.pool.Fwd(x); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: %v, want %q", bad.pool, err, bad.want)
		}
	}
	if _, err := (MaxPool2D{}).Fwd(G.NewMatrix(g, tensor.Float32, G.WithShape(2, 3))); err == nil {
		t.Error("a 2-D input: no error")
	}
}

package layers

import (
	"fmt"

	"github.com/gomobilenet/mobilenet/internal/cpu"
	G "gorgonia.org/gorgonia"
)

// Layer is what the layers of this package have in common: applied to a
// node it adds its ops to that node's graph, and it lists its learnable
// nodes that train (for gorgonia.Grad and solvers): frozen ones
// (Store.SetTrainable) are left out, as Builder.Learnables leaves them out.
type Layer interface {
	Fwd(x *G.Node) (*G.Node, error)
	Learnables() G.Nodes
}

var (
	_ Layer = (*Conv2D)(nil)
	_ Layer = (*PointwiseConv2D)(nil)
	_ Layer = (*DepthwiseConv2D)(nil)
	_ Layer = (*BatchNorm)(nil)
	_ Layer = (*SeparableBlock)(nil)
	_ Layer = (*Dense)(nil)
	_ Layer = (*Dropout)(nil)
	_ Layer = (*Sequential)(nil)
	_ Layer = GlobalAvgPooling{}
	_ Layer = ReLU
	_ Layer = MaxPool2D{}
)

// Kernels names the tier of hand-written kernels this build and CPU run:
// "avx512-amx", "avx512-bf16", "avx512", "avx2" or "go" (plain Go
// loops), with a note when
// MOBILENET_KERNELS chose a lower tier than the CPU supports. The GEMM of
// the pure-Go BLAS backend runs the same tier.
func Kernels() string { return cpu.Describe() }

// checkInput reports a nil input node of the op or layer name.
func checkInput(name string, xs ...*G.Node) error {
	for _, x := range xs {
		if x == nil {
			return fmt.Errorf("%s: nil input node", name)
		}
	}
	return nil
}

// trainable drops from a layer's learnable nodes the nil ones (absent
// biases) and those whose variable s has frozen.
func trainable(s *Store, ns ...*G.Node) G.Nodes {
	var r G.Nodes
	for _, n := range ns {
		if n == nil {
			continue
		}
		if s != nil {
			if v := s.Var(n.Name()); v != nil && v.Frozen {
				continue
			}
		}
		r = append(r, n)
	}
	return r
}

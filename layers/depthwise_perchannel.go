package layers

import (
	"fmt"
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// depthwisePerChannel builds the depthwise convolution from Gorgonia's own
// ops: each input channel is sliced out, reshaped to (N, 1, H, W), convolved
// by gorgonia.Conv2d with its own (M, 1, KH, KW) kernels, and the results are
// concatenated along the channel axis.
//
// Gorgonia's Slice op hashes its bounds as single bytes and the graph merges
// nodes with equal hashes and children, so slicing channel 256 of a tensor
// would return channel 0's node. The channels are therefore sliced in two
// levels: groups of at most 255/M channels, then channels within a group;
// every offset a Slice (or Concat's gradient) sees within one parent then
// stays below 256.
func depthwisePerChannel(x, k *G.Node, g kernels.Geom) (*G.Node, error) {
	if g.PT != g.PB || g.PL != g.PR {
		return nil, fmt.Errorf("per-channel build needs symmetric padding, got %d,%d,%d,%d (use the fused implementation)", g.PT, g.PB, g.PL, g.PR)
	}
	M := g.O / g.C
	group := 255 / M
	if group < 1 {
		return nil, fmt.Errorf("per-channel build supports depth multipliers up to 255, got %d", M)
	}
	var groups G.Nodes
	for c0 := 0; c0 < g.C; c0 += group {
		c1 := min(c0+group, g.C)
		xg, kg, err := sliceGroup(x, k, g, c0, c1, M)
		if err != nil {
			return nil, err
		}
		var chans G.Nodes
		for i := 0; i < c1-c0; i++ {
			xc, err := G.Slice(xg, nil, G.S(i, i+1))
			if err != nil {
				return nil, err
			}
			if xc, err = G.Reshape(xc, tensor.Shape{g.N, 1, g.H, g.W}); err != nil {
				return nil, err
			}
			kc, err := G.Slice(kg, G.S(i*M, (i+1)*M))
			if err != nil {
				return nil, err
			}
			if kc, err = G.Reshape(kc, tensor.Shape{M, 1, g.KH, g.KW}); err != nil {
				return nil, err
			}
			yc, err := G.Conv2d(xc, kc, tensor.Shape{g.KH, g.KW}, []int{g.PT, g.PL}, []int{g.SH, g.SW}, []int{1, 1})
			if err != nil {
				return nil, err
			}
			chans = append(chans, yc)
		}
		yg, err := concat1(chans)
		if err != nil {
			return nil, err
		}
		groups = append(groups, yg)
	}
	return concat1(groups)
}

// sliceGroup returns channels [c0, c1) of x as (N, c1-c0, H, W) and their
// kernels as ((c1-c0)·M, 1, KH, KW).
func sliceGroup(x, k *G.Node, g kernels.Geom, c0, c1, M int) (*G.Node, *G.Node, error) {
	if c0 == 0 && c1 == g.C {
		return x, k, nil
	}
	xg, err := G.Slice(x, nil, G.S(c0, c1))
	if err != nil {
		return nil, nil, err
	}
	if xg, err = G.Reshape(xg, tensor.Shape{g.N, c1 - c0, g.H, g.W}); err != nil {
		return nil, nil, err
	}
	kg, err := G.Slice(k, G.S(c0*M, c1*M))
	if err != nil {
		return nil, nil, err
	}
	if kg, err = G.Reshape(kg, tensor.Shape{(c1 - c0) * M, 1, g.KH, g.KW}); err != nil {
		return nil, nil, err
	}
	return xg, kg, nil
}

func concat1(ns G.Nodes) (*G.Node, error) {
	if len(ns) == 1 {
		return ns[0], nil
	}
	return G.Concat(1, ns...)
}

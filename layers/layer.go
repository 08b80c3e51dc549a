package layers

import G "gorgonia.org/gorgonia"

// Layer is what the layers of this package have in common: applied to a
// node it adds its ops to that node's graph, and it lists its learnable
// nodes (for gorgonia.Grad and solvers).
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
)

package layers

import (
	"errors"
	"fmt"
	"reflect"

	G "gorgonia.org/gorgonia"
)

// Network is a classifier built from layers, as package train trains and
// evaluates it: its variables, and its graph for a batch of images. Graphs
// built from one Network share its variables, so a training graph and an
// evaluation graph always use the same weights and statistics.
// model.Model (MobileNet) is one; NewNetwork makes one of any function
// that builds a graph from a Builder.
type Network interface {
	// VarStore holds the network's variables.
	VarStore() *Store
	// BuildNet adds the network to g for batch images. inference asks for
	// the graph of evaluation, which may differ in form (BatchNorm folded
	// into the convolution before it) but computes what the training graph
	// computes in inference mode.
	BuildNet(g *G.ExprGraph, batch int, inference bool) (*Net, error)
	// InputShape is one input's shape: channels, height, width.
	InputShape() [3]int
	// Classes is the number of logits.
	Classes() int
}

// Net is a Network's graph for one batch size.
type Net struct {
	Graph   *G.ExprGraph
	Input   *G.Node // (batch, channels, height, width)
	Logits  *G.Node // (batch, classes)
	Builder *Builder
}

// Learnables lists the nodes of the learnable variables in this graph.
func (n *Net) Learnables() G.Nodes { return n.Builder.Learnables() }

// BuildFunc builds a network's graph on x (batch, channels, height, width)
// and returns its logits (batch, classes), creating or reusing its
// variables through b.
type BuildFunc func(b *Builder, x *G.Node) (*G.Node, error)

// NewNetwork returns the Network that build describes, over store (whose
// dtype the input takes), for inputs of shape in and classes logits. It
// builds the network once, so that every variable exists, initialised in
// a fixed order from the store's seed, before training or loading a
// checkpoint touches them; an error then is build's, or logits of another
// shape. Inference builds the training graph (it computes in inference
// mode what a folded one would).
func NewNetwork(store *Store, in [3]int, classes int, build BuildFunc) (Network, error) {
	switch {
	case store == nil:
		return nil, errors.New("layers: network: no Store (nil)")
	case build == nil:
		return nil, errors.New("layers: network: no build function (nil)")
	case in[0] < 1 || in[1] < 1 || in[2] < 1:
		return nil, fmt.Errorf("layers: network: input shape %v: every dimension must be positive", in)
	case classes < 1:
		return nil, fmt.Errorf("layers: network: %d classes: must be positive", classes)
	}
	n := &funcNetwork{store: store, in: in, classes: classes, build: build}
	if _, err := n.BuildNet(G.NewGraph(), 1, false); err != nil {
		return nil, err
	}
	return n, nil
}

type funcNetwork struct {
	store   *Store
	in      [3]int
	classes int
	build   BuildFunc
}

func (n *funcNetwork) VarStore() *Store   { return n.store }
func (n *funcNetwork) InputShape() [3]int { return n.in }
func (n *funcNetwork) Classes() int       { return n.classes }

func (n *funcNetwork) BuildNet(g *G.ExprGraph, batch int, _ bool) (*Net, error) {
	if g == nil {
		return nil, errors.New("layers: network: no graph (nil)")
	}
	if batch < 1 {
		return nil, fmt.Errorf("layers: network: batch size %d: must be positive", batch)
	}
	b := NewBuilder(g, n.store)
	x := G.NewTensor(g, n.store.Dtype(), 4, G.WithShape(batch, n.in[0], n.in[1], n.in[2]), G.WithName("input"))
	y, err := n.build(b, x)
	if err != nil {
		return nil, fmt.Errorf("layers: network: %w", err)
	}
	if y == nil || !y.Shape().Eq([]int{batch, n.classes}) {
		var shape any = "nil"
		if y != nil {
			shape = y.Shape()
		}
		return nil, fmt.Errorf("layers: network: the logits have shape %v, want (%d, %d)", shape, batch, n.classes)
	}
	return &Net{Graph: g, Input: x, Logits: y, Builder: b}, nil
}

// IsNilNetwork reports whether n is nil, or a nil pointer held in the
// interface (a *model.Model that was never made, say).
func IsNilNetwork(n Network) bool {
	if n == nil {
		return true
	}
	v := reflect.ValueOf(n)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// NewTapeMachine compiles Gorgonia's tape machine for g, its compile
// panics (a graph it cannot schedule) turned into errors.
func NewTapeMachine(g *G.ExprGraph, opts ...G.VMOpt) (vm G.VM, err error) {
	defer func() {
		if r := recover(); r != nil {
			vm, err = nil, fmt.Errorf("compile graph: %v", r)
		}
	}()
	return G.NewTapeMachine(g, opts...), nil
}

package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Mode is the training/inference switch shared by every layer of a model:
// BatchNorm normalises with batch statistics (and updates its running
// statistics) in training mode, and with the running statistics in inference
// mode. Flipping it never touches the statistics.
type Mode struct{ training atomic.Bool }

// SetTraining switches the mode.
func (m *Mode) SetTraining(on bool) { m.training.Store(on) }

// Training reports whether the model is in training mode.
func (m *Mode) Training() bool { return m.training.Load() }

// Var is a named tensor of a model: a learnable parameter or non-learnable
// state (BatchNorm running statistics).
type Var struct {
	Name      string        // hierarchical, e.g. "block3/pw/bn/scale"
	Value     *tensor.Dense // shared by every graph built over the Store
	Learnable bool          // trained by the optimizer
	Decay     bool          // weight decay applies (conv and dense weights; not depthwise filters, BN parameters nor biases)
}

// Store holds the variables of a model by name, the mode switch, the dtype
// and the seeded generator that initialises new variables. Several graphs
// (a training graph and an inference graph of another batch size, say) can be
// built over one Store: they then share every weight and statistic.
type Store struct {
	dtype tensor.Dtype
	rng   *rand.Rand
	vars  map[string]*Var
	order []*Var
	mode  Mode
	ids   int64
}

// NewStore returns an empty Store for float32 or float64 variables, in
// training mode, initialising new variables from the given seed.
func NewStore(dt tensor.Dtype, seed uint64) (*Store, error) {
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("layers: dtype %v not supported (want float32 or float64)", dt)
	}
	s := &Store{dtype: dt, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), vars: map[string]*Var{}}
	s.mode.SetTraining(true)
	return s, nil
}

// Dtype is the element type of the Store's variables.
func (s *Store) Dtype() tensor.Dtype { return s.dtype }

// Mode is the model's training/inference switch.
func (s *Store) Mode() *Mode { return &s.mode }

// Vars lists every variable in creation order.
func (s *Store) Vars() []*Var { return append([]*Var(nil), s.order...) }

// Var returns the named variable, or nil.
func (s *Store) Var(name string) *Var { return s.vars[name] }

// Learnables lists the learnable variables in creation order.
func (s *Store) Learnables() []*Var {
	var r []*Var
	for _, v := range s.order {
		if v.Learnable {
			r = append(r, v)
		}
	}
	return r
}

// NumParams counts the elements of the learnable variables.
func (s *Store) NumParams() int {
	n := 0
	for _, v := range s.Learnables() {
		n += v.Value.Size()
	}
	return n
}

// variable returns the named variable, creating it with init when absent;
// an existing variable of another shape is an error.
func (s *Store) variable(name string, shape tensor.Shape, learnable, decay bool, init func(*rand.Rand, []float64)) (*Var, error) {
	if v, ok := s.vars[name]; ok {
		if !v.Value.Shape().Eq(shape) {
			return nil, fmt.Errorf("variable %s: exists with shape %v, want %v", name, v.Value.Shape(), shape)
		}
		return v, nil
	}
	vals := make([]float64, shape.TotalSize())
	init(s.rng, vals)
	var t *tensor.Dense
	if s.dtype == tensor.Float32 {
		f := make([]float32, len(vals))
		for i, x := range vals {
			f[i] = float32(x)
		}
		t = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(f))
	} else {
		t = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(vals))
	}
	v := &Var{Name: name, Value: t, Learnable: learnable, Decay: decay}
	s.vars[name] = v
	s.order = append(s.order, v)
	return v, nil
}

// Builder builds layers into one Gorgonia graph over a Store's variables,
// under a name scope (like a path: "block3/dw").
type Builder struct {
	g      *G.ExprGraph
	s      *Store
	prefix string
	reg    *registry
}

type registry struct {
	scratch *scratch // shared by the graph's ops
	nodes   []*G.Node
	vars    []*Var
	byName  map[string]*G.Node
}

// NewBuilder returns a Builder at the root scope of graph g.
func NewBuilder(g *G.ExprGraph, s *Store) *Builder {
	return &Builder{g: g, s: s, reg: &registry{byName: map[string]*G.Node{}, scratch: &scratch{}}}
}

// In returns a Builder for the sub-scope name.
func (b *Builder) In(name string) *Builder {
	c := *b
	c.prefix = b.path(name)
	return &c
}

func (b *Builder) path(name string) string {
	if b.prefix == "" {
		return name
	}
	return b.prefix + "/" + name
}

// Scope is the Builder's name prefix.
func (b *Builder) Scope() string { return b.prefix }

// Graph is the graph the Builder adds nodes to.
func (b *Builder) Graph() *G.ExprGraph { return b.g }

// Store is the Store holding the variables.
func (b *Builder) Store() *Store { return b.s }

// Mode is the Store's mode switch.
func (b *Builder) Mode() *Mode { return &b.s.mode }

// Learnables lists the nodes of every learnable variable used in this graph,
// in creation order: the nodes to pass to gorgonia.Grad.
func (b *Builder) Learnables() G.Nodes { return append(G.Nodes(nil), b.reg.nodes...) }

// LearnableVars lists the variables behind Learnables, in the same order.
func (b *Builder) LearnableVars() []*Var { return append([]*Var(nil), b.reg.vars...) }

// Node returns the graph node of the named learnable variable, or nil.
func (b *Builder) Node(name string) *G.Node { return b.reg.byName[name] }

// param returns the node of a learnable variable of this scope.
func (b *Builder) param(name string, shape tensor.Shape, decay bool, init func(*rand.Rand, []float64)) (*G.Node, error) {
	full := b.path(name)
	if n, ok := b.reg.byName[full]; ok {
		return n, nil
	}
	v, err := b.s.variable(full, shape, true, decay, init)
	if err != nil {
		return nil, err
	}
	n := G.NewTensor(b.g, b.s.dtype, len(shape), G.WithShape(shape...), G.WithName(full), G.WithValue(v.Value))
	b.reg.nodes = append(b.reg.nodes, n)
	b.reg.vars = append(b.reg.vars, v)
	b.reg.byName[full] = n
	return n, nil
}

// state returns a non-learnable variable of this scope.
func (b *Builder) state(name string, shape tensor.Shape, init func(*rand.Rand, []float64)) (*Var, error) {
	return b.s.variable(b.path(name), shape, false, false, init)
}

// nextID returns a number unique within the Store, for ops that must never be
// merged with another (stateful ops).
func (b *Builder) nextID() int64 {
	b.s.ids++
	return b.s.ids
}

// Initialisers.

func heNormal(fan int) func(*rand.Rand, []float64) {
	std := math.Sqrt(2 / float64(max(fan, 1)))
	return func(r *rand.Rand, v []float64) {
		for i := range v {
			v[i] = r.NormFloat64() * std
		}
	}
}

func normalInit(std float64) func(*rand.Rand, []float64) {
	return func(r *rand.Rand, v []float64) {
		for i := range v {
			v[i] = r.NormFloat64() * std
		}
	}
}

func constInit(c float64) func(*rand.Rand, []float64) {
	return func(_ *rand.Rand, v []float64) {
		for i := range v {
			v[i] = c
		}
	}
}

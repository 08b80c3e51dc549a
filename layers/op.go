package layers

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	"github.com/gomobilenet/mobilenet/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// opSpec is a Gorgonia op described by a table: its input and output shapes
// (fixed when the graph is built), its float32 and float64 kernels and its
// symbolic gradient. All the custom ops of this package (forward and
// backward) are opSpecs, so that the interfaces Gorgonia's symbolic
// differentiation and tape machine need are implemented once.
type opSpec struct {
	name   string         // short name, shown by String
	params string         // every parameter that changes the result, at full width; hashed
	in     []tensor.Shape // shape of each input; nil = scalar
	out    tensor.Shape   // output shape; nil = scalar
	// f32 and f64 compute the output (fully overwriting out) from the inputs.
	f32 func(out []float32, in [][]float32)
	f64 func(out []float64, in [][]float64)
	// check, when set, vets the inputs before the kernels run (what they
	// cannot report: a label out of range); its error fails the run.
	check   func(in []*tensor.Dense) error
	diffWRT []bool                                               // nil: not differentiable
	symDiff func(in G.Nodes, out, grad *G.Node) (G.Nodes, error) // one gradient node per input, nil where diffWRT is false

	// overwrite, when k+1 > 0, lets the op write its output over input k
	// (same shape) when Gorgonia's liveness analysis finds that input dead
	// afterwards: the kernels must then work with out aliasing in[k].
	// Writing into a kernels.Buffer just read is much cheaper than into a cold one.
	overwrite int

	// buf is the output of the previous run, reused by the next: the tape
	// machine drops its registers at every Reset, and reallocating (and
	// page-faulting) every activation each step costs more than the kernels.
	buf *tensor.Dense
}

// apply adds the op to the graph of its inputs.
func (o *opSpec) apply(inputs ...*G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(o, inputs...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	return n, nil
}

var _ G.SDOp = (*opSpec)(nil)

func (o *opSpec) Arity() int { return len(o.in) }

func (o *opSpec) Type() hm.Type {
	a := hm.TypeVariable('a')
	t := func(s tensor.Shape) hm.Type {
		if s == nil {
			return a
		}
		return G.TensorType{Dims: len(s), Of: a}
	}
	ts := make([]hm.Type, 0, len(o.in)+1)
	for _, s := range o.in {
		ts = append(ts, t(s))
	}
	ts = append(ts, t(o.out))
	return hm.NewFnType(ts...)
}

func (o *opSpec) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if len(in) != len(o.in) {
		return nil, fmt.Errorf("%s: got %d inputs, want %d", o.name, len(in), len(o.in))
	}
	for i, d := range in {
		s, ok := d.(tensor.Shape)
		if !ok || (o.in[i] != nil && !s.Eq(o.in[i])) {
			return nil, fmt.Errorf("%s: input %d has shape %v, want %v", o.name, i, d, o.in[i])
		}
	}
	if o.out == nil {
		return tensor.ScalarShape(), nil
	}
	return o.out.Clone(), nil
}

func (o *opSpec) Do(in ...G.Value) (G.Value, error) { return o.run(in, false) }

// UnsafeDo computes the output into the input OverwritesInput names.
func (o *opSpec) UnsafeDo(in ...G.Value) (G.Value, error) { return o.run(in, o.overwrite > 0) }

func (o *opSpec) run(in []G.Value, inPlace bool) (G.Value, error) {
	if err := blas.Ready(); err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	if len(in) != len(o.in) {
		return nil, fmt.Errorf("%s: got %d inputs, want %d", o.name, len(in), len(o.in))
	}
	ts := make([]*tensor.Dense, 0, len(in))
	var dt tensor.Dtype
	for i, v := range in {
		if o.in[i] == nil {
			continue // scalars are passed to the kernels as 1-element slices below
		}
		d, err := dense(v)
		if err != nil {
			return nil, fmt.Errorf("%s: input %d: %w", o.name, i, err)
		}
		if !d.Shape().Eq(o.in[i]) {
			return nil, fmt.Errorf("%s: input %d has shape %v, want %v", o.name, i, d.Shape(), o.in[i])
		}
		dt = d.Dtype()
		ts = append(ts, d)
	}
	if dt == (tensor.Dtype{}) {
		dt = in[0].Dtype()
	}
	// Scalar inputs become 1-element tensors so the kernels see slices.
	all := make([]*tensor.Dense, len(in))
	j := 0
	for i, v := range in {
		if o.in[i] != nil {
			all[i] = ts[j]
			j++
			continue
		}
		s, err := scalarOf(v)
		if err != nil {
			return nil, fmt.Errorf("%s: input %d: %w", o.name, i, err)
		}
		if dt == tensor.Float32 {
			all[i] = tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{float32(s)}))
		} else {
			all[i] = tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{s}))
		}
	}
	shape := o.out
	if shape == nil {
		shape = tensor.Shape{1}
	}
	out := o.buf
	if inPlace {
		out = all[o.overwrite-1]
	} else if out == nil || out.Dtype() != dt {
		out = tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
		if o.out != nil {
			o.buf = out
		}
	}
	if o.check != nil {
		if err := o.check(all); err != nil {
			return nil, fmt.Errorf("%s: %w", o.name, err)
		}
	}
	if err := dispatch(o.name, out, all, o.f32, o.f64); err != nil {
		return nil, err
	}
	if o.out == nil {
		switch d := out.Data().(type) {
		case []float32:
			return G.NewF32(d[0]), nil
		case []float64:
			return G.NewF64(d[0]), nil
		}
	}
	return out, nil
}

func (o *opSpec) ReturnsPtr() bool      { return false }
func (o *opSpec) CallsExtern() bool     { return false }
func (o *opSpec) OverwritesInput() int  { return o.overwrite - 1 }
func (o *opSpec) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s(%s)", o.name, o.params) }
func (o *opSpec) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}
func (o *opSpec) String() string { return o.name }

func (o *opSpec) DiffWRT(n int) []bool {
	r := make([]bool, n)
	copy(r, o.diffWRT)
	return r
}

func (o *opSpec) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	if o.symDiff == nil {
		return nil, fmt.Errorf("%s: not differentiable", o.name)
	}
	return o.symDiff(in, out, grad)
}

// dense returns v as a *tensor.Dense.
func dense(v G.Value) (*tensor.Dense, error) {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("want a *tensor.Dense, got %T", v)
	}
	return d, nil
}

// scalarOf reads a scalar value (a gradient seed) as float64.
func scalarOf(v G.Value) (float64, error) {
	switch s := v.(type) {
	case *G.F32:
		return float64(*s), nil
	case *G.F64:
		return float64(*s), nil
	case *tensor.Dense:
		if s.Size() == 1 {
			switch d := s.Data().(type) {
			case []float32:
				return float64(d[0]), nil
			case []float64:
				return d[0], nil
			case float32:
				return float64(d), nil
			case float64:
				return d, nil
			}
		}
	}
	return 0, fmt.Errorf("want a scalar, got %T", v)
}

// dispatch runs f32 or f64 on the data of out and the inputs, by dtype.
func dispatch(name string, out *tensor.Dense, in []*tensor.Dense, f32 func(out []float32, in [][]float32), f64 func(out []float64, in [][]float64)) error {
	switch o := out.Data().(type) {
	case []float32:
		ins := make([][]float32, len(in))
		for i, t := range in {
			d, ok := t.Data().([]float32)
			if !ok {
				return fmt.Errorf("%s: input %d is %v, want float32", name, i, t.Dtype())
			}
			ins[i] = d
		}
		f32(o, ins)
	case []float64:
		ins := make([][]float64, len(in))
		for i, t := range in {
			d, ok := t.Data().([]float64)
			if !ok {
				return fmt.Errorf("%s: input %d is %v, want float64", name, i, t.Dtype())
			}
			ins[i] = d
		}
		f64(o, ins)
	default:
		return fmt.Errorf("%s: unsupported dtype %v (want float32 or float64)", name, out.Dtype())
	}
	return nil
}

// Float is the element type of the layers' kernels: float32 or float64.
type Float interface{ ~float32 | ~float64 }

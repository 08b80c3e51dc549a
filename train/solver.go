package train

import (
	"fmt"

	"github.com/gomobilenet/mobilenet/layers"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Solver adapts an SGD to gorgonia.Solver, for a training loop written the
// Gorgonia way: run the tape machine, then
// solver.Step(gorgonia.NodesToValueGrads(learnables)). Each node given to
// Step must be a variable of Store (matched by name), whose weight decay
// (SGD.DecayParams) and velocity then apply, exactly as Trainer applies
// them.
type Solver struct {
	SGD   *SGD
	Store *layers.Store
	// LR is the learning rate of each step, counted from 0 (a Schedule's
	// At, say).
	LR    func(step int) float64
	steps int
}

var _ G.Solver = (*Solver)(nil)

// NewSolver returns a Solver of o over the variables of s with the
// learning rates lr gives.
func NewSolver(o *SGD, s *layers.Store, lr func(step int) float64) *Solver {
	return &Solver{SGD: o, Store: s, LR: lr}
}

// Step updates every node's variable from its gradient (then zeroed).
func (s *Solver) Step(model []G.ValueGrad) error {
	if s.SGD == nil || s.Store == nil || s.LR == nil {
		return fmt.Errorf("sgd solver: SGD, Store and LR are required")
	}
	vars := make([]*layers.Var, len(model))
	grads := make([]*tensor.Dense, len(model))
	for i, vg := range model {
		n, ok := vg.(G.Namer)
		if !ok {
			return fmt.Errorf("sgd solver: value %d (%T) has no name to find its variable by", i, vg)
		}
		v := s.Store.Var(n.Name())
		if v == nil || !v.Learnable {
			return fmt.Errorf("sgd solver: %s is not a learnable variable of the Store", n.Name())
		}
		if vv := vg.Value(); vv == nil || vv.Uintptr() != v.Value.Uintptr() {
			return fmt.Errorf("sgd solver: %s: the node's value is not the Store's variable", n.Name())
		}
		g, err := vg.Grad()
		if err != nil {
			return fmt.Errorf("sgd solver: %s: %w", n.Name(), err)
		}
		d, ok := g.(*tensor.Dense)
		if !ok {
			return fmt.Errorf("sgd solver: %s: gradient is %T, want a dense tensor", n.Name(), g)
		}
		vars[i], grads[i] = v, d
	}
	if err := s.SGD.Step(s.LR(s.steps), vars, grads); err != nil {
		return err
	}
	s.steps++
	return nil
}

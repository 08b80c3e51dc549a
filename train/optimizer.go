package train

import (
	"fmt"
	"math"

	"github.com/gomobilenet/mobilenet/layers"
	"gorgonia.org/tensor"
)

// SGD is stochastic gradient descent with (Nesterov) momentum and coupled
// weight decay, as PyTorch's torch.optim.SGD: for each parameter w with
// gradient g,
//
//	g ← g + wd·w      (only for the parameters DecayParams names)
//	v ← μ·v + g
//	w ← w − lr·(g + μ·v)   (Nesterov; w − lr·v without)
//
// Its state (the velocities) is exported for checkpoints.
type SGD struct {
	Momentum    float64
	Nesterov    bool
	WeightDecay float64
	// DecayParams names the parameters weight decay applies to:
	// DecayConv ("" too), DecayWeights or DecayAll.
	DecayParams ParamSet
	// Velocity holds one buffer per variable name.
	Velocity map[string][]float32
}

// NewSGD returns an optimizer with empty velocities.
func NewSGD(momentum, weightDecay float64, nesterov bool) *SGD {
	return &SGD{Momentum: momentum, Nesterov: nesterov, WeightDecay: weightDecay, Velocity: map[string][]float32{}}
}

// Step updates every variable from its gradient with learning rate lr, then
// zeroes the gradient (Gorgonia accumulates gradients across runs).
func (o *SGD) Step(lr float64, vars []*layers.Var, grads []*tensor.Dense) error {
	if len(vars) != len(grads) {
		return fmt.Errorf("sgd: %d variables, %d gradients", len(vars), len(grads))
	}
	if _, err := ParseDecayParams(string(o.DecayParams)); err != nil {
		return fmt.Errorf("sgd: %w", err)
	}
	for i, v := range vars {
		w, ok := v.Value.Data().([]float32)
		g, ok2 := grads[i].Data().([]float32)
		if !ok || !ok2 || len(w) != len(g) {
			return fmt.Errorf("sgd: variable %s: want float32 value and gradient of equal size", v.Name)
		}
		vel, ok := o.Velocity[v.Name]
		if !ok {
			vel = make([]float32, len(w))
			o.Velocity[v.Name] = vel
		}
		if len(vel) != len(w) {
			return fmt.Errorf("sgd: variable %s: a velocity of %d values for %d weights", v.Name, len(vel), len(w))
		}
		wd := float32(0)
		if Decays(o.DecayParams, v) {
			wd = float32(o.WeightDecay)
		}
		mu, eta := float32(o.Momentum), float32(lr)
		if o.Nesterov {
			for j := range w {
				gj := g[j] + wd*w[j]
				vel[j] = mu*vel[j] + gj
				w[j] -= eta * (gj + mu*vel[j])
			}
		} else {
			for j := range w {
				gj := g[j] + wd*w[j]
				vel[j] = mu*vel[j] + gj
				w[j] -= eta * vel[j]
			}
		}
		clear(g)
	}
	return nil
}

// The parameter sets weight decay can apply to (SGD.DecayParams,
// Recipe.DecayParams, cmd/train's --decay-params).
const (
	// DecayConv decays the weights of the standard and pointwise
	// convolutions and of the classifier (layers.Var.Decay): the MobileNet
	// paper's choice, which puts "very little or no weight decay" on the
	// depthwise filters, and none on BatchNorm parameters or biases.
	DecayConv ParamSet = "conv"
	// DecayWeights decays every weight tensor, the depthwise filters too
	// (every parameter of two or more dimensions), but no BatchNorm
	// parameter or bias: the "no bias decay" of He et al.'s "Bag of Tricks"
	// (2019) and timm's rule of no decay on 1-D parameters.
	DecayWeights ParamSet = "weights"
	// DecayAll decays every parameter, BatchNorm scales and shifts and
	// biases too: PyTorch's SGD(model.parameters(), weight_decay=…), the
	// recipe of most public CIFAR-10 MobileNet results.
	DecayAll ParamSet = "all"
)

// ParamSet names the parameters weight decay applies to (Recipe.DecayParams,
// SGD.DecayParams, cmd/train's --decay-params); "" is DecayConv, what
// checkpoints written before the choice existed used. It is a flag.Value.
type ParamSet string

// ParseDecayParams reads the name of a parameter set for weight decay.
func ParseDecayParams(s string) (ParamSet, error) {
	switch p := ParamSet(s); p {
	case "":
		return DecayConv, nil
	case DecayConv, DecayWeights, DecayAll:
		return p, nil
	}
	return "", fmt.Errorf("weight decay parameters %q: want %s, %s or %s", s, DecayConv, DecayWeights, DecayAll)
}

// String is the set's name ("" reads as DecayConv's).
func (p ParamSet) String() string {
	if p == "" {
		return string(DecayConv)
	}
	return string(p)
}

// Set parses s into p (flag.Value).
func (p *ParamSet) Set(s string) (err error) {
	*p, err = ParseDecayParams(s)
	return err
}

// Decays reports whether weight decay applies to v under the parameter set
// params (ParseDecayParams; an unknown name counts as DecayConv).
func Decays(params ParamSet, v *layers.Var) bool {
	switch params {
	case DecayAll:
		return true
	case DecayWeights:
		return v.Decay || v.Value.Dims() >= 2
	}
	return v.Decay
}

// Decay is the learning rate's decay after the warm-up (Schedule.Decay,
// Recipe.Schedule, cmd/train's --schedule): ScheduleCosine ("" too: what
// checkpoints written before the choice existed used), ScheduleLinear or
// ScheduleStep. It is a flag.Value.
type Decay string

// The learning rate schedules after the warm-up.
const (
	// ScheduleCosine decays as a half cosine to 0 at the last step (Loshchilov
	// & Hutter's SGDR without restarts; PyTorch's CosineAnnealingLR).
	ScheduleCosine Decay = "cosine"
	// ScheduleLinear decays linearly to 0 at the last step (Keras'
	// PolynomialDecay of power 1; reported best for short budgets, Li et
	// al., "Budgeted Training", 2020).
	ScheduleLinear Decay = "linear"
	// ScheduleStep divides the rate by 10 at 50% and at 75% of the run (the
	// ResNet CIFAR-10 recipe; PyTorch's MultiStepLR).
	ScheduleStep Decay = "step"
)

// ParseSchedule reads a schedule's name.
func ParseSchedule(s string) (Decay, error) {
	switch d := Decay(s); d {
	case "":
		return ScheduleCosine, nil
	case ScheduleCosine, ScheduleLinear, ScheduleStep:
		return d, nil
	}
	return "", fmt.Errorf("learning rate schedule %q: want %s, %s or %s", s, ScheduleCosine, ScheduleLinear, ScheduleStep)
}

// String is the decay's name ("" reads as ScheduleCosine's).
func (d Decay) String() string {
	if d == "" {
		return string(ScheduleCosine)
	}
	return string(d)
}

// Set parses s into d (flag.Value).
func (d *Decay) Set(s string) (err error) {
	*d, err = ParseSchedule(s)
	return err
}

// Schedule is the learning rate as a function of the step: a linear warm-up
// from ~0 to Base over Warmup steps, then Decay (ScheduleCosine when "")
// until Total steps. The cosine and linear decays end at Min rather than 0
// (PyTorch's CosineAnnealingLR eta_min, Keras' CosineDecay alpha·rate);
// the step decay ignores it.
type Schedule struct {
	Base          float64
	Min           float64
	Warmup, Total int
	Decay         Decay
}

// At returns the learning rate for step (0-based).
func (s Schedule) At(step int) float64 {
	if step < s.Warmup {
		return s.Base * float64(step+1) / float64(s.Warmup)
	}
	span := max(s.Total-s.Warmup, 1)
	p := math.Min(float64(step-s.Warmup)/float64(span), 1)
	switch s.Decay {
	case ScheduleLinear:
		return s.Min + (s.Base-s.Min)*(1-p)
	case ScheduleStep:
		// Milestones at fractions of the whole run, warm-up included, as
		// epochs 150 and 225 of 300 are.
		q := float64(step) / float64(max(s.Total, 1))
		switch {
		case q >= 0.75:
			return s.Base * 0.01
		case q >= 0.5:
			return s.Base * 0.1
		}
		return s.Base
	}
	return s.Min + (s.Base-s.Min)*0.5*(1+math.Cos(math.Pi*p))
}

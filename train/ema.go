package train

import (
	"strings"

	"github.com/gomobilenet/mobilenet/layers"
)

// ema is an exponential moving average of a model's weights and BatchNorm
// running statistics (Polyak averaging; the "EMA of the weights" of
// TensorFlow's ExponentialMovingAverage and timm's ModelEmaV2). Early in
// training the decay is min(decay, (1+t)/(10+t)) at step t, so that the
// average does not dwell on the initial weights.
type ema struct {
	decay  float64
	vars   []*layers.Var
	shadow [][]float32
}

// averaged reports whether a variable takes part: learnable ones and the
// BatchNorm running statistics (not counters such as dropout's step).
func averaged(v *layers.Var) bool {
	return v.Learnable || strings.HasSuffix(v.Name, "running_mean") || strings.HasSuffix(v.Name, "running_var")
}

func newEMA(s *layers.Store, decay float64) *ema {
	e := &ema{decay: decay}
	for _, v := range s.Vars() {
		if averaged(v) {
			e.vars = append(e.vars, v)
			e.shadow = append(e.shadow, append([]float32(nil), v.Value.Data().([]float32)...))
		}
	}
	return e
}

// update moves the average towards the current values after step t.
func (e *ema) update(t int) {
	d := float32(min(e.decay, float64(1+t)/float64(10+t)))
	for i, v := range e.vars {
		cur, s := v.Value.Data().([]float32), e.shadow[i]
		for j, x := range cur {
			s[j] = d*s[j] + (1-d)*x
		}
	}
}

// swap exchanges the model's values with the average: call it before
// evaluating the average, and again after.
func (e *ema) swap() {
	for i, v := range e.vars {
		cur, s := v.Value.Data().([]float32), e.shadow[i]
		for j := range cur {
			cur[j], s[j] = s[j], cur[j]
		}
	}
}

package kernels

import "math"

// Epilogue is what a fused inference op applies to each output plane of a
// convolution while it is still in cache: y = act(y + bias[channel]).
type Epilogue[T Float] struct {
	Bias []T
	Ones []T // 1 per channel, for the many-planes kernel
	Act  Act
}

// planes applies the Epilogue to planes [p0, p1) of inner elements each,
// plane p being of channel p mod nch: in one call of the many-planes kernel
// where it applies (small planes, ReLU, float32), else plane by plane.
func (e *Epilogue[T]) planes(y []T, p0, p1, inner, nch int) {
	if e == nil {
		return
	}
	if y32, ok := any(y).([]float32); ok && manyPlanes(inner) && e.Act == ReLU {
		seg := y32[p0*inner : p1*inner]
		affineReLUPlanes(seg, seg, any(e.Ones).([]float32), any(e.Bias).([]float32), inner, p0%nch, nch, p1-p0)
		return
	}
	for p := p0; p < p1; p++ {
		affineAct(e.Act, y[p*inner:(p+1)*inner], y[p*inner:(p+1)*inner], 1, e.Bias[p%nch])
	}
}

// FoldCoefficients fills a and b (one per channel) with the affine map of a
// BatchNorm in inference mode over a convolution's output without its bias:
// a = scale/√(var+ε), b = shift + a·(convBias − mean); convBias may be nil.
func FoldCoefficients[T Float](a, b []float64, scale, shift, mean, vr, convBias []T, eps float64) {
	for c := range a {
		a[c] = float64(scale[c]) / math.Sqrt(float64(vr[c])+eps)
		cb := 0.0
		if convBias != nil {
			cb = float64(convBias[c])
		}
		b[c] = float64(shift[c]) + a[c]*(cb-float64(mean[c]))
	}
}

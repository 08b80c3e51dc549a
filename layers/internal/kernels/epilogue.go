package kernels

import "math"

// Epilogue is what a convolution applies to each output plane while it is
// still in cache: for a fused inference op, y = act(y + bias[channel]) (Bias
// not nil); for a BatchNorm in training that follows, the plane's sums
// (Stats not nil).
type Epilogue[T Float] struct {
	Bias  []T
	Ones  []T // 1 per channel, for the many-planes kernel
	Act   Act
	Stats *PlaneStats
}

// PlaneStats holds what a convolution's epilogue measured of its output for
// the BatchNorm that normalises it: for each of Units planes of Inner
// elements (plane u of channel u mod Channels), its first value s and the
// shifted sums Σ(y−s) and Σ(y−s)². Moments combines them per channel.
type PlaneStats struct {
	Units, Inner, Channels int
	Shift, S1, S2          []float64
}

// EpilogueSumsPay reports whether measuring a BatchNorm's sums in the
// epilogue pays on planes of inner elements: on planes of at most 64 floats
// the BatchNorm's own pass runs many planes a call, faster than a call per
// plane here (pprof of a training step at alpha 0.75: no gain there).
func EpilogueSumsPay(inner int) bool { return !manyPlanes(inner) }

// begin sizes the sums for units planes of inner elements, nch channels.
func (e *Epilogue[T]) begin(units, inner, nch int) {
	if e == nil || e.Stats == nil {
		return
	}
	st := e.Stats
	st.Units, st.Inner, st.Channels = units, inner, nch
	if cap(st.S1) < units {
		st.Shift, st.S1, st.S2 = make([]float64, units), make([]float64, units), make([]float64, units)
	}
	st.Shift, st.S1, st.S2 = st.Shift[:units], st.S1[:units], st.S2[:units]
}

// Moments writes each channel's mean and (biased) variance over its planes,
// combined in float64 in plane order: Σ over planes of Σ(y−m)² =
// S2 + 2(s−m)·S1 + n(s−m)², exactly, around the channel's mean m.
func (st *PlaneStats) Moments(mean, variance []float64) {
	clear(mean)
	clear(variance)
	n := float64(st.Inner)
	for u := range st.Units {
		mean[u%st.Channels] += n*st.Shift[u] + st.S1[u]
	}
	count := n * float64(st.Units/st.Channels)
	for c := range mean {
		mean[c] /= count
	}
	for u := range st.Units {
		d := st.Shift[u] - mean[u%st.Channels]
		variance[u%st.Channels] += st.S2[u] + 2*d*st.S1[u] + n*d*d
	}
	for c := range variance {
		variance[c] = max(variance[c]/count, 0)
	}
}

// Apply applies the bias and activation (and the sums, when Stats is set)
// to planes [p0, p1) of y, inner elements each, plane p of channel p mod
// nch: what the convolution kernels do to their output; for callers that
// run their own products (package infer).
func (e *Epilogue[T]) Apply(y []T, p0, p1, inner, nch int) { e.planes(y, p0, p1, inner, nch) }

// planes applies the Epilogue to planes [p0, p1) of inner elements each,
// plane p being of channel p mod nch: the sums first, then the bias and
// activation in one call of the many-planes kernel where it applies (small
// planes, ReLU, float32), else plane by plane.
func (e *Epilogue[T]) planes(y []T, p0, p1, inner, nch int) {
	if e == nil {
		return
	}
	if st := e.Stats; st != nil {
		for p := p0; p < p1; p++ {
			plane := y[p*inner : (p+1)*inner]
			st.Shift[p] = float64(plane[0])
			st.S1[p], st.S2[p] = sumSq(plane, plane[0])
		}
	}
	if e.Bias == nil {
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

// AffineAct computes y = act(a·x + b) elementwise (y may be x): a
// BatchNorm in inference mode on one plane, or an activation (a 1, b 0).
func AffineAct[T Float](act Act, y, x []T, a, b T) { affineAct(act, y, x, a, b) }

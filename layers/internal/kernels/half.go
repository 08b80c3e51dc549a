package kernels

import (
	"unsafe"

	"github.com/gomobilenet/mobilenet/blas"
)

// bf16 activations. In bf16 a pointwise convolution rounds its input to
// bf16 before its products (blas.GemmBF16); the layer that produces that
// input can as well write it in bf16 directly: the same values, half the
// bytes written, and half read by the convolution's forward and weight
// gradient products, which then neither read float32 nor round again
// (blas.GemmPackedBF16From16 and the other From16 products: bit for bit
// what the float32 path computes).
//
// Such a tensor keeps its float32 storage (its Gorgonia node is float32, of
// the same shape): each plane of Inner values holds its bf16 values in the
// first half of its own bytes, so that plane p of a tensor viewed as
// Halves is at [2·p·Inner, 2·p·Inner+Inner). A plane's bf16 values never
// reach into another plane's storage.

// Halves views x's storage as bf16 values (twice as many); plane p of
// Inner values keeps its bf16 values at [2·p·Inner:][:Inner].
func Halves(x []float32) []uint16 {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(x))), 2*len(x))
}

// BNForwardBF16 is BNForward (float32) with y written in bf16: plane p's
// values, rounded to nearest even, at yh[2·p·Inner:][:Inner] (Halves).
func BNForwardBF16(k BN, training bool, yh []uint16, x, scale, bias, runMean, runVar []float32) {
	a, b := bnForwardAffine(k, training, x, scale, bias, runMean, runVar)
	inner := k.Inner
	_ = yh[2*(k.N*k.C-1)*inner+inner-1]
	ParallelFor(k.N*k.C, max(1, 4096/max(inner, 1)), func(lo, hi int) {
		var buf [512]float32
		for p := lo; p < hi; p++ {
			c := p % k.C
			xp, yp := x[p*inner:(p+1)*inner], yh[2*p*inner:][:inner]
			for q := 0; q < inner; q += len(buf) {
				e := min(q+len(buf), inner)
				affineAct(k.Act, buf[:e-q], xp[q:e], a[c], b[c])
				blas.ToBF16(yp[q:e], buf[:e-q])
			}
		}
	})
}

// HalfInput reports whether a convolution of geometry g can read its input
// in bf16 (ConvForwardBF16, ConvBackwardWeightBF16): a pointwise one whose
// products run per sample (not packed).
func HalfInput(g Geom) bool { return g.Pointwise() && !g.grouped() && !(g.H*g.W < 16 && g.N > 1) }

// ConvForwardBF16 is ConvForwardEp in bf16 with x given in bf16 (Halves
// layout), for a geometry HalfInput accepts.
func ConvForwardBF16(sc *Scratch, g Geom, y []float32, xh []uint16, w []float32, ep *Epilogue[float32]) {
	hw := g.H * g.W
	pw := packWeightsBF16(sc, false, g.O, g.C, w, g.C)
	ep.begin(g.N*g.O, hw, g.O)
	perSample(g.N, func(int) []float32 { return nil }, func(n int, _ []float32) {
		yn := y[n*g.O*hw : (n+1)*g.O*hw]
		blas.GemmPackedBF16From16(pw, hw, xh[2*n*g.C*hw:], 2*hw, 0, yn, hw)
		ep.planes(y, n*g.O, (n+1)*g.O, hw, g.O)
	})
}

// ConvBackwardWeightBF16 is ConvBackwardWeight in bf16 with x given in bf16
// (Halves layout), for a geometry HalfInput accepts: the same sums, in the
// same order.
func ConvBackwardWeightBF16(sc *Scratch, g Geom, dw []float32, xh []uint16, dy []float32) {
	hw := g.H * g.W
	if g.packed(sc, true) {
		blas.GemmNTBatchBF16From16(g.O, g.C, hw, g.N, dy, hw, g.O*hw, xh, 2*hw, 2*g.C*hw, dw, g.C)
		return
	}
	weightSums(sc, g, dw, g.C, func(_ int, acc []float32, n0, n1 int) {
		clear(acc)
		for n := n0; n < n1; n++ {
			blas.GemmBF16x1From16(false, true, g.O, g.C, hw, 1, dy[n*g.O*hw:], hw, xh[2*n*g.C*hw:], 2*hw, 1, acc, g.C)
		}
	})
}

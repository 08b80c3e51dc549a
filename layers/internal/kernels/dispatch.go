package kernels

// Which kernel runs, for which shape and CPU tier. Every choice between
// kernels is made here, once per call of an entry point; the kernels below
// it do not choose again.
//
// The tier: haveAVX2 (asm_amd64.go) is true when internal/cpu runs the AVX2
// tier or above (MOBILENET_KERNELS can lower it; -tags purego and other
// architectures have none); the assembly runs on float32 data only.
//
// Depthwise convolution (depthwise*.go), per geometry (dwPlan):
//
//	plan      forward                 input gradient (M = 1)   kernel gradient          applies to
//	dwSmall   convSmall…              convSmall…, k ⟲180°      kgradSmall…              AVX2, 3×3 s1 "same", H·W ≤ 64
//	dwRows    conv3x3s1 (AVX2 rows)   conv3x3s1, k ⟲180°       kgrad3x3s1AVX2 (AVX2)     3×3 s1 "same"
//	dwSmallS2 convSmallPlanesAVX512   (dwS2AVX2's)             dy spread, then          AVX-512, multiplier 1, 3×3 s2, pad 1,
//	          at stride 1, every                               kgradSmallAVX512         ⌈H/2⌉×⌈W/2⌉, H·W ≤ 16
//	          second output kept                               at stride 1
//	dwS2AVX2  convS2AVX2              dxS2AVX2                 kgradS2AVX2              AVX2, 3×3 s2, pad 1, ⌈H/2⌉×⌈W/2⌉
//	dw3S1     three taps a row (Go)   the same                 the same                 3 wide, column stride 1, pad 1
//	dw3S2     three taps a row (Go)   the same                 the same                 3 wide, column stride 2, pad 1
//	dwTaps    tap by tap (Go)         tap by tap               tap by tap               anything else
//
// (dwSmallS2 rests on a stride-2 convolution with padding 1 being the
// stride-1 "same" one read at even rows and columns, and on the kernel
// gradient of that being the stride-1 one of dy spread to the even
// positions with zeros in between: on the smallest planes the many-planes
// stride-1 kernels do four times the arithmetic in less time than the
// per-plane stride-2 ones spend on their set-up. go test ./layers -bench
// DepthwiseKernels, 384 channels of 4×4, Intel Xeon 6/207: forward
// 1.2–1.7 → 0.7 ms, kernel gradient 2.4–2.7 → 1.3–1.5 ms; on 8×8 planes no
// gain, and the input gradient loses, so neither is taken there.)
//
// (The input gradient needs depth multiplier 1 for the first three plans,
// the kernel gradient's dwRows needs AVX2; otherwise the next row applies.
// On the AVX512 tier (haveAVX512) the first three plans run the AVX-512
// twins of their kernels — convSmallPlanesAVX512 (whole runs of planes per
// call) and kgradSmallAVX512, conv3x3s1AVX512 and kgrad3x3s1AVX512,
// convS2AVX512, dxS2AVX512 and kgradS2AVX512 — the AVX2 ones otherwise.)
//
// BatchNorm + activation (batchnorm.go) and the inference epilogue
// (epilogue.go): the many-planes kernels for float32 planes of at most 64
// elements, a multiple of 4 (manyPlanes; ReLU only where they fuse the
// activation); else per plane, with vector loops for float32 ReLU planes of
// 8 elements or more (vector8) and Go loops otherwise. The vector kernels
// are AVX-512 on the AVX512 tier, AVX2 below (the …Vec and …Planes
// functions at the end of this file).
//
// Convolution (conv.go): batched pointwise products below 16 positions a
// plane (Geom.packed), per-sample products otherwise, one product per group
// for grouped convolutions; the GEMMs are package blas's, which chooses its
// own micro-kernels.

// dwPlan is a depthwise kernel family (the table above).
type dwPlan int

const (
	dwSmall dwPlan = iota
	dwRows
	dwS2AVX2
	dw3S1
	dw3S2
	dwTaps
	dwSmallS2
)

// planForward chooses the depthwise forward kernel.
func planForward[T Float](g Geom, y []T) dwPlan {
	_, fast := asm32(y)
	switch {
	case fast && isSmall3x3s1(g):
		return dwSmall
	case is3x3s1(g):
		return dwRows
	case fast && isSmall3x3s2(g):
		return dwSmallS2
	case fast && is3x3s2p1(g):
		return dwS2AVX2
	}
	return planGo(g)
}

// planInput chooses the depthwise input-gradient kernel.
func planInput[T Float](g Geom, dx []T) dwPlan {
	_, fast := asm32(dx)
	one := g.O == g.C // depth multiplier 1
	switch {
	case fast && one && isSmall3x3s1(g):
		return dwSmall
	case one && is3x3s1(g):
		return dwRows
	case fast && one && is3x3s2p1(g):
		return dwS2AVX2
	}
	return planGo(g)
}

// planKernel chooses the depthwise kernel-gradient kernel.
func planKernel[T Float](g Geom, dk []T) dwPlan {
	_, fast := asm32(dk)
	switch {
	case fast && isSmall3x3s1(g):
		return dwSmall
	case fast && is3x3s1(g):
		return dwRows
	case fast && isSmall3x3s2(g):
		return dwSmallS2
	case fast && is3x3s2p1(g):
		return dwS2AVX2
	}
	return planGo(g)
}

// planGo is the Go plan of a geometry.
func planGo(g Geom) dwPlan {
	switch {
	case is3s1(g):
		return dw3S1
	case is3s2(g):
		return dw3S2
	}
	return dwTaps
}

// asm32 returns s as float32 when the assembly runs on it.
func asm32[T Float](s []T) ([]float32, bool) {
	if !haveAVX2 {
		return nil, false
	}
	f, ok := any(s).([]float32)
	return f, ok
}

// vector8 reports whether a float32 loop of n elements runs its AVX2
// version (which does the multiple of 8; Go finishes the tail).
func vector8(n int) bool { return haveAVX2 && n >= 8 }

// manyPlanes reports whether the many-planes float32 kernels apply to
// planes of inner elements: small planes (a multiple of 4 floats, at most
// 64), where per-plane calls would cost more than the arithmetic.
func manyPlanes(inner int) bool { return haveAVX2 && inner%4 == 0 && inner <= 64 }

// is3s1: a 3-wide kernel at horizontal stride 1 with one column of padding
// each side ("same" columns).
func is3s1(g Geom) bool { return g.KW == 3 && g.SW == 1 && g.PL == 1 && g.W >= 3 && g.Wo == g.W }

// is3x3s1: the full 3×3, stride-1, padding-1 convolution (most of
// MobileNet's depthwise layers).
func is3x3s1(g Geom) bool {
	return is3s1(g) && g.KH == 3 && g.SH == 1 && g.PT == 1 && g.Ho == g.H
}

// isSmall3x3s1: is3x3s1 on planes of at most 64 floats.
func isSmall3x3s1(g Geom) bool {
	return g.KH == 3 && g.KW == 3 && g.SH == 1 && g.SW == 1 && g.PT == 1 && g.PL == 1 &&
		g.Ho == g.H && g.Wo == g.W && g.H*g.W <= 64
}

// isSmall3x3s2: is3x3s2p1 on planes of at most 16 floats, depth
// multiplier 1, on the AVX512 tier (dwSmallS2).
func isSmall3x3s2(g Geom) bool {
	return haveAVX512 && g.O == g.C && is3x3s2p1(g) && g.H*g.W <= 16
}

// is3s2: a 3-wide kernel at horizontal stride 2 with one column of padding
// on the left.
func is3s2(g Geom) bool { return g.KW == 3 && g.SW == 2 && g.PL == 1 && g.W >= 3 }

// is3x3s2p1: 3×3, stride 2, top and left padding 1, output ⌈H/2⌉×⌈W/2⌉.
func is3x3s2p1(g Geom) bool {
	return is3s2(g) && g.KH == 3 && g.SH == 2 && g.PT == 1 && g.Ho == (g.H+1)/2 && g.Wo == (g.W+1)/2
}

// The vector kernels of the active tier: the AVX-512 twin on the AVX512
// tier, the AVX2 kernel otherwise (callers check haveAVX2 first) —
// BatchNorm + ReLU (the per-plane ones take lengths rounded down to 8;
// …Planes are the many-planes ones) and the depthwise plans' row, stride-2
// and small-plane kernels. Plain functions, not function values chosen
// once: through a function value the assembly's go:noescape is lost and the
// callers' stack buffers move to the heap (measured on the Zen 4: about
// −13% training and −33% inference images/s at alpha 0.75).

func affineReLUVec(y, x []float32, a, b float32) {
	if haveAVX512 {
		affineReLUAVX512(y, x, a, b)
		return
	}
	affineReLUAVX2(y, x, a, b)
}

func sumSqVec(x []float32, s float32) (float32, float32) {
	if haveAVX512 {
		return sumSqAVX512(x, s)
	}
	return sumSqAVX2(x, s)
}

func reluSumsVec(x, dy []float32, a, b, m float32) (float32, float32) {
	if haveAVX512 {
		return reluSumsAVX512(x, dy, a, b, m)
	}
	return reluSumsAVX2(x, dy, a, b, m)
}

func reluApplyVec(dx, x, dy []float32, a, b, m, k1, k2 float32) {
	if haveAVX512 {
		reluApplyAVX512(dx, x, dy, a, b, m, k1, k2)
		return
	}
	reluApplyAVX2(dx, x, dy, a, b, m, k1, k2)
}

func sumSqPlanes(x, shift, s0, s1 []float32, inner, c0, c int) {
	if haveAVX512 {
		sumSqPlanesAVX512(x, shift, s0, s1, inner, c0, c)
		return
	}
	sumSqPlanesAVX2(x, shift, s0, s1, inner, c0, c)
}

func affineReLUPlanes(y, x, a, b []float32, inner, c0, c, planes int) {
	affineReLUPlanesStore(y, x, a, b, inner, c0, c, planes, false)
}

// affineReLUPlanesStore is affineReLUPlanes, with non-temporal stores when
// nt (outputs stream accepts).
func affineReLUPlanesStore(y, x, a, b []float32, inner, c0, c, planes int, nt bool) {
	if haveAVX512 {
		affineReLUPlanesAVX512(y, x, a, b, inner, c0, c, planes, nt)
		return
	}
	affineReLUPlanesAVX2(y, x, a, b, inner, c0, c, planes, nt)
}

func reluSumsPlanes(x, dy, a, b, m, s0, s1 []float32, inner, c0, c int) {
	if haveAVX512 {
		reluSumsPlanesAVX512(x, dy, a, b, m, s0, s1, inner, c0, c)
		return
	}
	reluSumsPlanesAVX2(x, dy, a, b, m, s0, s1, inner, c0, c)
}

// reluApplyPlanesStore is BatchNorm + ReLU's input gradient on planes of
// inner values (channel c0 first, c channels), with non-temporal stores
// when nt (outputs stream accepts).
func reluApplyPlanesStore(dx, x, dy, a, b, m, k1, k2 []float32, inner, c0, c, planes int, nt bool) {
	if haveAVX512 {
		reluApplyPlanesAVX512(dx, x, dy, a, b, m, k1, k2, inner, c0, c, planes, nt)
		return
	}
	reluApplyPlanesAVX2(dx, x, dy, a, b, m, k1, k2, inner, c0, c, planes, nt)
}

func conv3x3s1Vec(y, x []float32, k *[9]float32, h, w int, zero []float32) {
	if haveAVX512 {
		conv3x3s1AVX512(y, x, k, h, w, zero)
		return
	}
	conv3x3s1AVX2(y, x, k, h, w, zero)
}

func kgrad3x3s1Vec(acc *[9]float32, dy, x []float32, h, w int, zero []float32) {
	if haveAVX512 {
		kgrad3x3s1AVX512(acc, dy, x, h, w, zero)
		return
	}
	kgrad3x3s1AVX2(acc, dy, x, h, w, zero)
}

func convS2Vec(y, x []float32, k *[9]float32, h, w, ho, wo int, zero []float32) {
	if haveAVX512 {
		convS2AVX512(y, x, k, h, w, ho, wo, zero)
		return
	}
	convS2AVX2(y, x, k, h, w, ho, wo, zero)
}

func kgradS2Vec(acc *[9]float32, dy, x []float32, h, w, ho, wo int, zero []float32) {
	if haveAVX512 {
		kgradS2AVX512(acc, dy, x, h, w, ho, wo, zero)
		return
	}
	kgradS2AVX2(acc, dy, x, h, w, ho, wo, zero)
}

func dxS2Vec(dx, dy []float32, k *[9]float32, h, w, ho, wo int, zero []float32) {
	if haveAVX512 {
		dxS2AVX512(dx, dy, k, h, w, ho, wo, zero)
		return
	}
	dxS2AVX2(dx, dy, k, h, w, ho, wo, zero)
}

func kgradSmallVec(acc *[9]float32, dy, x []float32, n, xstride, dystride int, tab *smallTab) {
	if haveAVX512 {
		kgradSmallAVX512(acc, dy, x, n, xstride, dystride, tab)
		return
	}
	kgradSmallAVX2(acc, dy, x, n, xstride, dystride, tab)
}

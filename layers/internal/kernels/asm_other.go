//go:build !amd64 || purego

package kernels

// haveAVX2 is false off amd64 (or with -tags purego): the Go kernels run.
const haveAVX2 = false

// haveAVX512 is false there too.
const haveAVX512 = false

func affineReLUAVX2(y, x []float32, a, b float32)                    { panic("no AVX2 kernels") }
func sumSqAVX2(x []float32, s float32) (sum, sq float32)             { panic("no AVX2 kernels") }
func reluSumsAVX2(x, dy []float32, a, b, m float32) (s0, s1 float32) { panic("no AVX2 kernels") }
func reluApplyAVX2(dx, x, dy []float32, a, b, m, k1, k2 float32)     { panic("no AVX2 kernels") }

func conv3x3s1AVX2(y, x []float32, k *[9]float32, h, w int, zero []float32) {
	panic("no AVX2 kernels")
}

func kgrad3x3s1AVX2(acc *[9]float32, dy, x []float32, h, w int, zero []float32) {
	panic("no AVX2 kernels")
}

func convS2AVX2(y, x []float32, k *[9]float32, h, w, ho, wo int, zero []float32) {
	panic("no AVX2 kernels")
}

func kgradS2AVX2(acc *[9]float32, dy, x []float32, h, w, ho, wo int, zero []float32) {
	panic("no AVX2 kernels")
}

func dxS2AVX2(dx, dy []float32, k *[9]float32, h, w, ho, wo int, zero []float32) {
	panic("no AVX2 kernels")
}

func convSmallAVX2(y, x []float32, k *[9]float32, tab *smallTab) { panic("no AVX2 kernels") }

func kgradSmallAVX2(acc *[9]float32, dy, x []float32, n, xstride, dystride int, tab *smallTab) {
	panic("no AVX2 kernels")
}

func sumSqPlanesAVX2(x, shift, s0, s1 []float32, inner, c0, c int) { panic("no AVX2 kernels") }

func affineReLUPlanesAVX2(y, x, a, b []float32, inner, c0, c, planes int, nt bool) {
	panic("no AVX2 kernels")
}

func reluSumsPlanesAVX2(x, dy, a, b, m, s0, s1 []float32, inner, c0, c int) {
	panic("no AVX2 kernels")
}

func reluApplyPlanesAVX2(dx, x, dy, a, b, m, k1, k2 []float32, inner, c0, c, planes int, nt bool) {
	panic("no AVX2 kernels")
}

func convSmallPlanesAVX512(y, x, k []float32, planes, c0, c int, tab *smallTab) {
	panic("no AVX-512 kernels")
}

func kgradSmallAVX512(acc *[9]float32, dy, x []float32, n, xstride, dystride int, tab *smallTab) {
	panic("no AVX-512 kernels")
}

func conv3x3s1AVX512(y, x []float32, k *[9]float32, h, w int, zero []float32) {
	panic("no AVX-512 kernels")
}

func kgrad3x3s1AVX512(acc *[9]float32, dy, x []float32, h, w int, zero []float32) {
	panic("no AVX-512 kernels")
}

func convS2AVX512(y, x []float32, k *[9]float32, h, w, ho, wo int, zero []float32) {
	panic("no AVX-512 kernels")
}

func kgradS2AVX512(acc *[9]float32, dy, x []float32, h, w, ho, wo int, zero []float32) {
	panic("no AVX-512 kernels")
}

func dxS2AVX512(dx, dy []float32, k *[9]float32, h, w, ho, wo int, zero []float32) {
	panic("no AVX-512 kernels")
}

func affineReLUAVX512(y, x []float32, a, b float32)                    { panic("no AVX-512 kernels") }
func sumSqAVX512(x []float32, s float32) (sum, sq float32)             { panic("no AVX-512 kernels") }
func reluSumsAVX512(x, dy []float32, a, b, m float32) (s0, s1 float32) { panic("no AVX-512 kernels") }
func reluApplyAVX512(dx, x, dy []float32, a, b, m, k1, k2 float32)     { panic("no AVX-512 kernels") }

func sumSqPlanesAVX512(x, shift, s0, s1 []float32, inner, c0, c int) {
	panic("no AVX-512 kernels")
}

func affineReLUPlanesAVX512(y, x, a, b []float32, inner, c0, c, planes int, nt bool) {
	panic("no AVX-512 kernels")
}

func reluSumsPlanesAVX512(x, dy, a, b, m, s0, s1 []float32, inner, c0, c int) {
	panic("no AVX-512 kernels")
}

func reluApplyPlanesAVX512(dx, x, dy, a, b, m, k1, k2 []float32, inner, c0, c, planes int, nt bool) {
	panic("no AVX-512 kernels")
}

func stemRow(y []float32, cstride int, rows []float32, offs []int, w, bias []float32, act Act, nb int) {
	stemRowGo(y, cstride, rows, offs, w, bias, act, nb)
}

func stemSplit(ev, od, src []float32, round bool) int { return 0 }

func stemGrad(lanes, dy []float32, cstride int, rows []float32, offs []int, taps, ho, nb, nt int) {
	stemGradGo(lanes, dy, cstride, rows, offs, taps, ho, nb, nt)
}

func stemRound(dst, src []float32) int { return 0 }

//go:build amd64 && !purego

package kernels

import "github.com/gomobilenet/mobilenet/internal/cpu"

// haveAVX2 reports whether the AVX2 + FMA kernels of the .s files run: the
// tier internal/cpu chose (the CPU's best, or MOBILENET_KERNELS=go to leave
// them out; -tags purego builds without them).
var haveAVX2 = cpu.Active() >= cpu.AVX2

// haveAVX512 reports whether the AVX-512 twins run (the AVX512 tier).
var haveAVX512 = cpu.Active() >= cpu.AVX512

// The kernels take lengths that are multiples of 8 (any rest is ignored).

//go:noescape
func affineReLUAVX2(y, x []float32, a, b float32)

//go:noescape
func sumSqAVX2(x []float32, s float32) (sum, sq float32)

//go:noescape
func reluSumsAVX2(x, dy []float32, a, b, m float32) (s0, s1 float32)

//go:noescape
func reluApplyAVX2(dx, x, dy []float32, a, b, m, k1, k2 float32)

//go:noescape
func conv3x3s1AVX2(y, x []float32, k *[9]float32, h, w int, zero []float32)

//go:noescape
func kgrad3x3s1AVX2(acc *[9]float32, dy, x []float32, h, w int, zero []float32)

//go:noescape
func convS2AVX2(y, x []float32, k *[9]float32, h, w, ho, wo int, zero []float32)

//go:noescape
func kgradS2AVX2(acc *[9]float32, dy, x []float32, h, w, ho, wo int, zero []float32)

//go:noescape
func dxS2AVX2(dx, dy []float32, k *[9]float32, h, w, ho, wo int, zero []float32)

//go:noescape
func convSmallAVX2(y, x []float32, k *[9]float32, tab *smallTab)

//go:noescape
func kgradSmallAVX2(acc *[9]float32, dy, x []float32, n, xstride, dystride int, tab *smallTab)

//go:noescape
func sumSqPlanesAVX2(x, shift, s0, s1 []float32, inner, c0, c int)

//go:noescape
func affineReLUPlanesAVX2(y, x, a, b []float32, inner, c0, c, planes int, nt bool)

//go:noescape
func reluSumsPlanesAVX2(x, dy, a, b, m, s0, s1 []float32, inner, c0, c int)

//go:noescape
func reluApplyPlanesAVX2(dx, x, dy, a, b, m, k1, k2 []float32, inner, c0, c, planes int, nt bool)

//go:noescape
func convSmallPlanesAVX512(y, x, k []float32, planes, c0, c int, tab *smallTab)

//go:noescape
func kgradSmallAVX512(acc *[9]float32, dy, x []float32, n, xstride, dystride int, tab *smallTab)

//go:noescape
func conv3x3s1AVX512(y, x []float32, k *[9]float32, h, w int, zero []float32)

//go:noescape
func kgrad3x3s1AVX512(acc *[9]float32, dy, x []float32, h, w int, zero []float32)

//go:noescape
func convS2AVX512(y, x []float32, k *[9]float32, h, w, ho, wo int, zero []float32)

//go:noescape
func kgradS2AVX512(acc *[9]float32, dy, x []float32, h, w, ho, wo int, zero []float32)

//go:noescape
func dxS2AVX512(dx, dy []float32, k *[9]float32, h, w, ho, wo int, zero []float32)

//go:noescape
func affineReLUAVX512(y, x []float32, a, b float32)

//go:noescape
func sumSqAVX512(x []float32, s float32) (sum, sq float32)

//go:noescape
func reluSumsAVX512(x, dy []float32, a, b, m float32) (s0, s1 float32)

//go:noescape
func reluApplyAVX512(dx, x, dy []float32, a, b, m, k1, k2 float32)

//go:noescape
func sumSqPlanesAVX512(x, shift, s0, s1 []float32, inner, c0, c int)

//go:noescape
func affineReLUPlanesAVX512(y, x, a, b []float32, inner, c0, c, planes int, nt bool)

//go:noescape
func reluSumsPlanesAVX512(x, dy, a, b, m, s0, s1 []float32, inner, c0, c int)

//go:noescape
func reluApplyPlanesAVX512(dx, x, dy, a, b, m, k1, k2 []float32, inner, c0, c, planes int, nt bool)

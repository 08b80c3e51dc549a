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

// The stem's row kernels (stem_amd64.s), by number of 16-column blocks.
//
//go:noescape
func stemRow1AVX512(y *float32, cstride int, rows *float32, offs *int, taps int, wt *float32, bias *float32, act int)

//go:noescape
func stemRow2AVX512(y *float32, cstride int, rows *float32, offs *int, taps int, wt *float32, bias *float32, act int)

//go:noescape
func stemRow3AVX512(y *float32, cstride int, rows *float32, offs *int, taps int, wt *float32, bias *float32, act int)

//go:noescape
func stemRow4AVX512(y *float32, cstride int, rows *float32, offs *int, taps int, wt *float32, bias *float32, act int)

//go:noescape
func stemRow5AVX512(y *float32, cstride int, rows *float32, offs *int, taps int, wt *float32, bias *float32, act int)

//go:noescape
func stemRow6AVX512(y *float32, cstride int, rows *float32, offs *int, taps int, wt *float32, bias *float32, act int)

//go:noescape
func stemRow7AVX512(y *float32, cstride int, rows *float32, offs *int, taps int, wt *float32, bias *float32, act int)

var stemRowsAVX512 = [...]func(y *float32, cstride int, rows *float32, offs *int, taps int, wt *float32, bias *float32, act int){
	stemRow1AVX512, stemRow2AVX512, stemRow3AVX512, stemRow4AVX512, stemRow5AVX512, stemRow6AVX512, stemRow7AVX512,
}

// stemRow is the stem's row kernel: the AVX-512 one of nb blocks, or
// stemRowGo. The assembly trusts its bounds: checked here.
func stemRow(y []float32, cstride int, rows []float32, offs []int, w, bias []float32, act Act, nb int) {
	if !haveAVX512 {
		stemRowGo(y, cstride, rows, offs, w, bias, act, nb)
		return
	}
	_ = y[3*cstride+16*nb-1]
	_, _ = w[4*len(offs)-1], bias[3]
	for _, o := range offs {
		_ = rows[o+16*nb-1]
	}
	stemRowsAVX512[nb-1](&y[0], cstride, &rows[0], &offs[0], len(offs), &w[0], &bias[0], int(act))
}

// The stem's weight-gradient kernels (stem_amd64.s), by number of taps.
//
//go:noescape
func stemGrad1AVX512(acc *float32, dy *float32, cstride int, rows *float32, offs *int, taps int, ho int, nb int)

//go:noescape
func stemGrad2AVX512(acc *float32, dy *float32, cstride int, rows *float32, offs *int, taps int, ho int, nb int)

//go:noescape
func stemGrad3AVX512(acc *float32, dy *float32, cstride int, rows *float32, offs *int, taps int, ho int, nb int)

//go:noescape
func stemGrad4AVX512(acc *float32, dy *float32, cstride int, rows *float32, offs *int, taps int, ho int, nb int)

//go:noescape
func stemGrad5AVX512(acc *float32, dy *float32, cstride int, rows *float32, offs *int, taps int, ho int, nb int)

//go:noescape
func stemGrad6AVX512(acc *float32, dy *float32, cstride int, rows *float32, offs *int, taps int, ho int, nb int)

var stemGradsAVX512 = [...]func(acc *float32, dy *float32, cstride int, rows *float32, offs *int, taps int, ho int, nb int){
	stemGrad1AVX512, stemGrad2AVX512, stemGrad3AVX512, stemGrad4AVX512, stemGrad5AVX512, stemGrad6AVX512,
}

// stemGrad is the stem's weight-gradient kernel: the AVX-512 one of nt
// taps, or stemGradGo. The assembly trusts its bounds: checked here.
func stemGrad(lanes, dy []float32, cstride int, rows []float32, offs []int, taps, ho, nb, nt int) {
	if !haveAVX512 {
		stemGradGo(lanes, dy, cstride, rows, offs, taps, ho, nb, nt)
		return
	}
	if nt < 1 || nt > stemMaxTaps || ho < 1 || nb < 1 || nt > taps {
		panic("kernels: stemGrad: bad sizes")
	}
	_ = lanes[64*nt-1]
	_ = dy[3*cstride+16*ho*nb-1]
	_ = offs[(ho-1)*taps+nt-1]
	for oy := 0; oy < ho; oy++ {
		for _, o := range offs[oy*taps:][:nt] {
			_ = rows[o+16*nb-1]
			_ = rows[o]
		}
	}
	stemGradsAVX512[nt-1](&lanes[0], &dy[0], cstride, &rows[0], &offs[0], taps, ho, nb)
}

//go:noescape
func stemRoundAVX512(dst, src *float32, blocks int)

// stemRound copies src to dst rounded to bf16, 16 floats at a time on
// AVX-512; it returns how many it did (the caller does the rest).
func stemRound(dst, src []float32) int {
	blocks := min(len(dst), len(src)) / 16
	if !haveAVX512 || blocks == 0 {
		return 0
	}
	stemRoundAVX512(&dst[0], &src[0], blocks)
	return 16 * blocks
}

//go:noescape
func stemSplitAVX512(ev, od, src *float32, blocks int, idx *uint32, round bool)

// stemIdx is stemSplitAVX512's permutation: the even floats of a block of
// 32, then the odd ones.
var stemIdx = func() (idx [32]uint32) {
	for i := range 16 {
		idx[i], idx[16+i] = uint32(2*i), uint32(2*i+1)
	}
	return idx
}()

// stemSplit writes src's even columns to ev and odd ones to od (rounded to
// bf16 when round), 16 pairs at a time on AVX-512; it returns how many
// pairs it did (the caller does the rest).
func stemSplit(ev, od, src []float32, round bool) int {
	blocks := min(len(ev), len(od), len(src)/2) / 16
	if !haveAVX512 || blocks == 0 {
		return 0
	}
	stemSplitAVX512(&ev[0], &od[0], &src[0], blocks, &stemIdx[0], round)
	return 16 * blocks
}

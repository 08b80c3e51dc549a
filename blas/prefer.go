package blas

import (
	"fmt"

	"github.com/gomobilenet/mobilenet/internal/cpu"
)

// bf16Margin is how much faster the bf16 products must be measured for
// PreferBF16 to take them on a tier without AMX. A training step is more
// than its products (BatchNorm and the depthwise convolutions are float32
// in either precision) and the calibration's ratio moves by several
// hundredths from one start-up to the next: ties go to float32, which is
// also the more accurate.
const bf16Margin = 1.15

// PreferBF16 reports whether bf16 products (GemmBF16) pay here against the
// float32 products of the backend in use, and why: what the commands'
// --precision auto decides by.
//   - Without bf16 products in hardware (HaveBF16 false): no.
//   - On AMX tiles (the avx512-amx tier): yes, unmeasured. The tiles
//     multiply at ~15× the float32 FMA peak, and a training step of the
//     CIFAR-10 network runs ~1.3× faster than in float32 (Xeon 6/167).
//   - With VDPBF16PS alone (the avx512-bf16 tier: Zen 4 and 5, Cooper
//     Lake): only where a calibration (a few milliseconds: three
//     MobileNet-sized products, single-threaded, alternating, best of five
//     rounds each) measures them at least bf16Margin× as fast as float32.
//     On Intel's Xeon 6 the instruction issues at half the rate of the
//     float32 FMA, and bf16 trained at 0.67× float32's speed there.
func PreferBF16() (bool, string) {
	if !HaveBF16() {
		return false, fmt.Sprintf("no bf16 products on the %s kernel tier", cpu.Active())
	}
	if cpu.Active() >= cpu.AVX512AMX {
		return true, "bf16 products on AMX tiles"
	}
	sec := calibrateBF16(get())
	return pickBF16(sec[0], sec[1])
}

// pickBF16 decides from the seconds the float32 and the bf16 products took.
func pickBF16(fp32Sec, bf16Sec float64) (bool, string) {
	if !(fp32Sec > 0 && bf16Sec > 0) {
		return false, "bf16 products not measured"
	}
	r := fp32Sec / bf16Sec
	return r >= bf16Margin, fmt.Sprintf("bf16 products (VDPBF16PS) measured %.2fx as fast as fp32 here", r)
}

// calibrateBF16 times the float32 products of backend be and the bf16
// products on calibrate's shapes, single-threaded, in alternating rounds,
// and returns each one's best round in seconds.
func calibrateBF16(be impl) [2]float64 {
	sec := calibrateWith(2, func(i, m, n, k int, a, b, c []float32) {
		if i == 1 {
			GemmBF16x1(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
			return
		}
		be.sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
	})
	return [2]float64{sec[0], sec[1]}
}

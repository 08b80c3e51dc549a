package blas

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// genericCores are OpenBLAS kernel sets without AVX2: what an OpenBLAS
// build older than the CPU falls back to (OpenBLAS 0.3.21 runs Prescott's
// SSE3 kernels on Sapphire Rapids Xeons, at a sixth of our AVX2 GEMM).
var genericCores = map[string]bool{
	"prescott": true, "nehalem": true, "core2": true, "penryn": true, "dunnington": true, "atom": true,
	"katmai": true, "coppermine": true, "northwood": true, "banias": true, "opteron": true, "barcelona": true,
	"bobcat": true, "nano": true, "sandybridge": true, "bulldozer": true, "piledriver": true, "generic": true,
}

// autoMargin is how much faster OpenBLAS must be measured for Auto to take
// it. The calibration times three products, not a training step, and
// within ±10% the two backends trade places from one start-up to the next
// (Zen 4: 0.92–1.08× in a dozen start-ups), while a whole step can differ
// far more (alpha 0.25 there: 1,864 training images/s with ours, 1,108
// with OpenBLAS): ties go to the project's own GEMM.
const autoMargin = 1.15

// pickAuto decides Auto's backend from what is known: whether OpenBLAS
// loaded, the core it reports, whether the pure-Go backend has assembly
// kernels, and (when both were timed) the seconds each took for the same
// products. OpenBLAS is chosen only where it is measured clearly faster
// (autoMargin), or where the pure-Go backend has no assembly (gonum's GEMM is
// several times slower than any OpenBLAS).
func pickAuto(loaded bool, core string, goAsm bool, goSec, obSec float64) (useOpenBLAS bool, why string) {
	switch {
	case !loaded:
		return false, "OpenBLAS not found"
	case !goAsm:
		return true, "no assembly GEMM for this CPU"
	case genericCores[strings.ToLower(core)]:
		return false, fmt.Sprintf("OpenBLAS runs its generic %s kernels on this CPU", core)
	case obSec > 0 && goSec > 0 && goSec > autoMargin*obSec:
		return true, fmt.Sprintf("OpenBLAS measured %.2fx as fast", goSec/obSec)
	case obSec > 0 && goSec > 0:
		return false, fmt.Sprintf("OpenBLAS measured %.2fx as fast", goSec/obSec)
	}
	return false, "not measured"
}

// chooseAuto is Use(Auto): OpenBLAS or the pure-Go backend, whichever is
// faster here, and why.
func chooseAuto() (impl, string) {
	g := pureGo()
	_, asm := g.(goAsm)
	ob, err := loadOpenBLAS()
	if err != nil {
		_, why := pickAuto(false, "", asm, 0, 0)
		return g, why
	}
	var goSec, obSec float64
	if asm && !genericCores[strings.ToLower(ob.core)] {
		sec := calibrate(g, ob)
		goSec, obSec = sec[0], sec[1]
	}
	if use, why := pickAuto(true, ob.core, asm, goSec, obSec); use {
		return ob, why
	} else {
		return g, why
	}
}

// calibrate times backends on three MobileNet-sized products as package
// layers runs them — a per-sample pointwise convolution on 16×16 maps, one
// on 4×4 maps (16 columns), a batched one on 2×2 maps — single-threaded, in
// alternating rounds (so that a burst of noise from elsewhere on the
// machine hits every backend alike), and returns each one's best round in
// seconds.
func calibrate(bes ...impl) []float64 {
	return calibrateWith(len(bes), func(i, m, n, k int, a, b, c []float32) {
		bes[i].sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
	})
}

// calibrateWith times ways ways of computing calibrate's products (way i:
// gemm(i, m, n, k, a, b, c), C = A·B with A m×k, B k×n, row-major and
// unpadded), after a warm-up round each (page faults, packing buffers),
// in five alternating rounds, and returns each way's best round in seconds.
func calibrateWith(ways int, gemm func(i, m, n, k int, a, b, c []float32)) []float64 {
	type shape struct{ m, n, k, reps int }
	shapes := []shape{{96, 256, 96, 24}, {384, 16, 384, 64}, {768, 512, 384, 1}}
	bufs := make([][3][]float32, len(shapes))
	for i, s := range shapes {
		a, b, c := make([]float32, s.m*s.k), make([]float32, s.k*s.n), make([]float32, s.m*s.n)
		for j := range a {
			a[j] = float32(j%7) * 0.25
		}
		for j := range b {
			b[j] = float32(j%5) * 0.5
		}
		bufs[i] = [3][]float32{a, b, c}
	}
	round := func(w int) float64 {
		t := time.Now()
		for i, s := range shapes {
			for r := 0; r < s.reps; r++ {
				gemm(w, s.m, s.n, s.k, bufs[i][0], bufs[i][1], bufs[i][2])
			}
		}
		return time.Since(t).Seconds()
	}
	best := make([]float64, ways)
	for w := range best {
		round(w)
		best[w] = math.Inf(1)
	}
	for range 5 {
		for w := range best {
			best[w] = min(best[w], round(w))
		}
	}
	return best
}

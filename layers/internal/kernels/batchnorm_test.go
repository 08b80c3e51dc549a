package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// relu32Impl is one implementation of the float32 BatchNorm + ReLU
type relu32Impl struct {
	name   string
	affine func(y, x []float32, a, b float32)
	sumSq  func(x []float32, s float32) (float64, float64)
	sums   func(x, dy []float32, a, b, m float32) (float64, float64)
	apply  func(dx, x, dy []float32, a, b, m, k1, k2 float32)
}

func relu32Impls() []relu32Impl {
	impls := []relu32Impl{
		{"go", affineReLU32Go, sumSqGo[float32], widen2(reluSums32Go), reluApply32Go},
		{"dispatch", affineReLU32, sumSq32, reluSums32, reluApply32},
	}
	if haveAVX2 { // the assembly alone, on the multiple-of-8 part
		impls = append(impls, relu32Impl{"avx2", affineReLUAVX2, widen1(sumSqAVX2), widen2(reluSumsAVX2), reluApplyAVX2})
	}
	if haveAVX512 {
		impls = append(impls, relu32Impl{"avx512", affineReLUAVX512, widen1(sumSqAVX512), widen2(reluSumsAVX512), reluApplyAVX512})
	}
	return impls
}

// widen1 and widen2 return a kernel's two float32 sums as float64s.
func widen1(f func(x []float32, s float32) (float32, float32)) func([]float32, float32) (float64, float64) {
	return func(x []float32, s float32) (float64, float64) {
		p, q := f(x, s)
		return float64(p), float64(q)
	}
}

func widen2(f func(x, dy []float32, a, b, m float32) (float32, float32)) func(x, dy []float32, a, b, m float32) (float64, float64) {
	return func(x, dy []float32, a, b, m float32) (float64, float64) {
		p, q := f(x, dy, a, b, m)
		return float64(p), float64(q)
	}
}

// TestReLU32Kernels holds every implementation of the float32 kernels
// (plain Go, the dispatcher, the AVX2 and AVX-512 assembly on the tiers that run them) to a
// float64 reference, over lengths 0 to 70 and 1001, unaligned starts, and
// pre-activations at ±0 and NaN.
func TestReLU32Kernels(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	lengths := []int{1001, 1024}
	for n := 0; n <= 70; n++ {
		lengths = append(lengths, n)
	}
	for _, im := range relu32Impls() {
		for _, n := range lengths {
			if im.name == "avx2" || im.name == "avx512" { // the assembly alone does the multiple of 8
				n &^= 7
			}
			off := r.IntN(8) // unaligned views
			buf := func() []float32 { return make([]float32, n+off)[off:] }
			x, dy, y, dx := buf(), buf(), buf(), buf()
			for i := range x {
				x[i] = float32(r.NormFloat64())
				dy[i] = float32(r.NormFloat64())
			}
			if n > 5 {
				x[3], x[4] = 0, float32(math.Copysign(0, -1)) // a·x+b = ±0 with a=1, b=0
			}
			for _, p := range [][5]float32{{1, 0, 0.1, 0.02, 0.3}, {0.7, -0.2, -0.3, 0, 0}, {-1.3, 0.4, 0.5, -0.1, 1.5}} {
				a, b, m, k1, k2 := p[0], p[1], p[2], p[3], p[4]
				im.affine(y, x, a, b)
				s0, s1 := im.sums(x, dy, a, b, m)
				im.apply(dx, x, dy, a, b, m, k1, k2)
				ss, sq := im.sumSq(x, m)
				var w0, w1, ws, wq float64
				for i, v := range x {
					z := float64(a)*float64(v) + float64(b)
					if math.Abs(z) < 1e-6 && z != 0 {
						continue // FMA and mul+add may round to either side
					}
					want, g := 0.0, 0.0
					if z > 0 {
						want, g = z, float64(dy[i])
					}
					wdx := float64(a) * (g - float64(k1) - (float64(v)-float64(m))*float64(k2))
					if math.Abs(float64(y[i])-want) > 1e-6*(1+math.Abs(want)) || math.Abs(float64(dx[i])-wdx) > 1e-5*(1+math.Abs(wdx)) {
						t.Fatalf("%s n=%d a,b,m=%v,%v,%v x=%v dy=%v: y=%v dx=%v, want %v %v", im.name, n, a, b, m, v, dy[i], y[i], dx[i], want, wdx)
					}
					w0 += g
					w1 += g * (float64(v) - float64(m))
					d := float64(v) - float64(m)
					ws += d
					wq += d * d
				}
				for _, c := range [][2]float64{{s0, w0}, {s1, w1}, {ss, ws}, {sq, wq}} {
					if math.Abs(c[0]-c[1]) > 1e-4*(1+math.Abs(c[1])) {
						t.Fatalf("%s n=%d: sums %v %v %v %v, want %v %v %v %v", im.name, n, s0, s1, ss, sq, w0, w1, ws, wq)
					}
				}
			}
			// dx may be dy (the backward pass may overwrite its input).
			copy(dx, dy)
			want := append([]float32(nil), y...)
			im.apply(want, x, dy, 0.9, 0.1, 0.2, 0.05, 0.3)
			im.apply(dx, x, dx, 0.9, 0.1, 0.2, 0.05, 0.3)
			for i := range dx {
				if dx[i] != want[i] {
					t.Fatalf("%s n=%d: in-place apply differs at %d", im.name, n, i)
				}
			}
		}
		// A NaN pre-activation stays NaN through the forward ReLU, so a
		// diverging run is seen.
		// Of either sign: x86's default NaN (0·∞, √−1) has its sign bit
		// set, and the Go kernel once masked it to 0 by that bit.
		x := make([]float32, 16)
		x[5] = float32(math.NaN())
		x[11] = math.Float32frombits(0xffc00000)
		y := make([]float32, 16)
		im.affine(y, x, 1, 0)
		if !math.IsNaN(float64(y[5])) || !math.IsNaN(float64(y[11])) {
			t.Errorf("%s: ReLU(NaN) = %v, ReLU(−NaN) = %v, want NaN", im.name, y[5], y[11])
		}
	}
}

func BenchmarkReLU32Kernels(b *testing.B) {
	const n = 1 << 16 // 256 KiB per slice: in L2
	x, dy, y := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range x {
		x[i], dy[i] = float32(i%7)-3, float32(i%5)-2
	}
	for _, im := range relu32Impls() {
		b.Run(im.name+"/forward", func(b *testing.B) {
			b.SetBytes(8 * n)
			for range b.N {
				im.sumSq(x, 0.1)
				im.affine(y, x, 1.1, 0.2)
			}
		})
		b.Run(im.name+"/backward", func(b *testing.B) {
			b.SetBytes(12 * n)
			for range b.N {
				im.sums(x, dy, 1.1, 0.2, 0.1)
				im.apply(y, x, dy, 1.1, 0.2, 0.1, 0.01, 0.02)
			}
		})
	}
}

// TestBatchNormFloat32MatchesFloat64 runs the BatchNorm kernels in float32
// (the fast paths) and float64 (the path the gradient checks cover) on the
// same data and compares every output: y, running statistics, dx and the
// parameter-gradient sums, in training and inference, for each activation,
// over plane sizes that exercise the vector loops and their tails.
func TestBatchNormFloat32MatchesFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	for _, tc := range []struct{ n, c, inner int }{{2, 3, 1}, {2, 5, 3}, {3, 4, 16}, {1, 2, 17}, {4, 3, 64}, {2, 2, 1024},
		{3, 7, 4}, {2, 5, 8}, {2, 3, 12}, {5, 9, 16}, {1, 3, 60}, {2, 3, 68}, {64, 37, 4},
		{9, 37, 16}, {5, 11, 64}, {3, 13, 28}, {7, 5, 48}, // many-planes kernels: inner%4 == 0, ≤ 64
		{16, 5, 4096}, {64, 260, 16}, {60, 93, 48}} { // ≥ streamMin: non-temporal stores on the AVX512 tier
		for _, act := range []Act{ReLU, ReLU6, Linear} {
			for _, training := range []bool{true, false} {
				size := tc.n * tc.c * tc.inner
				x64, dy64 := make([]float64, size), make([]float64, size)
				for i := range x64 {
					x64[i] = 3*r.NormFloat64() + 0.5
					dy64[i] = r.NormFloat64()
				}
				sc64, bi64, rm64, rv64 := make([]float64, tc.c), make([]float64, tc.c), make([]float64, tc.c), make([]float64, tc.c)
				for c := range sc64 {
					sc64[c], bi64[c], rm64[c], rv64[c] = 0.5+r.Float64(), r.NormFloat64(), 0.3*r.NormFloat64(), 1+r.Float64()
				}
				f32 := func(v []float64) []float32 {
					o := make([]float32, len(v))
					for i := range v {
						o[i] = float32(v[i])
					}
					return o
				}
				x32, dy32, sc32, bi32, rm32, rv32 := f32(x64), f32(dy64), f32(sc64), f32(bi64), f32(rm64), f32(rv64)
				// The float64 run starts from the float32-rounded inputs.
				for i := range x64 {
					x64[i], dy64[i] = float64(x32[i]), float64(dy32[i])
				}
				kernel := func() BN {
					return BN{Scratch: &Scratch{}, N: tc.n, C: tc.c, Inner: tc.inner, Momentum: 0.1, Epsilon: 1e-5, Act: act, State: NewBNState(tc.c)}
				}
				k32, k64 := kernel(), kernel()
				y32, y64 := make([]float32, size), make([]float64, size)
				dx32, dx64 := make([]float32, size), make([]float64, size)
				BNForward(k32, training, y32, x32, sc32, bi32, rm32, rv32)
				BNForward(k64, training, y64, x64, sc64, bi64, rm64, rv64)
				BNBackward(k32, dx32, x32, sc32, bi32, dy32)
				BNBackward(k64, dx64, x64, sc64, bi64, dy64)
				name := func(what string) string {
					return fmt.Sprintf("%v n=%d c=%d inner=%d training=%v: %s", act, tc.n, tc.c, tc.inner, training, what)
				}
				for i := range y64 {
					// A pre-activation within rounding of a kink may fall
					// either side in float32 (clipped outputs are checked
					// too: only the pre-activation decides).
					c := i / tc.inner % tc.c
					z := (x64[i]-k64.State.Mean[c])*k64.State.Invstd[c]*sc64[c] + bi64[c]
					if act != Linear && (math.Abs(z) < 1e-4 || math.Abs(z-6) < 1e-4) {
						continue
					}
					if d := math.Abs(float64(y32[i]) - y64[i]); d > 2e-5*(1+math.Abs(y64[i])) {
						t.Fatalf("%s = %v, float64 %v", name(fmt.Sprintf("y[%d]", i)), y32[i], y64[i])
					}
				}
				for i := range dx64 {
					if d := math.Abs(float64(dx32[i]) - dx64[i]); d > 1e-3*(1+math.Abs(dx64[i])) {
						t.Fatalf("%s = %v, float64 %v", name(fmt.Sprintf("dx[%d]", i)), dx32[i], dx64[i])
					}
				}
				for c := 0; c < tc.c; c++ {
					for _, p := range [][3]float64{{float64(rm32[c]), rm64[c], 0}, {float64(rv32[c]), rv64[c], 1}, {k32.State.SumDy[c], k64.State.SumDy[c], 2}, {k32.State.SumDyXhat[c], k64.State.SumDyXhat[c], 3}} {
						if math.Abs(p[0]-p[1]) > 1e-3*(1+math.Abs(p[1])) {
							t.Fatalf("%s: channel %d quantity %v: %v, float64 %v", name("stats"), c, p[2], p[0], p[1])
						}
					}
				}
			}
		}
	}
}

// TestStream holds the non-temporal many-planes kernels to the ones that
// store through the cache, bit for bit (the tier's: AVX2 or AVX-512), and
// checks which outputs stream.
func TestStream(t *testing.T) {
	aligned := aligned64(streamMin/4 + 16)
	for _, tc := range []struct {
		dst   []float32
		inner int
		act   Act
		want  bool
	}{
		{aligned[:streamMin/4], 16, ReLU, haveAVX2},
		{aligned[:streamMin/4], 1024, ReLU, haveAVX2},
		{aligned[:streamMin/4-16], 16, ReLU, false},   // too small
		{aligned[1 : streamMin/4+1], 16, ReLU, false}, // not aligned
		{aligned[:streamMin/4], 8, ReLU, false},       // planes not whole vectors
		{aligned[:streamMin/4], 16, ReLU6, false},
	} {
		if got := stream(tc.dst, tc.inner, tc.act); got != tc.want {
			t.Errorf("stream(len %d, inner %d, %v) = %v, want %v", len(tc.dst), tc.inner, tc.act, got, tc.want)
		}
	}
	if !haveAVX2 {
		t.Skip("the non-temporal kernels run on the AVX2 and AVX512 tiers")
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ c, inner, planes int }{{3, 16, 7}, {5, 32, 11}, {7, 1024, 9}, {4, 48, 4}, {2, 16, 1}} {
		n := tc.inner * tc.planes
		buf := func() []float32 { return aligned64(n) }
		x, dy, y1, y2, d1, d2 := buf(), buf(), buf(), buf(), buf(), buf()
		for i := range x {
			x[i], dy[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
		}
		ch := func() []float32 {
			v := make([]float32, tc.c)
			for i := range v {
				v[i] = float32(r.NormFloat64())
			}
			return v
		}
		a, b, m, k1, k2 := ch(), ch(), ch(), ch(), ch()
		c0 := tc.planes % tc.c
		affineReLUPlanes(y1, x, a, b, tc.inner, c0, tc.c, tc.planes)
		affineReLUPlanesStore(y2, x, a, b, tc.inner, c0, tc.c, tc.planes, true)
		reluApplyPlanesStore(d1, x, dy, a, b, m, k1, k2, tc.inner, c0, tc.c, tc.planes, false)
		reluApplyPlanesStore(d2, x, dy, a, b, m, k1, k2, tc.inner, c0, tc.c, tc.planes, true)
		d3 := append(aligned64(n)[:0], dy...) // dx written over dy, as the backward op may
		reluApplyPlanesStore(d3, x, d3, a, b, m, k1, k2, tc.inner, c0, tc.c, tc.planes, true)
		for i := range y1 {
			if y1[i] != y2[i] || d1[i] != d2[i] || d1[i] != d3[i] {
				t.Fatalf("c=%d inner=%d planes=%d at %d: y %v / %v, dx %v / %v / in place %v", tc.c, tc.inner, tc.planes, i, y1[i], y2[i], d1[i], d2[i], d3[i])
			}
		}
	}
}

// aligned64 returns n float32s from a 64-byte aligned start.
func aligned64(n int) []float32 {
	b := make([]float32, n+16)
	off := int(uintptr(unsafe.Pointer(&b[0]))%64) / 4
	return b[(16-off)%16:][:n]
}

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomobilenet/mobilenet/blas"
)

// stemGeometry is a one-image 3×3, stride-2 convolution of c channels
// (h×w) to o, with paddings top, bottom, left, right.
func stemGeometry(c, h, w, o, pt, pb, pl, pr int) Geom {
	return Geom{N: 1, C: c, H: h, W: w, O: o, KH: 3, KW: 3, SH: 2, SW: 2, PT: pt, PB: pb, PL: pl, PR: pr,
		Ho: (h+pt+pb-3)/2 + 1, Wo: (w+pl+pr-3)/2 + 1}
}

// TestStem checks the stem kernel (the AVX-512 row kernels on that tier,
// the Go one elsewhere) against the definition in float64: every output
// within 1e-5 of the sum of its terms' magnitudes (float32 sums of 36 terms
// at most: a few ulps each, with room), on odd and even sizes, both left
// paddings, rows of fewer and more than 7 blocks of 16, partial groups of
// output channels, each activation, batch of one image, a buffer of NaNs
// given.
func TestStem(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, tc := range []struct {
		g     Geom
		act   Act
		round bool // the inputs rounded to bf16 as they are split
	}{
		{stemGeometry(3, 224, 224, 16, 1, 1, 1, 1), ReLU, false}, // the 224 stem, alpha 0.5: 112 columns, 7 blocks, direct stores
		{stemGeometry(3, 224, 224, 16, 0, 1, 0, 1), ReLU, false}, // TF's "same" padding
		{stemGeometry(3, 17, 23, 5, 1, 1, 1, 1), ReLU6, false},   // odd sizes, a partial channel group
		{stemGeometry(1, 9, 8, 4, 0, 0, 0, 0), Linear, false},    // one channel, no padding
		{stemGeometry(4, 20, 261, 9, 1, 1, 1, 1), ReLU, false},   // 131 columns: 9 blocks, two calls a row
		{stemGeometry(2, 5, 3, 3, 1, 1, 1, 1), ReLU6, false},     // a tiny map
		{stemGeometry(3, 64, 64, 32, 1, 1, 1, 1), ReLU, false},   // 32 columns
		{stemGeometry(3, 33, 40, 6, 1, 1, 1, 1), ReLU, true},     // bf16: the inputs rounded
	} {
		g := tc.g
		t.Run(fmt.Sprintf("%v act%d round %v", g, tc.act, tc.round), func(t *testing.T) {
			x := randFloats(r, g.C*g.H*g.W)
			k := randFloats(r, g.O*g.C*9)
			bias := randFloats(r, g.O)
			s, err := NewStem(g, k, bias, tc.act, tc.round)
			if err != nil {
				t.Fatal(err)
			}
			y := make([]float32, g.O*g.Ho*g.Wo)
			buf := make([]float32, s.BufSize())
			for i := range buf { // Run writes every place it reads
				buf[i] = float32(math.NaN())
			}
			for run := 0; run < 2; run++ { // the buffer reused: the same answer
				s.Run(y, x, buf)
				for o := 0; o < g.O; o++ {
					for oy := 0; oy < g.Ho; oy++ {
						for ox := 0; ox < g.Wo; ox++ {
							sum, mag := float64(bias[o]), math.Abs(float64(bias[o]))
							for c := 0; c < g.C; c++ {
								for ky := 0; ky < 3; ky++ {
									for kx := 0; kx < 3; kx++ {
										iy, ix := 2*oy-g.PT+ky, 2*ox-g.PL+kx
										if iy < 0 || iy >= g.H || ix < 0 || ix >= g.W {
											continue
										}
										xv := x[(c*g.H+iy)*g.W+ix]
										if tc.round {
											xv = blas.RoundBF16(xv)
										}
										v := float64(k[((o*g.C+c)*3+ky)*3+kx]) * float64(xv)
										sum += v
										mag += math.Abs(v)
									}
								}
							}
							want := activate(tc.act, sum)
							got := float64(y[(o*g.Ho+oy)*g.Wo+ox])
							if math.Abs(got-want) > 1e-5*mag+1e-30 || math.IsNaN(got) {
								t.Fatalf("run %d: y[%d][%d][%d] = %v, want %v", run, o, oy, ox, got, want)
							}
						}
					}
				}
			}
		})
	}
	if _, err := NewStem(Geom{N: 1, C: 5, H: 8, W: 8, O: 2, KH: 3, KW: 3, SH: 2, SW: 2, Ho: 3, Wo: 3}, make([]float32, 90), nil, ReLU, false); err == nil {
		t.Error("NewStem took 5 input channels")
	}
}

// TestStemGrad checks the stem's weight gradient (the AVX-512 kernels on
// that tier, the Go one elsewhere) against the definition in float64, on
// the geometries TestStem takes (the 224 stem, odd sizes, rows of more
// than 7 blocks, partial channel groups, widths that are not whole blocks,
// bf16 rounding of both operands), a buffer of NaNs given. Add adds to dw:
// it starts random. Tolerance from the arithmetic: each lane sums Ho·wb
// products with one rounding each, then 16 lanes and dw's value are added,
// each rounding within 2⁻²⁴ of the magnitudes summed so far.
func TestStemGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(47, 48))
	for _, tc := range []struct {
		g     Geom
		round bool
	}{
		{stemGeometry(3, 224, 224, 16, 1, 1, 1, 1), false}, // the 224 stem, alpha 0.5: dY read in place
		{stemGeometry(3, 224, 224, 16, 1, 1, 1, 1), true},  // the same in bf16: dY through the tile, rounded
		{stemGeometry(3, 224, 224, 8, 0, 1, 0, 1), false},  // TF's "same" padding
		{stemGeometry(3, 17, 23, 5, 1, 1, 1, 1), false},    // odd sizes, a partial channel group
		{stemGeometry(1, 9, 8, 4, 0, 0, 0, 0), true},       // one channel (9 taps: 6 + 3), no padding
		{stemGeometry(4, 20, 261, 9, 1, 1, 1, 1), false},   // 131 columns: 9 blocks
		{stemGeometry(2, 5, 3, 3, 1, 1, 1, 1), true},       // a tiny map
		{stemGeometry(3, 64, 64, 32, 1, 1, 1, 1), false},   // 32 columns
		{stemGeometry(3, 33, 40, 6, 1, 1, 1, 1), true},     // bf16, a partial group
	} {
		g := tc.g
		t.Run(fmt.Sprintf("%v round %v", g, tc.round), func(t *testing.T) {
			x := randFloats(r, g.C*g.H*g.W)
			dy := randFloats(r, g.O*g.Ho*g.Wo)
			dw0 := randFloats(r, g.O*g.C*9)
			s, err := NewStemGrad(g, tc.round)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]float32, s.BufSize())
			for i := range buf { // Add writes every place it reads
				buf[i] = float32(math.NaN())
			}
			var first []float32
			for run := 0; run < 2; run++ { // the buffer reused: the same bits
				dw := slices.Clone(dw0)
				s.Add(dw, dy, x, buf)
				if run == 1 && !slices.Equal(dw, first) {
					t.Fatal("a second call gave other bits")
				}
				first = dw
			}
			rnd := func(v float32) float64 {
				if tc.round {
					v = blas.RoundBF16(v)
				}
				return float64(v)
			}
			wb := (g.Wo + 15) / 16
			for o := 0; o < g.O; o++ {
				for c := 0; c < g.C; c++ {
					for ky := 0; ky < 3; ky++ {
						for kx := 0; kx < 3; kx++ {
							i := ((o*g.C+c)*3+ky)*3 + kx
							sum, mag := float64(dw0[i]), math.Abs(float64(dw0[i]))
							for oy := 0; oy < g.Ho; oy++ {
								for ox := 0; ox < g.Wo; ox++ {
									iy, ix := 2*oy-g.PT+ky, 2*ox-g.PL+kx
									if iy < 0 || iy >= g.H || ix < 0 || ix >= g.W {
										continue
									}
									v := rnd(dy[(o*g.Ho+oy)*g.Wo+ox]) * rnd(x[(c*g.H+iy)*g.W+ix])
									sum += v
									mag += math.Abs(v)
								}
							}
							got := float64(first[i])
							if tol := float64(g.Ho*wb+16+1) * 0x1p-24 * mag; math.Abs(got-sum) > tol || math.IsNaN(got) {
								t.Fatalf("dw[%d][%d][%d][%d] = %v, want %v ± %.3g", o, c, ky, kx, got, sum, tol)
							}
						}
					}
				}
			}
		})
	}
	if _, err := NewStemGrad(Geom{N: 1, C: 5, H: 8, W: 8, O: 2, KH: 3, KW: 3, SH: 2, SW: 2, Ho: 3, Wo: 3}, false); err == nil {
		t.Error("NewStemGrad took 5 input channels")
	}
}

// TestStemRound: the split's inlined rounding is blas.RoundBF16, bit for
// bit, on random values, ties, the largest finite values (to ±Inf), the
// infinities, signed zeros, subnormals and NaN (quiet, sign kept).
func TestStemRound(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	vals := []float32{0, float32(math.Copysign(0, -1)), 1, -1, math.MaxFloat32, -math.MaxFloat32, float32(math.Inf(1)), float32(math.Inf(-1)),
		math.Float32frombits(0x3f808000), math.Float32frombits(0x3f818000), math.Float32frombits(0x00000001), math.Float32frombits(0x807fffff),
		math.Float32frombits(0x7fc00000), math.Float32frombits(0xff800001), math.Float32frombits(0x7f800001)}
	for range 10000 {
		vals = append(vals, math.Float32frombits(r.Uint32()))
	}
	for _, v := range vals {
		got, want := roundBF16(v), blas.RoundBF16(v)
		if math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("roundBF16(%#08x) = %#08x, want %#08x", math.Float32bits(v), math.Float32bits(got), math.Float32bits(want))
		}
	}
}

// TestStemSplit: the split of a row into its even and odd columns (16
// pairs at a time on AVX-512, the rest in Go), rounded to bf16 or not,
// gives blas.RoundBF16's bits (or the values themselves), on special values
// (ties, overflow to ±Inf, subnormals, NaN) and random ones, odd lengths.
func TestStemSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	special := []uint32{0, 0x80000000, 0x3f800000, 0x3f808000, 0x3f818000, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000,
		0x00000001, 0x807fffff, 0x7fc00000, 0xff800001, 0x7f800001, 0x7fffffff, 0x3f807fff}
	for _, w := range []int{1, 2, 31, 32, 33, 64, 95, 224} {
		src := make([]float32, w)
		for i := range src {
			if i < len(special) && r.IntN(2) == 0 {
				src[i] = math.Float32frombits(special[i])
			} else {
				src[i] = math.Float32frombits(r.Uint32())
			}
		}
		for _, round := range []bool{false, true} {
			ne, no := (w+1)/2, w/2
			ev, od := make([]float32, ne), make([]float32, no)
			done := stemSplit(ev, od, src, round)
			for m := done; m < no; m++ { // the caller's part, as Stem.Run does it
				ev[m], od[m] = src[2*m], src[2*m+1]
				if round {
					ev[m], od[m] = roundBF16(ev[m]), roundBF16(od[m])
				}
			}
			if ne > no {
				ev[ne-1] = src[w-1]
				if round {
					ev[ne-1] = roundBF16(ev[ne-1])
				}
			}
			for i, v := range src {
				want := v
				if round {
					want = blas.RoundBF16(v)
				}
				got := ev[i/2]
				if i%2 == 1 {
					got = od[i/2]
				}
				if math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("width %d, round %v: column %d (%#08x) split as %#08x, want %#08x", w, round, i, math.Float32bits(v), math.Float32bits(got), math.Float32bits(want))
				}
			}
		}
	}
}

package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/gomobilenet/mobilenet/internal/cpu"
	"github.com/gomobilenet/mobilenet/internal/testenv"
)

// bf16Ref is float32 → bfloat16 by its definition, in float64 arithmetic:
// the nearest bf16 value (ties to the even mantissa), ±Inf past the largest
// finite one, NaN for NaN.
func bf16Ref(x float32) float32 {
	if x != x {
		return x
	}
	v := float64(x)
	if v == 0 || math.IsInf(v, 0) {
		return x
	}
	// bf16 spacing at |v|: 2^(e−7) for normal numbers, 2^−133 below 2^−126.
	e := math.Floor(math.Log2(math.Abs(v)))
	if e < -126 {
		e = -126
	}
	q := math.Ldexp(1, int(e)-7)
	r := math.RoundToEven(v/q) * q
	if math.Abs(r) > math.Ldexp(255.0/128, 127) { // past bf16's largest finite value
		return float32(math.Inf(int(math.Copysign(1, v))))
	}
	return float32(r)
}

// TestRoundBF16 holds the rounding (Go's and the AVX512-BF16 assembly's)
// to the definition: ties to even both ways, the carry into the exponent,
// subnormals, the largest values and overflow, ±0, ±Inf and NaN, and
// random values of every magnitude.
func TestRoundBF16(t *testing.T) {
	vals := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 1 + 1.0/256, 1 + 3.0/256, 1 + 1.0/512, 1 + 3.0/512, 1.9999999,
		math.MaxFloat32, -math.MaxFloat32, 3.3895314e38, 3.38e38, math.SmallestNonzeroFloat32, 1e-39, -1e-39, 1.1754942e-38,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 65504, 0.1, -0.3}
	r := rand.New(rand.NewPCG(15, 16))
	for len(vals) < 4096 {
		vals = append(vals, math.Float32frombits(r.Uint32()))
	}
	for _, x := range vals {
		got, want := RoundBF16(x), bf16Ref(x)
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("RoundBF16(%v [%#08x]) = %v [%#08x], want %v [%#08x]", x, math.Float32bits(x), got, math.Float32bits(got), want, math.Float32bits(want))
		}
	}
	if !cpu.Active().BF16() {
		testenv.Need(t, "avx512-bf16", false, "no AVX512-BF16 tier on this CPU (or MOBILENET_KERNELS below it): the conversion kernels do not run")
	}
	testenv.Ran(t, "avx512-bf16")
	checkConversionKernels(t, vals)
}

// TestGemmBF16 holds GemmBF16 (AMX tiles on the avx512-amx tier, the
// emulation elsewhere) to the float64 definition on the bf16-rounded
// inputs: every transpose, sizes around the 32×32 blocks, the 32-deep
// blocks and the 512-column packing (1, 17, 31, 32, 33, 513, …), batch 1,
// odd depths, alpha and beta including 0 and 1, leading dimensions above
// the minimum; elements outside C untouched.
//
// Tolerance: a bf16 product is exact in float32 (two 8-bit mantissas), so
// against the definition on rounded inputs only the float32 sums err — the
// float32 GEMM's tolerance (tolerance_test.go), λ·√(k+2)·u·S with S from
// the rounded inputs. That the inputs are rounded shows in a second check:
// against the unrounded inputs the results differ by far more than that.
func TestGemmBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	switch cpu.Active() {
	case cpu.AVX512AMX:
		testenv.Ran(t, "avx512-amx")
	case cpu.AVX512BF16:
		testenv.Ran(t, "avx512-bf16")
	}
	t.Logf("bf16 products in hardware: %v (tier %s)", HaveBF16(), cpu.Active())
	// {64, 16, 40}, {70, 48, 33}, {32, 560, 64}: edges of 16 columns (on tiles of their own), rows 32 and fewer.
	shapes := [][3]int{{1, 1, 1}, {32, 32, 32}, {31, 33, 17}, {33, 31, 64}, {64, 513, 96}, {1, 700, 33}, {97, 1, 65}, {40, 64, 1}, {65, 1100, 300}, {7, 5, 0}, {64, 16, 40}, {70, 48, 33}, {32, 560, 64}}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			for _, ab := range [][2]float32{{1, 0}, {1, 1}, {0.5, -0.75}, {0, 2}} {
				tA, tB := tr[0], tr[1]
				lda, ldb, ldc := k+3, n+2, n+5
				if tA {
					lda = m + 1
				}
				if tB {
					ldb = k + 4
				}
				rows := func(r, ld int) []float64 { return randNormal(rng, r, ld) }
				a, b, c := rows(max(m, k), lda), rows(max(k, n), ldb), rows(m, ldc)
				ra, rb := roundAll(a), roundAll(b)
				want := f64(to32(c))
				naiveGemm(tA, tB, m, n, k, float64(ab[0]), ra, lda, rb, ldb, float64(ab[1]), want, ldc)
				scale := sumScale(tA, tB, m, n, k, float64(ab[0]), ra, lda, rb, ldb, float64(ab[1]), c, ldc)
				unrounded := f64(to32(c))
				naiveGemm(tA, tB, m, n, k, float64(ab[0]), f64(to32(a)), lda, f64(to32(b)), ldb, float64(ab[1]), unrounded, ldc)
				got := to32(c)
				GemmBF16(tA, tB, m, n, k, ab[0], to32(a), lda, to32(b), ldb, ab[1], got, ldc)
				check := func(name string, got []float32) {
					apart := 0.0
					for i := range want {
						if i%ldc >= n {
							if got[i] != float32(c[i]) {
								t.Fatalf("%s: wrote c[%d] outside the matrix", name, i)
							}
							continue
						}
						if d := math.Abs(float64(got[i]) - want[i]); d > tol32(k, scale[i]) {
							t.Fatalf("%s: c[%d] = %v, want %v (%.3g of √(k+2)·u·S)", name, i, got[i], want[i], d/(math.Sqrt(float64(k+2))*u32*scale[i]))
						}
						apart = math.Max(apart, math.Abs(float64(got[i])-unrounded[i])/(math.Sqrt(float64(k+2))*u32*scale[i]+1e-300))
					}
					if k >= 16 && ab[0] != 0 && apart < 4*lambda {
						t.Fatalf("%s: within %.3g units of the product of unrounded inputs: the inputs were not rounded to bf16", name, apart)
					}
				}
				check(fmt.Sprintf("GemmBF16 %v tA=%v tB=%v alpha,beta=%v", s, tA, tB, ab), got)
				if ab[0] == 1 { // GemmPackedBF16: alpha 1, A packed once for two products
					p := PackBF16(nil, tA, m, k, to32(a), lda)
					for range 2 {
						got := to32(c)
						GemmPackedBF16(p, tB, n, to32(b), ldb, ab[1], got, ldc)
						check(fmt.Sprintf("GemmPackedBF16 %v tA=%v tB=%v beta=%v", s, tA, tB, ab[1]), got)
					}
				}
			}
		}
	}
}

func roundAll(x []float64) []float64 {
	r := make([]float64, len(x))
	for i, v := range x {
		r[i] = float64(RoundBF16(float32(v)))
	}
	return r
}

// TestGemmBF16ThreadSweep: GemmBF16 splits C at multiples of 32 columns
// (or rows), the kernels' blocks, each summing its full depth in one
// order: the same bits at 1, 2, 3, 7 and 64 threads.
func TestGemmBF16ThreadSweep(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for _, s := range [][3]int{{96, 2080, 33}, {1100, 40, 64}, {64, 4096, 24}} {
		m, n, k := s[0], s[1], s[2]
		a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		for _, v := range [][]float32{a, b, c} {
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
		}
		var ref []float32
		for _, procs := range []int{1, 2, 3, 7, 64} {
			prev := runtime.GOMAXPROCS(procs)
			got := append([]float32(nil), c...)
			GemmBF16(false, false, m, n, k, 1, a, k, b, n, 1, got, n)
			runtime.GOMAXPROCS(prev)
			if procs == 1 {
				ref = got
				continue
			}
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(ref[i]) {
					t.Fatalf("%v, %d threads: c[%d] = %v, %v on one thread", s, procs, i, got[i], ref[i])
				}
			}
		}
	}
}

// TestRoundBF16Slice: the slice form rounds each element as RoundBF16 does
// (ties to even, infinities, NaN kept NaN).
func TestRoundBF16Slice(t *testing.T) {
	x := []float32{1, 1 + 1.0/256, 1 + 3.0/256, -2.5e-38, float32(math.Inf(-1)), float32(math.NaN()), 3.14159, 65504, 1e-45}
	got := append([]float32(nil), x...)
	RoundBF16Slice(got)
	for i, v := range x {
		want := RoundBF16(v)
		if math.Float32bits(got[i]) != math.Float32bits(want) {
			t.Errorf("%g: %g, want %g", v, got[i], want)
		}
	}
	if got[1] != 1 || got[2] != 1+4.0/256 { // ties to even: 1+1/256 → 1, 1+3/256 → 1+4/256
		t.Errorf("ties: %g %g", got[1], got[2])
	}
}

// TestGemmNTBatchBF16 holds the batched product read in place to GemmBF16
// of the gathered matrices [A_0 … A_ns−1]·[B_0 … B_ns−1]ᵀ — the same bits:
// the same depth order and kernels — and to the float64 definition on
// bf16-rounded inputs, on odd shapes, one sample, padded rows and strides,
// the 4×4 and 2×2 maps of MobileNet's weight gradient, and 1, 2 and 3
// threads.
func TestGemmNTBatchBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, s := range [][4]int{{1, 1, 1, 1}, {5, 7, 3, 2}, {33, 40, 16, 3}, {70, 48, 4, 9}, {32, 16, 16, 1}, {64, 97, 5, 13}, {384, 384, 16, 128}, {768, 768, 4, 128}} {
		m, n, k, ns := s[0], s[1], s[2], s[3]
		for _, pad := range []int{0, 3} {
			lda, ldb := k+pad, k+2*pad
			sa, sb := m*lda+pad, n*ldb+5*pad
			a, b := make([]float32, ns*sa), make([]float32, ns*sb)
			for _, v := range [][]float32{a, b} {
				for i := range v {
					v[i] = float32(rng.NormFloat64())
				}
			}
			depth := ns * k
			ga, gb := make([]float32, m*depth), make([]float32, n*depth)
			gatherRows(ga, m, k, ns, a, lda, sa)
			gatherRows(gb, n, k, ns, b, ldb, sb)
			want := make([]float32, m*n)
			GemmBF16(false, true, m, n, depth, 1, ga, depth, gb, depth, 0, want, n)
			ref := make([]float64, m*n)
			naiveGemm(false, true, m, n, depth, 1, roundAll(f64(ga)), depth, roundAll(f64(gb)), depth, 0, ref, n)
			scale := sumScale(false, true, m, n, depth, 1, f64(ga), depth, f64(gb), depth, 0, make([]float64, m*n), n)
			for _, procs := range []int{1, 2, 3} {
				prev := runtime.GOMAXPROCS(procs)
				ldc := n + 1
				got := make([]float32, m*ldc)
				for i := range got {
					got[i] = float32(i) // overwritten inside the matrix (beta 0), kept outside
				}
				poisonBF16Pool()
				GemmNTBatchBF16(m, n, k, ns, a, lda, sa, b, ldb, sb, got, ldc)
				runtime.GOMAXPROCS(prev)
				for i := 0; i < m; i++ {
					if got[i*ldc+n] != float32(i*ldc+n) {
						t.Fatalf("%v pad %d, %d threads: wrote c[%d][%d], outside the matrix", s, pad, procs, i, n)
					}
					for j := 0; j < n; j++ {
						g, w := got[i*ldc+j], want[i*n+j]
						if math.Float32bits(g) != math.Float32bits(w) {
							t.Fatalf("%v pad %d, %d threads: c[%d][%d] = %v, GemmBF16 of the gathered matrices %v", s, pad, procs, i, j, g, w)
						}
						if d := math.Abs(float64(g) - ref[i*n+j]); d > tol32(depth, scale[i*n+j]) {
							t.Fatalf("%v pad %d: c[%d][%d] = %v, want %v", s, pad, i, j, g, ref[i*n+j])
						}
					}
				}
			}
		}
	}
}

package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// bf16Operand returns a random rows×cols matrix (rows ld apart, the
// padding NaN) rounded to bf16, as float32 and as its bf16 bits.
func bf16Operand(rng *rand.Rand, rows, cols, ld int) ([]float32, []uint16) {
	f := make([]float32, max(rows*ld, 1))
	for i := range f {
		f[i] = float32(math.NaN())
	}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			f[i*ld+j] = RoundBF16(float32(rng.NormFloat64()))
		}
	}
	h := make([]uint16, len(f))
	ToBF16(h, f)
	return f, h
}

// TestToBF16: ToBF16 gives RoundBF16's bits, vectors and tails alike (NaN,
// ±Inf, ties, values past bf16's range); FromBF16 gives the values back.
func TestToBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.Float32frombits(0x3f808000), math.Float32frombits(0x3f818000), math.MaxFloat32, math.SmallestNonzeroFloat32}
	for _, n := range []int{0, 1, 31, 32, 33, 64, 100} {
		src := make([]float32, n)
		for i := range src {
			if i < len(special) && n > 40 {
				src[i] = special[i]
				continue
			}
			src[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(20)-10)))
		}
		dst := make([]uint16, n+1)
		dst[n] = 0xbeef
		ToBF16(dst, src)
		back := make([]float32, n)
		FromBF16(back, dst[:n])
		for i, v := range src {
			if dst[i] != toBF16(v) {
				t.Fatalf("n %d: [%d] %v: %#04x, want %#04x", n, i, v, dst[i], toBF16(v))
			}
			if r := RoundBF16(v); math.Float32bits(back[i]) != math.Float32bits(r) && !(r != r && back[i] != back[i]) {
				t.Fatalf("n %d: [%d] back %v, want %v", n, i, back[i], r)
			}
		}
		if dst[n] != 0xbeef {
			t.Fatalf("n %d: wrote past src's length", n)
		}
	}
}

// TestGemmFrom16: the products whose B is given in bf16 equal, bit for bit,
// the float32 entry points on the same values (which round them to
// themselves), on odd shapes, one column or one depth, both layouts of B,
// padded rows, alpha and beta, on every thread count of the batched one.
func TestGemmFrom16(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range [][3]int{{1, 1, 1}, {3, 5, 7}, {32, 32, 32}, {33, 17, 40}, {70, 257, 65}, {64, 16, 384}, {5, 1030, 3}} {
		m, n, k := s[0], s[1], s[2]
		for _, tB := range []bool{false, true} {
			for _, ab := range [][2]float32{{1, 0}, {1, 1}, {0.5, 2}} {
				alpha, beta := ab[0], ab[1]
				name := fmt.Sprintf("%v tB %v alpha %g beta %g", s, tB, alpha, beta)
				a := make([]float32, m*k)
				for i := range a {
					a[i] = float32(rng.NormFloat64())
				}
				rows, cols := k, n
				if tB {
					rows, cols = n, k
				}
				ldb := cols + 3
				bf, bh := bf16Operand(rng, rows, cols, ldb)
				c0 := make([]float32, m*(n+1))
				for i := range c0 {
					c0[i] = float32(rng.NormFloat64())
				}
				want, got := append([]float32(nil), c0...), append([]float32(nil), c0...)
				GemmBF16x1(false, tB, m, n, k, alpha, a, k, bf, ldb, beta, want, n+1)
				poisonBF16Pool()
				GemmBF16x1From16(false, tB, m, n, k, alpha, a, k, bh, ldb, beta, got, n+1)
				sameBits(t, name+": GemmBF16x1From16", got, want)
				if tB || alpha != 1 {
					continue
				}
				p := PackBF16(nil, false, m, k, a, k)
				want, got = append([]float32(nil), c0...), append([]float32(nil), c0...)
				GemmPackedBF16(p, false, n, bf, ldb, beta, want, n+1)
				poisonBF16Pool()
				GemmPackedBF16From16(p, n, bh, ldb, beta, got, n+1)
				sameBits(t, name+": GemmPackedBF16From16", got, want)
			}
		}
	}
	for _, s := range [][4]int{{1, 1, 1, 1}, {5, 7, 3, 2}, {33, 40, 16, 3}, {70, 48, 4, 9}, {32, 16, 16, 1}, {64, 97, 5, 13}, {96, 130, 16, 127}} {
		m, n, k, ns := s[0], s[1], s[2], s[3]
		lda, ldb := k+1, k+2
		sa, sb := m*lda+3, n*ldb+5
		a := make([]float32, ns*sa)
		for i := range a {
			a[i] = float32(rng.NormFloat64())
		}
		bf, bh := bf16Operand(rng, (ns*sb+ldb-1)/ldb, ldb, ldb) // every value of every B_s, padding too
		for _, procs := range []int{1, 2, 3} {
			prev := runtime.GOMAXPROCS(procs)
			want, got := make([]float32, m*n), make([]float32, m*n)
			GemmNTBatchBF16(m, n, k, ns, a, lda, sa, bf, ldb, sb, want, n)
			poisonBF16Pool()
			GemmNTBatchBF16From16(m, n, k, ns, a, lda, sa, bh, ldb, sb, got, n)
			runtime.GOMAXPROCS(prev)
			sameBits(t, fmt.Sprintf("GemmNTBatchBF16From16 %v, %d threads", s, procs), got, want)
		}
	}
}

func sameBits(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: [%d] = %v, want %v", name, i, got[i], want[i])
		}
	}
}

package blas

import (
	"math/rand/v2"
	"testing"
)

// TestTranspose holds Transpose to its definition on random blocks (whole
// 16×16 tiles, ragged edges, widths past the rows, no rows), the
// destination's other elements untouched.
func TestTranspose(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := [][3]int{{16, 16, 16}, {1, 1, 1}, {3, 5, 16}, {16, 32, 64}, {37, 45, 48}, {0, 20, 16}, {5, 224, 16}, {17, 33, 17}, {64, 16, 64}}
	for range 20 {
		r, c := rng.IntN(40), 1+rng.IntN(70)
		cases = append(cases, [3]int{r, c, r + rng.IntN(20)})
	}
	for _, cs := range cases {
		rows, cols, width := cs[0], cs[1], cs[2]
		if width == 0 {
			width = 1
		}
		lds, ldd := cols+rng.IntN(5), width+rng.IntN(5)
		src := make([]float32, max(rows*lds, 1))
		for i := range src {
			src[i] = rng.Float32()
		}
		dst := make([]float32, cols*ldd)
		for i := range dst {
			dst[i] = -1
		}
		Transpose(dst, ldd, src, lds, rows, cols, width)
		for r := range cols {
			for i := range ldd {
				want := float32(-1) // past width: untouched
				switch {
				case i < rows:
					want = src[i*lds+r]
				case i < width:
					want = 0
				}
				if got := dst[r*ldd+i]; got != want {
					t.Fatalf("%d×%d, width %d (lds %d, ldd %d): dst[%d][%d] = %g, want %g", rows, cols, width, lds, ldd, r, i, got, want)
				}
			}
		}
	}
}

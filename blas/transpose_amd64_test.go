//go:build amd64 && !purego

package blas

import (
	"testing"

	"github.com/gomobilenet/mobilenet/internal/testenv"
)

// TestTranspose16 holds the AVX-512 transpose to its definition for every
// row count and width, with padded strides, and checks that it writes
// nothing past w.
func TestTranspose16(t *testing.T) {
	testenv.Need(t, "avx512", haveAVX512, "no AVX-512 tier on this CPU (or MOBILENET_KERNELS below it)")
	const lds, ldd = 19, 21
	src := make([]float32, 16*lds)
	for i := range src {
		src[i] = float32(i + 1)
	}
	for n := 1; n <= 16; n++ {
		for w := 1; w <= 16; w++ {
			dst := make([]float32, 16*ldd)
			for i := range dst {
				dst[i] = -1
			}
			transpose16(&dst[0], ldd, &src[0], lds, n, w)
			for r := 0; r < 16; r++ {
				for i := 0; i < ldd; i++ {
					want := float32(-1)
					switch {
					case i < w && i < n:
						want = src[i*lds+r]
					case i < w:
						want = 0
					}
					if got := dst[r*ldd+i]; got != want {
						t.Fatalf("n %d w %d: dst[%d][%d] = %v, want %v", n, w, r, i, got, want)
					}
				}
			}
		}
	}
}

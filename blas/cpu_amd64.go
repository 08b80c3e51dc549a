//go:build amd64 && !purego

package blas

import "github.com/gomobilenet/mobilenet/internal/cpu"

// haveAVX2 and haveAVX512 report which micro-kernels run: the tier
// internal/cpu chose (the CPU's best, or MOBILENET_KERNELS).
var (
	haveAVX2   = cpu.Active() >= cpu.AVX2
	haveAVX512 = cpu.Active() >= cpu.AVX512
)

//go:noescape
func sgemm6x16(k int, a, b, c *float32, ldc int, alpha float32, ldb int)

//go:noescape
func sgemm12x32AVX512(k int, a, b, c *float32, ldc int, alpha float32, ldb int)

//go:noescape
func sgemm8x32AVX512(k int, a, b, c *float32, ldc int, alpha float32, ldb int)

//go:noescape
func sgemm6x64AVX512(k int, a, b, c *float32, ldc int, alpha float32, ldb int)

//go:noescape
func sgemm14x32AVX512(k int, a, b, c *float32, ldc int, alpha float32, ldb int)

//go:noescape
func sgemm8x48AVX512(k int, a, b, c *float32, ldc int, alpha float32, ldb int)

//go:noescape
func sgemm6x16Set(k int, a, b, c *float32, ldc int, alpha float32, ldb int)

//go:noescape
func sgemm12x32AVX512Set(k int, a, b, c *float32, ldc int, alpha float32, ldb int)

//go:noescape
func sgemm8x32AVX512Set(k int, a, b, c *float32, ldc int, alpha float32, ldb int)

//go:noescape
func sgemm6x64AVX512Set(k int, a, b, c *float32, ldc int, alpha float32, ldb int)

//go:noescape
func sgemm14x32AVX512Set(k int, a, b, c *float32, ldc int, alpha float32, ldb int)

//go:noescape
func sgemm8x48AVX512Set(k int, a, b, c *float32, ldc int, alpha float32, ldb int)

//go:noescape
func sgemm16x16AVX512(k int, a, b, c *float32, ldc int, alpha float32, ldb int)

//go:noescape
func sgemm16x16AVX512Set(k int, a, b, c *float32, ldc int, alpha float32, ldb int)

// transpose16 (transpose_amd64.s, AVX-512): dst[r·ldd+i] = src[i·lds+r]
// for r < 16, i < w, source rows i ≥ n read as zero.
//
//go:noescape
func transpose16(dst *float32, ldd int, src *float32, lds int, n, w int)

// sgemmNT6x4AVX512 (sgemm_nt_avx512_amd64.s): C[i][j] += alpha·Σ_(s<ns)
// Σ_(p<k) a[s·sa+i·lda+p]·b[s·sb+j·ldb+p] for i < 6, j < 4.
//
//go:noescape
func sgemmNT6x4AVX512(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha float32, ns, sa, sb int)

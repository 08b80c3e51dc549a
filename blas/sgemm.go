package blas

import "sync"

// A float32 GEMM for the pure-Go backend on CPUs with AVX2 and FMA: the
// usual blocked scheme (Goto and van de Geijn, 2008) — op(B) packed in
// kc×nc blocks of 16-column panels, op(A) in mc×kc blocks of 6-row panels,
// and a 6×16 assembly micro-kernel that keeps the tile of C in twelve
// registers. Edge tiles go through a small buffer. Single-threaded: Gemm
// splits the product over goroutines.

const (
	gemmMR = 6    // rows of the micro-kernel's tile
	gemmNR = 16   // columns
	gemmKC = 256  // depth of a packed block
	gemmMC = 96   // rows of a packed block of A (a multiple of MR)
	gemmNC = 2048 // columns of a packed block of B (a multiple of NR)
)

// gemmBufs are the packing buffers of one call, pooled across calls.
type gemmBufs struct {
	a, b []float32
	tile [gemmMR * gemmNR]float32
}

var gemmPool = sync.Pool{New: func() any {
	return &gemmBufs{a: make([]float32, gemmMC*gemmKC), b: make([]float32, gemmKC*gemmNC)}
}}

// sgemmAVX2 computes C = alpha·op(A)·op(B) + beta·C (row-major).
func sgemmAVX2(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if beta != 1 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			if beta == 0 {
				clear(row)
				continue
			}
			for j := range row {
				row[j] *= beta
			}
		}
	}
	if k == 0 || alpha == 0 {
		return
	}
	bufs := gemmPool.Get().(*gemmBufs)
	defer gemmPool.Put(bufs)
	for jc := 0; jc < n; jc += gemmNC {
		nb := min(gemmNC, n-jc)
		for pc := 0; pc < k; pc += gemmKC {
			kb := min(gemmKC, k-pc)
			packB(bufs.b, tB, b, ldb, pc, jc, kb, nb)
			for ic := 0; ic < m; ic += gemmMC {
				mb := min(gemmMC, m-ic)
				packA(bufs.a, tA, a, lda, ic, pc, mb, kb)
				for i0 := 0; i0 < mb; i0 += gemmMR {
					ap := &bufs.a[i0*kb]
					for j0 := 0; j0 < nb; j0 += gemmNR {
						bp := &bufs.b[j0*kb]
						ci := (ic+i0)*ldc + jc + j0
						if i0+gemmMR <= mb && j0+gemmNR <= nb {
							_ = c[ci+(gemmMR-1)*ldc+gemmNR-1] // the kernel writes the whole tile
							sgemm6x16(kb, ap, bp, &c[ci], ldc, alpha)
							continue
						}
						// Edge tile: compute into the buffer, add the valid part.
						clear(bufs.tile[:])
						sgemm6x16(kb, ap, bp, &bufs.tile[0], gemmNR, alpha)
						for i := 0; i < min(gemmMR, mb-i0); i++ {
							row := c[ci+i*ldc : ci+i*ldc+min(gemmNR, nb-j0)]
							for j := range row {
								row[j] += bufs.tile[i*gemmNR+j]
							}
						}
					}
				}
			}
		}
	}
}

// packB writes op(B)[pc:pc+kb, jc:jc+nb] as 16-column panels, each k-major
// (panel p, row r, column j at p·kb·16 + r·16 + j), zero past column nb.
func packB(dst []float32, tB bool, b []float32, ldb, pc, jc, kb, nb int) {
	for j0 := 0; j0 < nb; j0 += gemmNR {
		panel := dst[j0*kb : j0*kb+kb*gemmNR]
		w := min(gemmNR, nb-j0)
		for r := 0; r < kb; r++ {
			out := panel[r*gemmNR : r*gemmNR+gemmNR]
			if !tB {
				row := b[(pc+r)*ldb+jc+j0:]
				copy(out[:w], row[:w])
			} else {
				for j := 0; j < w; j++ {
					out[j] = b[(jc+j0+j)*ldb+pc+r]
				}
			}
			clear(out[w:])
		}
	}
}

// packA writes op(A)[ic:ic+mb, pc:pc+kb] as 6-row panels, each k-major
// (panel p, column r, row i at p·kb·6 + r·6 + i), zero past row mb.
func packA(dst []float32, tA bool, a []float32, lda, ic, pc, mb, kb int) {
	for i0 := 0; i0 < mb; i0 += gemmMR {
		panel := dst[i0*kb : i0*kb+kb*gemmMR]
		h := min(gemmMR, mb-i0)
		for i := 0; i < gemmMR; i++ {
			if i >= h {
				for r := 0; r < kb; r++ {
					panel[r*gemmMR+i] = 0
				}
				continue
			}
			if !tA {
				row := a[(ic+i0+i)*lda+pc : (ic+i0+i)*lda+pc+kb]
				for r, v := range row {
					panel[r*gemmMR+i] = v
				}
			} else {
				for r := 0; r < kb; r++ {
					panel[r*gemmMR+i] = a[(pc+r)*lda+ic+i0+i]
				}
			}
		}
	}
}

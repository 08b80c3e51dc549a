//go:build amd64 && !purego

package blas

// The dot-product GEMM: C = alpha·Σ_s A_s·B_sᵀ + beta·C with every A_s
// (m×k) and B_s (n×k) row-major, so that each element of C is a sum of dot
// products of rows read in place along their contiguous length. A
// convolution's weight gradient has this form: dW = Σ_n dY_n·X_nᵀ over the
// samples n, with k the pixels of one map. The blocked GEMM would first
// transpose both operands of each sample into k-major panels (two more passes
// over the activations). The 6×4 AVX-512 micro-kernel keeps 24 vector
// accumulators of 16 partial sums each, runs through a block of samples and
// reduces them once.

const (
	ntMR, ntNR = 6, 4
	// ntDepth is the depth (samples × k) the micro-kernel runs before it
	// reduces its accumulators: six rows of A of that depth (12 KiB) stay
	// in L1 while B's rows stream from L2.
	ntDepth = 512
	// ntMinK: below this depth a single product spends more on reductions
	// than it saves on transposes (BenchmarkNT).
	ntMinK = 256
	// ntMaxNarrow: the kernel wins where C has at most this many rows or
	// columns — the transposes are then most of the blocked GEMM's work
	// (BenchmarkNTParallel, both cores, Intel Xeon 6/207: 48×24, 24×27 and
	// 96×48 products 1.8–1.9× as fast); on wider products the blocked
	// kernel's register tile is 0–20% faster.
	ntMaxNarrow = 48
)

// useNT reports whether op(A)·op(B), m×n of depth k, runs on the
// dot-product kernel.
func useNT(tA, tB bool, m, n, k int) bool {
	return haveAVX512 && !tA && tB && k >= ntMinK && min(m, n) <= ntMaxNarrow
}

// canBatchNT reports whether GemmNTBatch runs an m×n sum of products on
// the dot-product kernel.
func canBatchNT(m, n int) bool { return haveAVX512 && min(m, n) <= ntMaxNarrow }

// sgemmNT computes C = alpha·A·Bᵀ + beta·C, A m×k (lda), B n×k (ldb), C
// m×n (ldc), row-major.
func sgemmNT(m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmNTBatch(m, n, k, 1, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc)
}

// sgemmNTBatch computes C = alpha·Σ_(s<ns) A_s·B_sᵀ + beta·C, A_s = a[s·sa:]
// (m×k, lda), B_s = b[s·sb:] (n×k, ldb), C m×n (ldc), row-major.
func sgemmNTBatch(m, n, k, ns int, alpha float32, a []float32, lda, sa int, b []float32, ldb, sb int, beta float32, c []float32, ldc int) {
	scaleRows(c, m, n, ldc, beta)
	if k == 0 || ns == 0 || alpha == 0 || m == 0 || n == 0 {
		return
	}
	_ = a[(ns-1)*sa+(m-1)*lda+k-1]
	_ = b[(ns-1)*sb+(n-1)*ldb+k-1]
	mFull, nFull := m/ntMR*ntMR, n/ntNR*ntNR
	kc := min(k, ntDepth)           // depth of a block within one segment
	sc := max(1, ntDepth/max(k, 1)) // segments of a block
	var abuf, bbuf []float32        // zero-padded copies of the edge rows
	var tile [ntMR * ntNR]float32
	for s0 := 0; s0 < ns; s0 += sc {
		nb := min(sc, ns-s0)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			if mFull < m {
				abuf = padRows(abuf, a[s0*sa+pc:], lda, sa, mFull, m, kb, nb, ntMR)
			}
			if nFull < n {
				bbuf = padRows(bbuf, b[s0*sb+pc:], ldb, sb, nFull, n, kb, nb, ntNR)
			}
			for i0 := 0; i0 < m; i0 += ntMR {
				ap, as, ass := &a[s0*sa+i0*lda+pc], lda, sa
				if i0 == mFull {
					ap, as, ass = &abuf[0], kb, ntMR*kb
				}
				for j0 := 0; j0 < n; j0 += ntNR {
					bp, bs, bss := &b[s0*sb+j0*ldb+pc], ldb, sb
					if j0 == nFull {
						bp, bs, bss = &bbuf[0], kb, ntNR*kb
					}
					if i0 < mFull && j0 < nFull {
						_ = c[(i0+ntMR-1)*ldc+j0+ntNR-1]
						sgemmNT6x4AVX512(kb, ap, as, bp, bs, &c[i0*ldc+j0], ldc, alpha, nb, ass, bss)
						continue
					}
					// Edge tile: into the buffer, then the valid part added.
					tile = [ntMR * ntNR]float32{}
					sgemmNT6x4AVX512(kb, ap, as, bp, bs, &tile[0], ntNR, alpha, nb, ass, bss)
					for i := 0; i < min(ntMR, m-i0); i++ {
						row := c[(i0+i)*ldc+j0 : (i0+i)*ldc+min(j0+ntNR, n)]
						for j := range row {
							row[j] += tile[i*ntNR+j]
						}
					}
				}
			}
		}
	}
}

// padRows copies rows [r0, r1) of each of nb segments of x (rows ld apart,
// segments sx apart; kb columns from x[0]) into a buffer of nb blocks of
// rows × kb floats, rows past r1−r0 zero.
func padRows(buf, x []float32, ld, sx, r0, r1, kb, nb, rows int) []float32 {
	need := nb * rows * kb
	if cap(buf) < need {
		buf = make([]float32, need)
	}
	buf = buf[:need]
	clear(buf)
	for s := 0; s < nb; s++ {
		for r := r0; r < r1; r++ {
			copy(buf[(s*rows+r-r0)*kb:(s*rows+r-r0+1)*kb], x[s*sx+r*ld:s*sx+r*ld+kb])
		}
	}
	return buf
}

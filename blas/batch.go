package blas

// GemmNTBatch computes C = alpha·Σ_(s<ns) A_s·B_sᵀ + beta·C for row-major
// A_s = a[s·sa:] (m×k, lda) and B_s = b[s·sb:] (n×k, ldb) and C (m×n, ldc),
// on the calling goroutine: a sum of products of matrices that share their
// contiguous inner dimension, as a convolution's weight gradient over a
// batch (dW = Σ_n dY_n·X_nᵀ). With the pure-Go backend on AVX-512, for
// products with few rows or columns, it runs a dot-product kernel that reads
// every row in place and sums through several segments before it reduces;
// otherwise one Gemm1 per segment, in order.
func GemmNTBatch[T Float](m, n, k, ns int, alpha T, a []T, lda, sa int, b []T, ldb, sb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if c32, ok := any(c).([]float32); ok && canBatchNT(m, n) {
		if _, asm := get().(goAsm); asm {
			sgemmNTBatch(m, n, k, ns, float32(alpha), any(a).([]float32), lda, sa, any(b).([]float32), ldb, sb, float32(beta), c32, ldc)
			return
		}
	}
	if ns == 0 {
		Gemm1(false, true, m, n, 0, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	for s := 0; s < ns; s++ {
		bs := beta
		if s > 0 {
			bs = 1
		}
		Gemm1(false, true, m, n, k, alpha, a[s*sa:], lda, b[s*sb:], ldb, bs, c, ldc)
	}
}

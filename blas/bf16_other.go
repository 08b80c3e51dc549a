//go:build !amd64 || purego

package blas

// bf16Kernel: none without the amd64 assembly (GemmBF16 emulates).
var bf16Kernel func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

func packedA16(dst []uint16, tA bool, m, k int, a []float32, lda int) []uint16 { return nil }

func productPackedA16(pa []uint16, m, k int, tB bool, n int, b []float32, ldb int, beta float32, c []float32, ldc int) {
}

func gemmNTBatchBF16(m, n, k, ns int, a []float32, lda, sa int, b []float32, ldb, sb int, c []float32, ldc int) {
}

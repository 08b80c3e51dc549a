//go:build linux && amd64

package blas

import (
	"os"
	"testing"

	"github.com/ebitengine/purego"
)

// BenchmarkLadderOneDNN times the ladder with oneDNN's dnnl_sgemm
// (libdnnl.so.2, installed with Debian's python3-torch) on one OpenMP
// thread, beside BenchmarkLadder's rows: the reference the GEMM
// target names. Skipped where the library is absent.
func BenchmarkLadderOneDNN(b *testing.B) {
	if os.Getenv("OMP_NUM_THREADS") == "" {
		os.Setenv("OMP_NUM_THREADS", "1") // before the library's OpenMP runtime starts
	}
	h, err := purego.Dlopen("libdnnl.so.2", purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		b.Skip("libdnnl.so.2 not found (apt-get install python3-torch brings it)")
	}
	var sgemm func(ta, tb byte, m, n, k int64, alpha float32, a *float32, lda int64, bm *float32, ldb int64, beta float32, c *float32, ldc int64) int32
	purego.RegisterLibFunc(&sgemm, h, "dnnl_sgemm")
	tr := func(t bool) byte {
		if t {
			return 'T'
		}
		return 'N'
	}
	ladderBench(b, 128, func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, bm []float32, ldb int, beta float32, c []float32, ldc int) {
		if st := sgemm(tr(tA), tr(tB), int64(m), int64(n), int64(k), alpha, &a[0], int64(lda), &bm[0], int64(ldb), beta, &c[0], int64(ldc)); st != 0 {
			b.Fatalf("dnnl_sgemm: status %d", st)
		}
	})
}

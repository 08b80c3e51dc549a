package blas

import "testing"

// ladder is the forward pointwise GEMMs of a batch-128 training step of
// MobileNet-0.75 on CIFAR-10, as package layers runs them: C (O × HW) =
// W (O × C) · X (C × HW) once per sample on maps of 16 positions or more,
// one product over the packed batch (N = 128·HW) below (ladderBatched).
// count is how many times the layer occurs.
var ladder = []struct {
	name          string
	c, o, hw, cnt int
}{
	{"pw1", 24, 48, 1024, 1}, {"pw2", 48, 96, 256, 1}, {"pw3", 96, 96, 256, 1},
	{"pw4", 96, 192, 64, 1}, {"pw5", 192, 192, 64, 1}, {"pw6", 192, 384, 16, 1},
	{"pw7-11", 384, 384, 16, 5}, {"pw12", 384, 768, 4, 1}, {"pw13", 768, 768, 4, 1},
}

// ladderBatched: maps of fewer positions are batched (kernels.Geom.packed).
const ladderBatched = 16

// BenchmarkLadder times the ladder on one thread with each micro-kernel,
// unpacked and with the weights packed once per layer as package layers
// does, and with OpenBLAS where it loads (go test ./blas -run X -bench
// Ladder): ms per step and GFLOP/s.
func BenchmarkLadder(b *testing.B) {
	const batch = 128
	if ob, err := loadOpenBLAS(); err == nil {
		b.Run("openblas "+ob.core, func(b *testing.B) { ladderBench(b, batch, ob.sgemm) })
	}
	var ks []*microKernel
	for _, mk := range allKernels() {
		ks = append(ks, mk, mk.withPackedB())
	}
	for _, mk := range ks {
		for _, prepack := range []bool{false, true} {
			name := mk.name
			if prepack {
				name += " prepacked"
			}
			b.Run(name, func(b *testing.B) {
				flops := 0.0
				type call struct {
					m, n, k, reps int
					a, x, y       []float32
				}
				var calls []call
				for _, l := range ladder {
					n, reps := l.hw, batch
					if l.hw < ladderBatched {
						n, reps = batch*l.hw, 1
					}
					cl := call{m: l.o, n: n, k: l.c, reps: reps * l.cnt, a: make([]float32, l.o*l.c), x: make([]float32, l.c*n), y: make([]float32, l.o*n)}
					for i := range cl.a {
						cl.a[i] = float32(i%7) * 0.1
					}
					for i := range cl.x {
						cl.x[i] = float32(i%5) * 0.1
					}
					calls = append(calls, cl)
					flops += 2 * float64(l.o*l.c*n*cl.reps)
				}
				b.ResetTimer()
				withBackend(goAsm{mk: mk}, func() {
					var p *Packed
					for it := 0; it < b.N; it++ {
						for _, cl := range calls {
							if prepack {
								p = PackFor(p, cl.n, false, cl.m, cl.k, cl.a, cl.k)
							}
							for r := 0; r < cl.reps; r++ {
								if prepack {
									GemmPacked(p, false, cl.n, 1, cl.x, cl.n, 0, cl.y, cl.n)
									continue
								}
								sgemmBlocked(mk, false, false, cl.m, cl.n, cl.k, 1, cl.a, cl.k, cl.x, cl.n, 0, cl.y, cl.n)
							}
						}
					}
				})
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/step")
			})
		}
	}
}

// ladderBench times the ladder through one GEMM function.
func ladderBench(b *testing.B, batch int, gemm func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)) {
	b.StopTimer()
	flops := 0.0
	for it := 0; it < b.N; it++ {
		for _, l := range ladder {
			n, reps := l.hw, batch
			if l.hw < ladderBatched {
				n, reps = batch*l.hw, 1
			}
			a, x, y := make([]float32, l.o*l.c), make([]float32, l.c*n), make([]float32, l.o*n)
			if it == 0 {
				flops += 2 * float64(l.o*l.c*n*reps*l.cnt)
			}
			b.StartTimer()
			for r := 0; r < reps*l.cnt; r++ {
				gemm(false, false, l.o, n, l.c, 1, a, l.c, x, n, 0, y, n)
			}
			b.StopTimer()
		}
	}
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/step")
}

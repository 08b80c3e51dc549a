package kernels

import "github.com/gomobilenet/mobilenet/internal/parallel"

// ParallelFor calls body(lo, hi) on disjoint ranges covering [0, n), on up to
// GOMAXPROCS goroutines, handing out chunks dynamically so that uneven work
// balances. grain is the smallest chunk worth a hand-off.
func ParallelFor(n, grain int, body func(lo, hi int)) {
	if n <= 0 {
		return
	}
	workers := workerCount()
	grain = max(grain, 1)
	if workers == 1 || n <= grain {
		body(0, n)
		return
	}
	parallel.Chunks(n, max(grain, n/(workers*8)), func(_, lo, hi int) { body(lo, hi) })
}

// workerCount is the number of goroutines ParallelFor uses at most.
func workerCount() int { return parallel.Workers() }

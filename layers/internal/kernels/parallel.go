package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// ParallelFor calls body(lo, hi) on disjoint ranges covering [0, n), on up to
// GOMAXPROCS goroutines, handing out chunks dynamically so that uneven work
// balances. grain is the smallest chunk worth a hand-off.
func ParallelFor(n, grain int, body func(lo, hi int)) {
	if n <= 0 {
		return
	}
	workers := runtime.GOMAXPROCS(0)
	if grain < 1 {
		grain = 1
	}
	if workers == 1 || n <= grain {
		body(0, n)
		return
	}
	chunk := max(grain, n/(workers*8))
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(int64(chunk))) - chunk
				if lo >= n {
					return
				}
				body(lo, min(lo+chunk, n))
			}
		}()
	}
	wg.Wait()
}

// workerCount is the number of goroutines ParallelFor uses at most.
func workerCount() int { return runtime.GOMAXPROCS(0) }

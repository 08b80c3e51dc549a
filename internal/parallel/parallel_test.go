package parallel

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// TestChunks: every index is visited once, in chunks of the asked size;
// no worker number runs twice at once; nested calls (from inside a job)
// and concurrent calls (from several goroutines, the team busy) complete
// and visit everything too.
func TestChunks(t *testing.T) {
	// check returns what went wrong, so that goroutines can call it
	// (t.Fatal must run on the test's goroutine).
	check := func(n, chunk int) error {
		var errMu sync.Mutex
		var first error
		fail := func(format string, args ...any) {
			errMu.Lock()
			defer errMu.Unlock()
			if first == nil {
				first = fmt.Errorf(format, args...)
			}
		}
		seen := make([]atomic.Int32, n)
		busy := make([]atomic.Int32, Workers())
		Chunks(n, chunk, func(w, lo, hi int) {
			if busy[w].Add(1) != 1 {
				fail("worker %d runs twice at once", w)
			}
			defer busy[w].Add(-1)
			if hi-lo > chunk || (hi-lo < chunk && hi != n) || lo%chunk != 0 {
				fail("chunk [%d, %d) of size %d, n %d", lo, hi, chunk, n)
			}
			for i := lo; i < hi; i++ {
				seen[i].Add(1)
			}
		})
		for i := range seen {
			if c := seen[i].Load(); c != 1 {
				fail("n %d chunk %d: index %d visited %d times", n, chunk, i, c)
				break
			}
		}
		return first
	}
	for _, c := range [][2]int{{0, 1}, {1, 1}, {7, 1}, {100, 7}, {1000, 3}, {5, 10}} {
		if err := check(c[0], c[1]); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("chunk 0", func(t *testing.T) {
		var total atomic.Int64
		Chunks(10, 0, func(_, lo, hi int) { total.Add(int64(hi - lo)) })
		if total.Load() != 10 {
			t.Fatalf("chunk 0: %d of 10", total.Load())
		}
	})
	t.Run("nested", func(t *testing.T) {
		var total atomic.Int64
		Chunks(8, 1, func(_, lo, hi int) {
			Chunks(100, 9, func(_, lo, hi int) { total.Add(int64(hi - lo)) })
		})
		if total.Load() != 800 {
			t.Fatalf("nested: %d of 800", total.Load())
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for g := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 50 {
					if errs[g] = check(300, 11); errs[g] != nil {
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	})
}

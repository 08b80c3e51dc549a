package dist

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// runGroup runs f on each rank of a Group of n, each on its own goroutine,
// and returns their errors.
func runGroup(t *testing.T, n int, timeout time.Duration, f func(c Comm) error) []error {
	t.Helper()
	cs, err := Group(n, timeout)
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r, c := range cs {
		wg.Go(func() { errs[r] = f(c) })
	}
	wg.Wait()
	return errs
}

// TestGroup: the collectives of an in-process group, for 1, 2, 3 and 5
// ranks, against their definitions; sums are added in rank order, so the
// float64 result is the sequential sum bit for bit.
func TestGroup(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			errs := runGroup(t, n, 0, func(c Comm) error {
				r := c.Rank()
				if c.Size() != n {
					return fmt.Errorf("size %d", c.Size())
				}
				for step := range 20 { // many rounds: the generations must not mix
					x := []float32{float32(r + 1), float32(step)}
					if err := c.AllreduceSum(x); err != nil {
						return err
					}
					if want := float32(n * (n + 1) / 2); x[0] != want || x[1] != float32(n*step) {
						return fmt.Errorf("rank %d step %d: sum %v", r, step, x)
					}
				}
				d := []float64{0.1 * float64(r+1)}
				if err := c.AllreduceSum64(d); err != nil {
					return err
				}
				want := 0.0
				for q := range n {
					want += 0.1 * float64(q+1)
				}
				if d[0] != want {
					return fmt.Errorf("rank %d: double sum %v, want %v", r, d[0], want)
				}
				b := []float32{float32(r), float32(r)}
				if err := c.Broadcast(b, n-1); err != nil {
					return err
				}
				if b[0] != float32(n-1) || b[1] != float32(n-1) {
					return fmt.Errorf("rank %d: broadcast gave %v", r, b)
				}
				names, err := Gather(c, strings.Repeat("x", r)+"é\x00")
				if err != nil {
					return err
				}
				for q, s := range names {
					if s != strings.Repeat("x", q)+"é\x00" {
						return fmt.Errorf("rank %d: gather[%d] = %q", r, q, s)
					}
				}
				if err := c.Broadcast(b, n); err == nil {
					return fmt.Errorf("broadcast from rank %d of %d: no error", n, n)
				}
				return c.Barrier()
			})
			for r, err := range errs {
				if err != nil {
					t.Errorf("rank %d: %v", r, err)
				}
			}
		})
	}
}

// TestGroupTimeout: a rank that never joins a collective makes the others
// fail with an error after the timeout, not hang; and mismatched lengths
// are an error on every rank.
func TestGroupTimeout(t *testing.T) {
	start := time.Now()
	errs := runGroup(t, 3, 200*time.Millisecond, func(c Comm) error {
		if c.Rank() == 2 {
			return nil // gone
		}
		return c.AllreduceSum(make([]float32, 4))
	})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the waiting ranks took %v", took)
	}
	for r := range 2 {
		if errs[r] == nil || !strings.Contains(errs[r].Error(), "did not complete") && !strings.Contains(errs[r].Error(), "broken") {
			t.Errorf("rank %d: %v, want a timeout", r, errs[r])
		}
	}
	errs = runGroup(t, 2, 0, func(c Comm) error { return c.AllreduceSum(make([]float32, 3+c.Rank())) })
	for r, err := range errs {
		if err == nil {
			t.Errorf("rank %d: all-reduce of mismatched lengths: no error", r)
		}
	}
}

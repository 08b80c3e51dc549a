// Package parallel runs the project's data-parallel loops on all cores:
// chunks of an index range handed out dynamically to a team of goroutines
// that stay between loops (see Chunks).
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Workers is the number of goroutines Chunks uses: GOMAXPROCS.
func Workers() int { return runtime.GOMAXPROCS(0) }

// Chunks calls body(worker, lo, hi) for the chunks [lo, hi) of [0, n),
// chunk elements each, handed out dynamically to Workers()
// goroutines numbered 0, 1, …: no two calls with the same worker number run
// at once, so body may use per-worker buffers. A chunk below 1 counts as 1.
//
// The calling goroutine is worker 0; the others are the team's helpers,
// goroutines that stay, spinning for a while after each job before they
// park. A training step runs hundreds of short parallel sections: on the
// 2-vCPU virtual machines this project runs on, a goroutine started (or a
// parked one woken) for each reached its core 10–300 µs late, because the
// idle vCPU had halted — an execution trace of a step at alpha 0.75 showed
// one core idle for ~15% of the step waiting so. A nested or concurrent call
// (the team busy) starts goroutines of its own.
func Chunks(n, chunk int, body func(worker, lo, hi int)) {
	if n <= 0 {
		return
	}
	chunk = max(chunk, 1)
	workers := Workers()
	if t := theTeam(workers); t != nil && t.mu.TryLock() {
		defer t.mu.Unlock()
		t.run(n, chunk, body)
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			claim(&next, n, chunk, w, body)
		}()
	}
	claim(&next, n, chunk, 0, body)
	wg.Wait()
}

// claim runs the chunks of [0, n) it claims from next as worker w and
// returns how many it ran.
func claim(next *atomic.Int64, n, chunk, w int, body func(worker, lo, hi int)) int {
	done := 0
	for {
		lo := int(next.Add(int64(chunk))) - chunk
		if lo >= n {
			return done
		}
		body(w, lo, min(lo+chunk, n))
		done++
	}
}

// team is the process's helper goroutines, one fewer than GOMAXPROCS when it
// was made.
type team struct {
	mu      sync.Mutex // held by the caller whose job runs
	helpers int
	gen     atomic.Uint64 // bumped for each job
	job     atomic.Pointer[teamJob]
	parked  []atomic.Bool
	wake    []chan struct{}
}

type teamJob struct {
	n, chunk int
	body     func(worker, lo, hi int)
	next     atomic.Int64
	left     atomic.Int64 // chunks not yet finished
}

// teamSpin is how long a helper spins for the next job before it parks.
const teamSpin = 2 * time.Millisecond

var (
	teamOnce sync.Once
	theT     *team
)

// theTeam returns the process's team when it has workers−1 helpers (made at
// the first call; nil when GOMAXPROCS has changed since, or is 1).
func theTeam(workers int) *team {
	teamOnce.Do(func() {
		if h := runtime.GOMAXPROCS(0) - 1; h > 0 {
			theT = newTeam(h)
		}
	})
	if theT == nil || theT.helpers != workers-1 {
		return nil
	}
	return theT
}

func newTeam(helpers int) *team {
	t := &team{helpers: helpers, parked: make([]atomic.Bool, helpers), wake: make([]chan struct{}, helpers)}
	for i := range t.wake {
		t.wake[i] = make(chan struct{}, 1)
		go t.help(i)
	}
	return t
}

// run publishes the job, works on it as worker 0 and returns when every
// chunk is done.
func (t *team) run(n, chunk int, body func(worker, lo, hi int)) {
	j := &teamJob{n: n, chunk: chunk, body: body}
	j.left.Store(int64((n + chunk - 1) / chunk))
	t.job.Store(j)
	t.gen.Add(1)
	for i := range t.parked {
		if t.parked[i].Load() {
			select {
			case t.wake[i] <- struct{}{}:
			default:
			}
		}
	}
	j.left.Add(-int64(claim(&j.next, n, chunk, 0, body)))
	for spins := 0; j.left.Load() > 0; spins++ {
		if spins%64 == 63 {
			runtime.Gosched()
		}
	}
}

// help is helper i's loop: run each new job's chunks it can claim; between
// jobs spin (yielding now and then to other goroutines) for teamSpin, then
// park until the next job.
func (t *team) help(i int) {
	seen := uint64(0)
	for {
		g := t.gen.Load()
		if g == seen {
			start := time.Now()
			for spins := 0; ; spins++ {
				if g = t.gen.Load(); g != seen {
					break
				}
				if spins%64 == 63 {
					if time.Since(start) > teamSpin {
						t.parked[i].Store(true)
						if g = t.gen.Load(); g == seen { // no job published since: wait for one
							<-t.wake[i]
						}
						t.parked[i].Store(false)
						start = time.Now()
						continue
					}
					runtime.Gosched()
				}
			}
		}
		seen = g
		j := t.job.Load()
		j.left.Add(-int64(claim(&j.next, j.n, j.chunk, i+1, j.body)))
	}
}

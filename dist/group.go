package dist

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"time"
)

// Group returns the n communicators of a job whose ranks are goroutines of
// this process: the same collectives as MPI's, summed in rank order, for
// tests of data-parallel code (with -race) and for machines without MPI.
// Each rank's Comm is for its own goroutine. A collective that some rank
// never joins fails after timeout (0: DefaultTimeout) on the ranks that
// did; Abort ends the process, as MPI_Abort would.
func Group(n int, timeout time.Duration) ([]Comm, error) {
	if n < 1 {
		return nil, fmt.Errorf("dist: a group of %d ranks", n)
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	g := &group{n: n, timeout: timeout, in: make([]any, n)}
	g.cond = sync.NewCond(&g.mu)
	cs := make([]Comm, n)
	for r := range cs {
		cs[r] = &member{g: g, rank: r}
	}
	return cs, nil
}

// group is the shared state of Group's ranks: a two-phase rendezvous per
// collective (every rank deposits its buffer; the last to arrive computes
// the result into every buffer; the generation moves on).
type group struct {
	n       int
	timeout time.Duration

	mu      sync.Mutex
	cond    *sync.Cond
	gen     uint64 // collectives completed
	arrived int
	in      []any // each rank's buffer in the current collective
	kind    string
	err     error  // the current collective's error (mismatched calls)
	broken  string // set once a collective timed out: the group is unusable
}

// collective runs one collective: rank's buffer x, the kind (which every
// rank must agree on), and reduce, which the last rank to arrive runs on
// every rank's buffer.
func (g *group) collective(rank int, kind string, x any, reduce func(in []any) error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.broken != "" {
		return fmt.Errorf("dist: rank %d: %s: the group is broken (%s)", rank, kind, g.broken)
	}
	if g.arrived == 0 {
		g.kind, g.err = kind, nil
	} else if g.kind != kind && g.err == nil {
		g.err = fmt.Errorf("dist: mismatched collectives: %s and %s", g.kind, kind)
	}
	g.in[rank] = x
	g.arrived++
	gen := g.gen
	if g.arrived == g.n {
		if g.err == nil {
			g.err = reduce(g.in)
		}
		err := g.err
		clear(g.in)
		g.arrived = 0
		g.gen++
		g.cond.Broadcast()
		return err
	}
	deadline := time.Now().Add(g.timeout)
	t := time.AfterFunc(g.timeout, func() {
		g.mu.Lock()
		g.cond.Broadcast()
		g.mu.Unlock()
	})
	defer t.Stop()
	for g.gen == gen && g.broken == "" {
		if g.timeout > 0 && !time.Now().Before(deadline) {
			g.broken = fmt.Sprintf("%s waited %v for %d of %d ranks", kind, g.timeout, g.n-g.arrived, g.n)
			g.cond.Broadcast()
			return fmt.Errorf("dist: rank %d: %s did not complete within %v: another rank is dead, hung or unreachable", rank, kind, g.timeout)
		}
		g.cond.Wait()
	}
	if g.gen == gen {
		return fmt.Errorf("dist: rank %d: %s: the group is broken (%s)", rank, kind, g.broken)
	}
	return g.err
}

// member is one rank of a Group.
type member struct {
	g      *group
	rank   int
	closed bool
}

func (m *member) Rank() int    { return m.rank }
func (m *member) Size() int    { return m.g.n }
func (m *member) Name() string { return fmt.Sprintf("in-process group of %d", m.g.n) }

func (m *member) AllreduceSum(x []float32) error {
	return m.g.collective(m.rank, fmt.Sprintf("all-reduce of %d floats", len(x)), x, func(in []any) error {
		return sumInto(in, func(v any) []float32 { return v.([]float32) })
	})
}

func (m *member) AllreduceSum64(x []float64) error {
	return m.g.collective(m.rank, fmt.Sprintf("all-reduce of %d doubles", len(x)), x, func(in []any) error {
		return sumInto(in, func(v any) []float64 { return v.([]float64) })
	})
}

// sumInto writes the sum of every buffer, added in rank order, into every
// buffer.
func sumInto[T float32 | float64](in []any, get func(any) []T) error {
	sum := append([]T(nil), get(in[0])...)
	for _, v := range in[1:] {
		b := get(v)
		if len(b) != len(sum) {
			return fmt.Errorf("dist: all-reduce of %d and %d values", len(sum), len(b))
		}
		for i, x := range b {
			sum[i] += x
		}
	}
	for _, v := range in {
		copy(get(v), sum)
	}
	return nil
}

func (m *member) Broadcast(x []float32, root int) error {
	if root < 0 || root >= m.g.n {
		return fmt.Errorf("dist: broadcast from rank %d of a job of %d", root, m.g.n)
	}
	return m.g.collective(m.rank, fmt.Sprintf("broadcast of %d floats from rank %d", len(x), root), x, func(in []any) error {
		src := in[root].([]float32)
		for _, v := range in {
			if len(v.([]float32)) != len(src) {
				return fmt.Errorf("dist: broadcast of %d values into %d", len(src), len(v.([]float32)))
			}
			copy(v.([]float32), src)
		}
		return nil
	})
}

func (m *member) Barrier() error {
	return m.g.collective(m.rank, "barrier", nil, func([]any) error { return nil })
}

func (m *member) Abort(code int) { os.Exit(code) }

func (m *member) Close() error {
	if m.closed {
		return errors.New("dist: closed twice")
	}
	m.closed = true
	return nil
}

// BroadcastBytes returns root's b on every rank (b is ignored elsewhere):
// its length first, then its bytes carried in float32 words (a broadcast
// copies them unchanged).
func BroadcastBytes(c Comm, b []byte, root int) ([]byte, error) {
	n := []float32{0, 0}
	if c.Rank() == root {
		if len(b) > math.MaxInt32 {
			return nil, fmt.Errorf("dist: broadcast of %d bytes: too many", len(b))
		}
		n[0], n[1] = math.Float32frombits(uint32(len(b))), 0
	}
	if err := c.Broadcast(n, root); err != nil {
		return nil, err
	}
	size := int(math.Float32bits(n[0]))
	words := make([]float32, (size+3)/4)
	if c.Rank() == root {
		for i := range words {
			var w uint32
			for j := 0; j < 4 && 4*i+j < size; j++ {
				w |= uint32(b[4*i+j]) << (8 * j)
			}
			words[i] = math.Float32frombits(w)
		}
	}
	if err := c.Broadcast(words, root); err != nil {
		return nil, err
	}
	out := make([]byte, size)
	for i := range out {
		out[i] = byte(math.Float32bits(words[i/4]) >> (8 * (i % 4)))
	}
	return out, nil
}

// Gather returns every rank's s, in rank order, on every rank (one
// broadcast a rank: for the few strings of a job's start, such as host
// names).
func Gather(c Comm, s string) ([]string, error) {
	out := make([]string, c.Size())
	for r := range out {
		b, err := BroadcastBytes(c, []byte(s), r)
		if err != nil {
			return nil, err
		}
		out[r] = string(b)
	}
	return out, nil
}

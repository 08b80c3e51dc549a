package kernels

import (
	"sync"
	"sync/atomic"

	"github.com/gomobilenet/mobilenet/blas"
)

// scratch holds temporary buffers shared by the ops of one graph (a
// Builder's): the tape machine runs one op at a time, so ops can reuse the
// same packing and im2col buffers instead of allocating their own each step.
// A Buffer is keyed by its role and an index (the worker, for buffers each
// goroutine of a parallel kernel owns), so that buffers in use at the same
// time never share memory, however many workers run.
type Scratch struct {
	mu     sync.Mutex
	bufs   map[slot]any
	packed map[role]*blas.Packed
	bf16w  *blas.PackedBF16 // a convolution's weights rounded and packed for its per-sample bf16 products
	// BF16, when set and on, makes the convolutions' float32 products run
	// in bf16 (blas.GemmBF16: bf16 inputs, float32 sums and results). The
	// ops read it at each run, so that it can change between runs.
	BF16 *atomic.Bool
}

// bf16 reports whether the float32 products run in bf16.
func (s *Scratch) bf16() bool { return s != nil && s.BF16 != nil && s.BF16.Load() }

// role says what a scratch Buffer is for. Each role has its own buffers:
// add a role rather than reusing one whose buffers may be live.
type role uint8

const (
	rolePackIn    role = iota // a batched pointwise GEMM's packed input (C × N·HW)
	rolePackOut               // its packed output, or the packed dy of its backward ops
	roleCol                   // a worker's im2col matrix
	roleWeightAcc             // a worker's partial weight gradient
	roleBNSums64              // BatchNorm's per-plane partial sums, float64 (index 0 and 1)
	roleBNSums32              // the same, float32, for the many-planes kernels
	rolePackedW               // a convolution\'s weights packed for its per-sample GEMMs
	roleStem                  // a worker's buffer of the stem kernel (Stem.Run)
)

// slot keys one scratch Buffer.
type slot struct {
	role  role
	index int
}

// Buffer returns the Buffer of role and index with n elements (contents
// undefined).
func Buffer[T Float](s *Scratch, r role, index, n int) []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bufs == nil {
		s.bufs = map[slot]any{}
	}
	k := slot{r, index}
	if b, ok := s.bufs[k].([]T); ok && cap(b) >= n {
		return b[:n]
	}
	b := make([]T, n)
	s.bufs[k] = b
	return b
}

// packWeights packs op(A) for GemmPacked products of n columns into role's
// Buffer (kept across calls). The Packed is read-only afterwards and may be
// shared by goroutines.
func packWeights[T Float](s *Scratch, r role, n int, tA bool, m, k int, a []T, lda int) *blas.Packed {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.packed == nil {
		s.packed = map[role]*blas.Packed{}
	}
	p := blas.PackFor(s.packed[r], n, tA, m, k, a, lda)
	s.packed[r] = p
	return p
}

// packWeightsBF16 rounds and packs op(A) for GemmPackedBF16 products into
// the Scratch's buffer (kept across calls). The PackedBF16 is read-only
// afterwards and may be shared by goroutines.
func packWeightsBF16(s *Scratch, tA bool, m, k int, a []float32, lda int) *blas.PackedBF16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bf16w = blas.PackBF16(s.bf16w, tA, m, k, a, lda)
	return s.bf16w
}

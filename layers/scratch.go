package layers

import "sync"

// scratch holds temporary buffers shared by the ops of one graph (a
// Builder's): the tape machine runs one op at a time, so ops can reuse the
// same packing and im2col buffers instead of allocating their own each step.
// Slots tell apart the buffers one op needs at once.
type scratch struct {
	mu   sync.Mutex
	bufs map[int]any
}

// buffer returns slot's buffer with n elements (contents undefined).
func buffer[T Float](s *scratch, slot, n int) []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bufs == nil {
		s.bufs = map[int]any{}
	}
	if b, ok := s.bufs[slot].([]T); ok && cap(b) >= n {
		return b[:n]
	}
	b := make([]T, n)
	s.bufs[slot] = b
	return b
}

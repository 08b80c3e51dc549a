package kernels

import "fmt"

// Geom is the resolved geometry of a 2-D convolution over NCHW tensors.
type Geom struct {
	N, C, H, W int // input
	O          int // output channels
	G          int // groups (0 or 1: none)
	KH, KW     int
	SH, SW     int
	PT, PB     int
	PL, PR     int
	Ho, Wo     int
}

func (g Geom) String() string {
	return fmt.Sprintf("%dx%dx%dx%d->%d k%dx%d s%dx%d p%d,%d,%d,%d g%d", g.N, g.C, g.H, g.W, g.O, g.KH, g.KW, g.SH, g.SW, g.PT, g.PB, g.PL, g.PR, g.G)
}

// colRange returns the output columns [lo, hi) whose input column
// ox*s - pad + k lies inside [0, w).
func colRange(k, s, pad, w, wo int) (int, int) {
	// ox*s >= pad-k  and  ox*s <= w-1+pad-k
	lo := 0
	if d := pad - k; d > 0 {
		lo = (d + s - 1) / s
	}
	hi := 0
	if d := w - 1 + pad - k; d >= 0 {
		hi = d/s + 1
	}
	hi = min(hi, wo)
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

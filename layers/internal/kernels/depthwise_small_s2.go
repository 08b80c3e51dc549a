package kernels

// The dwSmallS2 plan (dispatch.go): a 3×3, stride-2, padding-1 depthwise
// convolution on planes of at most 16 floats, run as the stride-1 "same"
// convolution by the many-planes kernels of depthwise_small.go. Output
// (oy, ox) of the stride-2 convolution is output (2·oy, 2·ox) of the
// stride-1 one, so the forward keeps every second output of each row and
// column; the kernel gradient is the stride-1 one of dy spread to those
// positions with zeros between (the adjoint of keeping them). The input
// gradient stays with dxS2, which is as fast on 4×4 planes and twice as
// fast on 8×8 ones.

// smallS2Run is how many planes are convolved at stride 1 at a time (a
// stack buffer of smallS2Run·64 floats).
const smallS2Run = 16

// dwSmallS2Forward computes y (N, C, Ho, Wo) from x (N, C, H, W) and k, and
// applies ep to each output plane.
func dwSmallS2Forward(g Geom, y, x, k []float32, ep *Epilogue[float32], pfor func(n, grain int, body func(lo, hi int))) {
	hw, ohw := g.H*g.W, g.Ho*g.Wo
	_, _, _ = y[g.N*g.C*ohw-1], x[g.N*g.C*hw-1], k[g.C*9-1] // the assembly trusts these lengths
	tab := newSmallTab(g.H, g.W)
	pfor(g.N*g.C, smallS2Run, func(p0, p1 int) {
		var full [smallS2Run * 64]float32
		for q0 := p0; q0 < p1; q0 += smallS2Run {
			q1 := min(q0+smallS2Run, p1)
			convSmallPlanesAVX512(full[:(q1-q0)*hw], x[q0*hw:q1*hw], k, q1-q0, q0%g.C, g.C, tab)
			for q := q0; q < q1; q++ {
				keepEven(y[q*ohw:(q+1)*ohw], full[(q-q0)*hw:(q-q0+1)*hw], g.W, g.Ho, g.Wo)
			}
		}
		ep.planes(y, p0, p1, ohw, g.C)
	})
}

// dwSmallS2Kernel computes dk (C, 9) from x (N, C, H, W) and dy (N, C, Ho,
// Wo).
func dwSmallS2Kernel(g Geom, dk, x, dy []float32) {
	hw, ohw := g.H*g.W, g.Ho*g.Wo
	_, _, _ = dk[g.C*9-1], x[g.N*g.C*hw-1], dy[g.N*g.C*ohw-1]
	tab := newSmallTab(g.H, g.W)
	ParallelFor(g.C, 1, func(c0, c1 int) {
		up := make([]float32, g.N*hw) // one channel's dy of every sample, spread
		for c := c0; c < c1; c++ {
			for n := 0; n < g.N; n++ {
				spreadEven(up[n*hw:(n+1)*hw], dy[(n*g.C+c)*ohw:(n*g.C+c+1)*ohw], g.W, g.Ho, g.Wo)
			}
			acc := (*[9]float32)(dk[c*9 : c*9+9])
			*acc = [9]float32{}
			kgradSmallVec(acc, up, x[c*hw:], g.N, g.C*hw, hw, tab)
		}
	})
}

// keepEven copies the even rows and columns of a plane of width w into y
// (ho × wo).
func keepEven(y, full []float32, w, ho, wo int) {
	for oy := 0; oy < ho; oy++ {
		row := full[2*oy*w:]
		yr := y[oy*wo : (oy+1)*wo]
		for ox := range yr {
			yr[ox] = row[2*ox]
		}
	}
}

// spreadEven writes dy (ho × wo) to the even rows and columns of a plane of
// width w and zeros everywhere else.
func spreadEven(up, dy []float32, w, ho, wo int) {
	clear(up)
	for oy := 0; oy < ho; oy++ {
		row := up[2*oy*w:]
		for ox, v := range dy[oy*wo : (oy+1)*wo] {
			row[2*ox] = v
		}
	}
}

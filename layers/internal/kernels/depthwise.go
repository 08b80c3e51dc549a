package kernels

// Depthwise (grouped, one group per input channel) convolution kernels on
// NCHW data. Input plane (n, c) meets the kernels of output channels c·M+m,
// m < M (depth multiplier M). Every output row is built tap by tap: for each
// kernel tap the valid output columns are computed once (colRange), so the
// inner loops carry no bounds tests and, at stride 1, are plain axpys over
// contiguous rows.

// DWForward computes y (N, C·M, Ho, Wo) from x (N, C, H, W) and k (C·M, KH·KW).
func DWForward[T Float](g Geom, y, x, k []T) { DWForwardEp(g, y, x, k, nil) }

// DWForwardEp is DWForward with an Epilogue applied to each output plane
// while it is in cache (nil: none).
func DWForwardEp[T Float](g Geom, y, x, k []T, ep *Epilogue[T]) {
	dwForward(g, y, x, k, ep, ParallelFor)
}

// DWForwardSerial is DWForwardEp on the calling goroutine alone: for a
// caller that already keeps every core busy with images of its own (the
// inference plan's one-image-at-a-time stage).
func DWForwardSerial[T Float](g Geom, y, x, k []T, ep *Epilogue[T]) {
	dwForward(g, y, x, k, ep, serialFor)
}

// serialFor is ParallelFor's signature, run in one call.
func serialFor(n, _ int, body func(lo, hi int)) {
	if n > 0 {
		body(0, n)
	}
}

func dwForward[T Float](g Geom, y, x, k []T, ep *Epilogue[T], pfor func(n, grain int, body func(lo, hi int))) {
	M := g.O / g.C
	hw, ohw, kk := g.H*g.W, g.Ho*g.Wo, g.KH*g.KW
	ep.begin(g.N*g.O, ohw, g.O)
	plan := planForward(g, y)
	switch plan {
	case dwSmallS2:
		ep32, _ := any(ep).(*Epilogue[float32])
		dwSmallS2Forward(g, any(y).([]float32), any(x).([]float32), any(k).([]float32), ep32, pfor)
		return
	case dwSmall:
		y32, x32, k32 := any(y).([]float32), any(x).([]float32), any(k).([]float32)
		_, _, _ = y32[g.N*g.O*hw-1], x32[g.N*g.C*hw-1], k32[g.O*9-1] // the assembly trusts these lengths
		tab := newSmallTab(g.H, g.W)
		pfor(g.N*g.O, 16, func(p0, p1 int) {
			if haveAVX512 && M == 1 { // x's planes are y's: the run at once
				convSmallPlanesAVX512(y32[p0*hw:p1*hw], x32[p0*hw:p1*hw], k32, p1-p0, p0%g.O, g.O, tab)
			} else {
				for p := p0; p < p1; p++ {
					n, co := p/g.O, p%g.O
					c := co / M
					yp, xp := y32[p*hw:(p+1)*hw], x32[(n*g.C+c)*hw:(n*g.C+c+1)*hw]
					if haveAVX512 {
						convSmallPlanesAVX512(yp, xp, k32, 1, co, g.O, tab)
					} else {
						convSmallAVX2(yp, xp, (*[9]float32)(k32[co*9:co*9+9]), tab)
					}
				}
			}
			ep.planes(y, p0, p1, hw, g.O)
		})
		return
	case dwRows:
		zero := make([]T, g.W)
		pfor(g.N*g.O, 4, func(p0, p1 int) {
			for p := p0; p < p1; p++ {
				n, co := p/g.O, p%g.O
				c := co / M
				conv3x3s1(y[p*ohw:(p+1)*ohw], x[(n*g.C+c)*hw:(n*g.C+c+1)*hw], (*[9]T)(k[co*9:co*9+9]), g.H, g.W, zero)
			}
			ep.planes(y, p0, p1, ohw, g.O)
		})
		return
	}
	plane := forwardPlane[T](g, plan)
	pfor(g.N*g.O, 4, func(p0, p1 int) {
		for p := p0; p < p1; p++ {
			n, co := p/g.O, p%g.O
			c := co / M
			plane(y[p*ohw:(p+1)*ohw], x[(n*g.C+c)*hw:(n*g.C+c+1)*hw], k[co*kk:(co+1)*kk])
		}
		ep.planes(y, p0, p1, ohw, g.O)
	})
}

// tapRanges precomputes colRange for every kernel column.
func tapRanges(g Geom) (lo, hi []int) {
	lo, hi = make([]int, g.KW), make([]int, g.KW)
	for kx := 0; kx < g.KW; kx++ {
		lo[kx], hi[kx] = colRange(kx, g.SW, g.PL, g.W, g.Wo)
	}
	return lo, hi
}

// forwardPlane returns the forward kernel of one plane for a plan
// other than dwSmall and dwRows.
func forwardPlane[T Float](g Geom, plan dwPlan) func(y, x, k []T) {
	switch plan {
	case dwS2AVX2:
		return func(y, x, k []T) {
			dwPlaneForwardS2AVX2(g, any(y).([]float32), any(x).([]float32), any(k).([]float32))
		}
	case dw3S1:
		return func(y, x, k []T) { clear(y); dwPlaneForward3s1(g, y, x, k) }
	case dw3S2:
		return func(y, x, k []T) { clear(y); dwPlaneForward3s2(g, y, x, k) }
	}
	lo, hi := tapRanges(g)
	return func(y, x, k []T) { clear(y); dwPlaneForwardTaps(g, y, x, k, lo, hi) }
}

// dwPlaneForwardTaps adds the convolution of one plane to y, tap by tap.
func dwPlaneForwardTaps[T Float](g Geom, y, x, k []T, lo, hi []int) {
	for oy := 0; oy < g.Ho; oy++ {
		yr := y[oy*g.Wo : (oy+1)*g.Wo]
		for ky := 0; ky < g.KH; ky++ {
			iy := oy*g.SH - g.PT + ky
			if iy < 0 || iy >= g.H {
				continue
			}
			xr := x[iy*g.W : (iy+1)*g.W]
			for kx := 0; kx < g.KW; kx++ {
				w := k[ky*g.KW+kx]
				off := kx - g.PL
				a, b := lo[kx], hi[kx]
				if g.SW == 1 {
					xs := xr[a+off : b+off]
					ys := yr[a:b]
					for i := range ys {
						ys[i] += w * xs[i]
					}
				} else {
					for ox := a; ox < b; ox++ {
						yr[ox] += w * xr[ox*g.SW+off]
					}
				}
			}
		}
	}
}

// dwPlaneForward3s1 is the forward of a 3-wide kernel at horizontal stride 1
// with one column of padding each side: the three taps of a kernel row are
// applied in one pass.
func dwPlaneForward3s1[T Float](g Geom, y, x, k []T) {
	W := g.W
	for oy := 0; oy < g.Ho; oy++ {
		yr := y[oy*W : (oy+1)*W]
		for ky := 0; ky < g.KH; ky++ {
			iy := oy*g.SH - g.PT + ky
			if iy < 0 || iy >= g.H {
				continue
			}
			xr := x[iy*W : (iy+1)*W]
			w0, w1, w2 := k[ky*3], k[ky*3+1], k[ky*3+2]
			yr[0] += w1*xr[0] + w2*xr[1]
			mid := yr[1 : W-1]
			xa, xb, xc := xr[0:W-2], xr[1:W-1], xr[2:W]
			_ = xa[len(mid)-1]
			_ = xb[len(mid)-1]
			_ = xc[len(mid)-1]
			for i := range mid {
				mid[i] += w0*xa[i] + w1*xb[i] + w2*xc[i]
			}
			yr[W-1] += w0*xr[W-2] + w1*xr[W-1]
		}
	}
}

// rot180 returns the 3×3 kernel k[:9] rotated by 180°.
func rot180[T Float](k []T) [9]T {
	var r [9]T
	for i := range r {
		r[i] = k[8-i]
	}
	return r
}

// DWBackwardInput computes dx (N, C, H, W) from dy (N, C·M, Ho, Wo) and k.
func DWBackwardInput[T Float](g Geom, dx, dy, k []T) {
	M := g.O / g.C
	hw, ohw, kk := g.H*g.W, g.Ho*g.Wo, g.KH*g.KW
	plan := planInput(g, dx)
	switch plan {
	case dwSmall: // as dwRows, with the small-plane kernel
		dx32, dy32, k32 := any(dx).([]float32), any(dy).([]float32), any(k).([]float32)
		_, _, _ = dx32[g.N*g.C*hw-1], dy32[g.N*g.C*hw-1], k32[g.C*9-1] // the assembly trusts these lengths
		tab := newSmallTab(g.H, g.W)
		if haveAVX512 {
			rk := make([]float32, g.C*9) // every kernel rotated, once
			for c := 0; c < g.C; c++ {
				*(*[9]float32)(rk[c*9:]) = rot180(k32[c*9:])
			}
			ParallelFor(g.N*g.C, 16, func(p0, p1 int) {
				convSmallPlanesAVX512(dx32[p0*hw:p1*hw], dy32[p0*hw:p1*hw], rk, p1-p0, p0%g.C, g.C, tab)
			})
			return
		}
		ParallelFor(g.N*g.C, 16, func(p0, p1 int) {
			for p := p0; p < p1; p++ {
				r := rot180(k32[p%g.C*9:])
				convSmallAVX2(dx32[p*hw:(p+1)*hw], dy32[p*hw:(p+1)*hw], &r, tab)
			}
		})
		return
	case dwRows:
		// The input gradient of a 3×3 stride-1 convolution is the same
		// convolution of dy with the kernel rotated by 180°.
		zero := make([]T, g.W)
		ParallelFor(g.N*g.C, 4, func(p0, p1 int) {
			for p := p0; p < p1; p++ {
				r := rot180(k[p%g.C*9:])
				conv3x3s1(dx[p*hw:(p+1)*hw], dy[p*hw:(p+1)*hw], &r, g.H, g.W, zero)
			}
		})
		return
	case dwS2AVX2: // gathered per dx row, written once (no clearing, no scatter)
		dx32, dy32, k32 := any(dx).([]float32), any(dy).([]float32), any(k).([]float32)
		_, _, _ = dx32[g.N*g.C*hw-1], dy32[g.N*g.C*ohw-1], k32[g.C*9-1] // the assembly trusts these lengths
		zero := make([]float32, max(g.W, g.Wo+1))
		ParallelFor(g.N*g.C, 4, func(p0, p1 int) {
			for p := p0; p < p1; p++ {
				c := p % g.C
				dxS2Vec(dx32[p*hw:(p+1)*hw], dy32[p*ohw:(p+1)*ohw], (*[9]float32)(k32[c*9:c*9+9]), g.H, g.W, g.Ho, g.Wo, zero)
			}
		})
		return
	}
	plane := inputPlane[T](g, plan)
	ParallelFor(g.N*g.C, 4, func(p0, p1 int) {
		for p := p0; p < p1; p++ {
			n, c := p/g.C, p%g.C
			d := dx[p*hw : (p+1)*hw]
			clear(d)
			for m := 0; m < M; m++ {
				co := c*M + m
				plane(d, dy[(n*g.O+co)*ohw:(n*g.O+co+1)*ohw], k[co*kk:(co+1)*kk])
			}
		}
	})
}

// inputPlane returns the input-gradient kernel of one plane (adding to dx)
// for a Go plan.
func inputPlane[T Float](g Geom, plan dwPlan) func(dx, dy, k []T) {
	switch plan {
	case dw3S1:
		return func(dx, dy, k []T) { dwPlaneBackwardInput3s1(g, dx, dy, k) }
	case dw3S2:
		return func(dx, dy, k []T) { dwPlaneBackwardInput3s2(g, dx, dy, k) }
	}
	lo, hi := tapRanges(g)
	return func(dx, dy, k []T) { dwPlaneBackwardInputTaps(g, dx, dy, k, lo, hi) }
}

// dwPlaneBackwardInputTaps adds one plane's input gradient, tap by tap.
func dwPlaneBackwardInputTaps[T Float](g Geom, dx, dy, k []T, lo, hi []int) {
	for oy := 0; oy < g.Ho; oy++ {
		dr := dy[oy*g.Wo : (oy+1)*g.Wo]
		for ky := 0; ky < g.KH; ky++ {
			iy := oy*g.SH - g.PT + ky
			if iy < 0 || iy >= g.H {
				continue
			}
			xr := dx[iy*g.W : (iy+1)*g.W]
			for kx := 0; kx < g.KW; kx++ {
				w := k[ky*g.KW+kx]
				off := kx - g.PL
				a, b := lo[kx], hi[kx]
				if g.SW == 1 {
					xs := xr[a+off : b+off]
					ds := dr[a:b]
					for i := range ds {
						xs[i] += w * ds[i]
					}
				} else {
					for ox := a; ox < b; ox++ {
						xr[ox*g.SW+off] += w * dr[ox]
					}
				}
			}
		}
	}
}

// DWBackwardKernel computes dk (C·M, KH·KW) from x and dy, summing over the
// batch; each output channel is one task, so no two goroutines share a sum.
func DWBackwardKernel[T Float](g Geom, dk, x, dy []T) {
	M := g.O / g.C
	hw, ohw, kk := g.H*g.W, g.Ho*g.Wo, g.KH*g.KW
	plan := planKernel(g, dk)
	if plan == dwSmallS2 {
		dwSmallS2Kernel(g, any(dk).([]float32), any(x).([]float32), any(dy).([]float32))
		return
	}
	if plan == dwSmall {
		dk32, x32, dy32 := any(dk).([]float32), any(x).([]float32), any(dy).([]float32)
		_, _, _ = dk32[g.O*9-1], x32[g.N*g.C*hw-1], dy32[g.N*g.O*hw-1] // the assembly trusts these lengths
		tab := newSmallTab(g.H, g.W)
		ParallelFor(g.O, 1, func(c0, c1 int) {
			clear(dk32[c0*9 : c1*9])
			// A block of samples at a time over the chunk's channels: the
			// next channel's planes are the neighbours of the last ones read
			// (walking one channel through the whole batch touches a page
			// per plane).
			for n0 := 0; n0 < g.N; n0 += dwSmallSamples {
				nb := min(dwSmallSamples, g.N-n0)
				for co := c0; co < c1; co++ {
					acc := (*[9]float32)(dk32[co*9 : co*9+9])
					kgradSmallVec(acc, dy32[(n0*g.O+co)*hw:], x32[(n0*g.C+co/M)*hw:], nb, g.C*hw, g.O*hw, tab)
				}
			}
		})
		return
	}
	plane := kernelPlane[T](g, plan)
	ParallelFor(g.O, 1, func(c0, c1 int) {
		clear(dk[c0*kk : c1*kk])
		// Sample by sample over the chunk's channels: their planes are
		// contiguous, so memory is read in order (one channel's planes are
		// C·H·W apart, each on a page of its own, which no prefetcher
		// follows). Each channel still sums its samples in order.
		for n := 0; n < g.N; n++ {
			for co := c0; co < c1; co++ {
				c := co / M
				plane(dk[co*kk:(co+1)*kk], x[(n*g.C+c)*hw:(n*g.C+c+1)*hw], dy[(n*g.O+co)*ohw:(n*g.O+co+1)*ohw])
			}
		}
	})
}

// dwSmallSamples is the block of samples the many-planes kernel gradient
// sums before it moves to the next channel.
const dwSmallSamples = 16

// kernelPlane returns the kernel-gradient kernel of one plane (adding to
// acc) for a plan other than dwSmall.
func kernelPlane[T Float](g Geom, plan dwPlan) func(acc, x, dy []T) {
	switch plan {
	case dwRows:
		return func(acc, x, dy []T) {
			dwPlaneBackwardKernel3x3AVX2(g, any(acc).([]float32), any(x).([]float32), any(dy).([]float32))
		}
	case dwS2AVX2:
		return func(acc, x, dy []T) {
			dwPlaneBackwardKernelS2AVX2(g, any(acc).([]float32), any(x).([]float32), any(dy).([]float32))
		}
	case dw3S1:
		return func(acc, x, dy []T) { dwPlaneBackwardKernel3s1(g, acc, x, dy) }
	case dw3S2:
		return func(acc, x, dy []T) { dwPlaneBackwardKernel3s2(g, acc, x, dy) }
	}
	lo, hi := tapRanges(g)
	return func(acc, x, dy []T) { dwPlaneBackwardKernelTaps(g, acc, x, dy, lo, hi) }
}

// dwPlaneBackwardKernelTaps adds one plane's kernel gradient, tap by tap.
func dwPlaneBackwardKernelTaps[T Float](g Geom, acc, x, dy []T, lo, hi []int) {
	for ky := 0; ky < g.KH; ky++ {
		for kx := 0; kx < g.KW; kx++ {
			off := kx - g.PL
			a, b := lo[kx], hi[kx]
			var s T
			for oy := 0; oy < g.Ho; oy++ {
				iy := oy*g.SH - g.PT + ky
				if iy < 0 || iy >= g.H {
					continue
				}
				xr := x[iy*g.W : (iy+1)*g.W]
				dr := dy[oy*g.Wo : (oy+1)*g.Wo]
				if g.SW == 1 {
					xs := xr[a+off : b+off]
					ds := dr[a:b]
					for i := range ds {
						s += ds[i] * xs[i]
					}
				} else {
					for ox := a; ox < b; ox++ {
						s += dr[ox] * xr[ox*g.SW+off]
					}
				}
			}
			acc[ky*g.KW+kx] += s
		}
	}
}

// dwPlaneBackwardInput3s1 is dwPlaneBackwardInput for a 3-wide kernel at
// horizontal stride 1 with one column of padding: dx[ix] gets
// w0·dy[ix+1] + w1·dy[ix] + w2·dy[ix−1] from each kernel row in one pass.
func dwPlaneBackwardInput3s1[T Float](g Geom, dx, dy, k []T) {
	W := g.W
	for oy := 0; oy < g.Ho; oy++ {
		dr := dy[oy*W : (oy+1)*W]
		for ky := 0; ky < g.KH; ky++ {
			iy := oy*g.SH - g.PT + ky
			if iy < 0 || iy >= g.H {
				continue
			}
			xr := dx[iy*W : (iy+1)*W]
			w0, w1, w2 := k[ky*3], k[ky*3+1], k[ky*3+2]
			xr[0] += w0*dr[1] + w1*dr[0]
			mid := xr[1 : W-1]
			da, db, dc := dr[2:W], dr[1:W-1], dr[0:W-2]
			_ = da[len(mid)-1]
			_ = db[len(mid)-1]
			_ = dc[len(mid)-1]
			for i := range mid {
				mid[i] += w0*da[i] + w1*db[i] + w2*dc[i]
			}
			xr[W-1] += w1*dr[W-1] + w2*dr[W-2]
		}
	}
}

// dwPlaneBackwardKernel3s1 accumulates the three taps of each kernel row in
// one pass over a pair of rows.
func dwPlaneBackwardKernel3s1[T Float](g Geom, acc, x, dy []T) {
	W := g.W
	for ky := 0; ky < g.KH; ky++ {
		var s0, s1, s2 T
		for oy := 0; oy < g.Ho; oy++ {
			iy := oy*g.SH - g.PT + ky
			if iy < 0 || iy >= g.H {
				continue
			}
			xr := x[iy*W : (iy+1)*W]
			dr := dy[oy*W : (oy+1)*W]
			// tap 0 reads x[ox−1], tap 1 x[ox], tap 2 x[ox+1].
			s1 += dr[0] * xr[0]
			s2 += dr[0] * xr[1]
			mid := dr[1 : W-1]
			xa, xb, xc := xr[0:W-2], xr[1:W-1], xr[2:W]
			xa, xb, xc = xa[:len(mid)], xb[:len(mid)], xc[:len(mid)]
			// Two sums per tap halve the add-latency chains.
			var t0, t1, t2 T
			i := 0
			for ; i+1 < len(mid); i += 2 {
				d0, d1 := mid[i], mid[i+1]
				s0 += d0 * xa[i]
				s1 += d0 * xb[i]
				s2 += d0 * xc[i]
				t0 += d1 * xa[i+1]
				t1 += d1 * xb[i+1]
				t2 += d1 * xc[i+1]
			}
			if i < len(mid) {
				s0 += mid[i] * xa[i]
				s1 += mid[i] * xb[i]
				s2 += mid[i] * xc[i]
			}
			s0, s1, s2 = s0+t0, s1+t1, s2+t2
			s0 += dr[W-1] * xr[W-2]
			s1 += dr[W-1] * xr[W-1]
		}
		acc[ky*3] += s0
		acc[ky*3+1] += s1
		acc[ky*3+2] += s2
	}
}

package kernels

// Kernels for the 3-wide, horizontally stride-2 depthwise convolution with
// one column of padding on the left (MobileNet's downsampling layers):
// output column ox reads input columns 2·ox−1, 2·ox and 2·ox+1.

// s2Cols returns the output columns [lo, hi) whose three inputs all lie
// inside the row; the others are handled one by one.
func s2Cols(w, wo int) (int, int) {
	lo, hi := 1, min(wo, (w-2)/2+1) // 2·ox−1 ≥ 0 and 2·ox+1 ≤ w−1
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// zeroRow returns a zero slice of at least n floats, on the stack's array
// when it fits.
func zeroRow(buf *[64]float32, n int) []float32 {
	if n <= len(buf) {
		return buf[:]
	}
	return make([]float32, n)
}

// s2Col0 returns output column 0 of row oy of a 3×3 stride-2 plane: taps 1
// and 2 of each kernel row that meets the input (tap 0 is padding).
func s2Col0[T Float](x, k []T, oy, h, w int) T {
	var s T
	for ky := 0; ky < 3; ky++ {
		if iy := 2*oy - 1 + ky; iy >= 0 && iy < h {
			s += k[ky*3+1]*x[iy*w] + k[ky*3+2]*x[iy*w+1]
		}
	}
	return s
}

// tap3s2 is y·w over the taps of output column ox that exist.
func tap3s2[T Float](xr []T, ox int, w0, w1, w2 T) T {
	var s T
	c := 2*ox - 1
	if c >= 0 && c < len(xr) {
		s += w0 * xr[c]
	}
	if c+1 < len(xr) {
		s += w1 * xr[c+1]
	}
	if c+2 < len(xr) {
		s += w2 * xr[c+2]
	}
	return s
}

func dwPlaneForward3s2[T Float](g Geom, y, x, k []T) {
	lo, hi := s2Cols(g.W, g.Wo)
	for oy := 0; oy < g.Ho; oy++ {
		yr := y[oy*g.Wo : (oy+1)*g.Wo]
		for ky := 0; ky < g.KH; ky++ {
			iy := oy*g.SH - g.PT + ky
			if iy < 0 || iy >= g.H {
				continue
			}
			xr := x[iy*g.W : (iy+1)*g.W]
			w0, w1, w2 := k[ky*3], k[ky*3+1], k[ky*3+2]
			for ox := 0; ox < min(lo, g.Wo); ox++ {
				yr[ox] += tap3s2(xr, ox, w0, w1, w2)
			}
			for ox := lo; ox < hi; ox++ {
				c := 2*ox - 1
				t := xr[c : c+3]
				yr[ox] += w0*t[0] + w1*t[1] + w2*t[2]
			}
			for ox := hi; ox < g.Wo; ox++ {
				yr[ox] += tap3s2(xr, ox, w0, w1, w2)
			}
		}
	}
}

func dwPlaneBackwardKernel3s2[T Float](g Geom, acc, x, dy []T) {
	lo, hi := s2Cols(g.W, g.Wo)
	for ky := 0; ky < g.KH; ky++ {
		var s0, s1, s2 T
		for oy := 0; oy < g.Ho; oy++ {
			iy := oy*g.SH - g.PT + ky
			if iy < 0 || iy >= g.H {
				continue
			}
			xr := x[iy*g.W : (iy+1)*g.W]
			dr := dy[oy*g.Wo : (oy+1)*g.Wo]
			edge := func(ox int) {
				c, d := 2*ox-1, dr[ox]
				if c >= 0 && c < g.W {
					s0 += d * xr[c]
				}
				if c+1 < g.W {
					s1 += d * xr[c+1]
				}
				if c+2 < g.W {
					s2 += d * xr[c+2]
				}
			}
			for ox := 0; ox < min(lo, g.Wo); ox++ {
				edge(ox)
			}
			for ox := lo; ox < hi; ox++ {
				c, d := 2*ox-1, dr[ox]
				t := xr[c : c+3]
				s0 += d * t[0]
				s1 += d * t[1]
				s2 += d * t[2]
			}
			for ox := hi; ox < g.Wo; ox++ {
				edge(ox)
			}
		}
		acc[ky*3] += s0
		acc[ky*3+1] += s1
		acc[ky*3+2] += s2
	}
}

func dwPlaneBackwardInput3s2[T Float](g Geom, dx, dy, k []T) {
	lo, hi := s2Cols(g.W, g.Wo)
	for oy := 0; oy < g.Ho; oy++ {
		dr := dy[oy*g.Wo : (oy+1)*g.Wo]
		for ky := 0; ky < g.KH; ky++ {
			iy := oy*g.SH - g.PT + ky
			if iy < 0 || iy >= g.H {
				continue
			}
			xr := dx[iy*g.W : (iy+1)*g.W]
			w0, w1, w2 := k[ky*3], k[ky*3+1], k[ky*3+2]
			edge := func(ox int) {
				c, d := 2*ox-1, dr[ox]
				if c >= 0 && c < g.W {
					xr[c] += w0 * d
				}
				if c+1 < g.W {
					xr[c+1] += w1 * d
				}
				if c+2 < g.W {
					xr[c+2] += w2 * d
				}
			}
			for ox := 0; ox < min(lo, g.Wo); ox++ {
				edge(ox)
			}
			for ox := lo; ox < hi; ox++ {
				c, d := 2*ox-1, dr[ox]
				t := xr[c : c+3]
				t[0] += w0 * d
				t[1] += w1 * d
				t[2] += w2 * d
			}
			for ox := hi; ox < g.Wo; ox++ {
				edge(ox)
			}
		}
	}
}

// dwPlaneForwardS2AVX2 writes one plane's forward of a float32 3×3
// stride-2 convolution on the AVX2 tier and above (plan dwS2AVX2; the
// AVX-512 kernel on the AVX512 tier).
func dwPlaneForwardS2AVX2(g Geom, y32, x32, k32 []float32) {
	_, _, _ = y32[g.Ho*g.Wo-1], x32[g.H*g.W-1], k32[8] // the assembly trusts these lengths
	var zb [64]float32
	convS2Vec(y32, x32, (*[9]float32)(k32), g.H, g.W, g.Ho, g.Wo, zeroRow(&zb, g.W))
	for oy := 0; oy < g.Ho; oy++ {
		y32[oy*g.Wo] = s2Col0(x32, k32, oy, g.H, g.W)
	}
}

// dwPlaneBackwardKernelS2AVX2 adds one plane's kernel gradient of a float32
// 3×3 stride-2 convolution on the AVX2 tier and above (plan dwS2AVX2; the
// AVX-512 kernel on the AVX512 tier).
func dwPlaneBackwardKernelS2AVX2(g Geom, acc32, x32, dy32 []float32) {
	_, _, _ = acc32[8], x32[g.H*g.W-1], dy32[g.Ho*g.Wo-1] // the assembly trusts these lengths
	var zb [64]float32
	kgradS2Vec((*[9]float32)(acc32), dy32, x32, g.H, g.W, g.Ho, g.Wo, zeroRow(&zb, g.W))
	// Output column 0: taps 1 and 2 (x[0], x[1]) of each row.
	for oy := 0; oy < g.Ho; oy++ {
		d := dy32[oy*g.Wo]
		for ky := 0; ky < 3; ky++ {
			if iy := 2*oy - 1 + ky; iy >= 0 && iy < g.H {
				acc32[ky*3+1] += d * x32[iy*g.W]
				acc32[ky*3+2] += d * x32[iy*g.W+1]
			}
		}
	}
}

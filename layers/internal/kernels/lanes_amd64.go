//go:build amd64 && !purego

package kernels

// dwLanes3x3AVX512 and dwLanes3x3AVX2 are DWLanes for K = 3 (lanes_amd64.s):
// strides in floats, lanes a multiple of 16 (AVX-512) or 8 (AVX2), act 0
// (linear), 1 (ReLU) or 2 (ReLU6).
//
//go:noescape
func dwLanes3x3AVX512(y, x *float32, k *float32, b float32, act, ho, wo, s, xrow, xstep, yrow, ystep, lanes int)

//go:noescape
func dwLanes3x3AVX2(y, x *float32, k *float32, b float32, act, ho, wo, s, xrow, xstep, yrow, ystep, lanes int)

// dwLanesAsm runs the tier's 3×3 kernel and reports whether one ran.
func dwLanesAsm(g LaneGeom, y, x, k []float32, b float32, act Act) bool {
	switch {
	case haveAVX512 && g.Lanes%16 == 0:
		dwLanes3x3AVX512(&y[0], &x[0], &k[0], b, int(act), g.Ho, g.Wo, g.S, g.XRow, g.XStep, g.YRow, g.YStep, g.Lanes)
	case haveAVX2 && g.Lanes%8 == 0:
		dwLanes3x3AVX2(&y[0], &x[0], &k[0], b, int(act), g.Ho, g.Wo, g.S, g.XRow, g.XStep, g.YRow, g.YStep, g.Lanes)
	default:
		return false
	}
	return true
}

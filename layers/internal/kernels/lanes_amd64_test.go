//go:build amd64 && !purego

package kernels

// laneTierImpls are the tier kernels the CPU runs, called directly.
func laneTierImpls() (out []laneImpl) {
	if haveAVX512 {
		out = append(out, laneImpl{"avx512", func(g LaneGeom, y, x, k []float32, b float32, act Act) bool {
			if g.K != 3 || g.Lanes%16 != 0 {
				return false
			}
			dwLanes3x3AVX512(&y[0], &x[0], &k[0], b, int(act), g.Ho, g.Wo, g.S, g.XRow, g.XStep, g.YRow, g.YStep, g.Lanes)
			return true
		}})
	}
	if haveAVX2 {
		out = append(out, laneImpl{"avx2", func(g LaneGeom, y, x, k []float32, b float32, act Act) bool {
			if g.K != 3 || g.Lanes%8 != 0 {
				return false
			}
			dwLanes3x3AVX2(&y[0], &x[0], &k[0], b, int(act), g.Ho, g.Wo, g.S, g.XRow, g.XStep, g.YRow, g.YStep, g.Lanes)
			return true
		}})
	}
	return out
}

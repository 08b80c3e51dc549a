//go:build amd64 && !purego

package kernels

import "unsafe"

// laneTierImpls are the tier kernels the CPU runs, called directly.
func laneTierImpls() (out []laneImpl) {
	if haveAVX512 {
		for _, st := range []struct {
			name string
			s    int
			f    func(y, x *float32, k *float32, b float32, act, ho, wo, s, xrow, xstep, yrow, ystep, lanes int, acc bool)
			nt   bool // non-temporal stores: aligned outputs, not accumulating
		}{{"avx512-s1", 1, dwLanes3x3S1AVX512, false}, {"avx512-s2", 2, dwLanes3x3S2AVX512, false},
			{"avx512-s1-nt", 1, dwLanes3x3S1NTAVX512, true}, {"avx512-s2-nt", 2, dwLanes3x3S2NTAVX512, true}} {
			out = append(out, laneImpl{st.name, func(g LaneGeom, y, x, k []float32, b float32, act Act, acc bool) bool {
				if g.K != 3 || g.Lanes%16 != 0 || g.S != st.s {
					return false
				}
				if st.nt && (acc || g.YRow%16 != 0 || g.YStep%16 != 0 || uintptr(unsafe.Pointer(&y[0]))%64 != 0) {
					return false
				}
				st.f(&y[0], &x[0], &k[0], b, int(act), g.Ho, g.Wo, g.S, g.XRow, g.XStep, g.YRow, g.YStep, g.Lanes, acc)
				return true
			}})
		}
	}
	if haveAVX2 {
		out = append(out, laneImpl{"avx2", func(g LaneGeom, y, x, k []float32, b float32, act Act, acc bool) bool {
			if g.K != 3 || g.Lanes%8 != 0 {
				return false
			}
			dwLanes3x3AVX2(&y[0], &x[0], &k[0], b, int(act), g.Ho, g.Wo, g.S, g.XRow, g.XStep, g.YRow, g.YStep, g.Lanes, acc)
			return true
		}})
	}
	return out
}

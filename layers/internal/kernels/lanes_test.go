package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// laneImpl is a lane-major depthwise kernel under test; run reports false
// when it does not take the geometry.
type laneImpl struct {
	name string
	run  func(g LaneGeom, y, x, k []float32, b float32, act Act, acc bool) bool
}

// TestDWLanes checks the lane-major depthwise kernels of the active tier
// (and each lower one the CPU runs) against a float64 evaluation of the
// definition, on random geometries: strides 1 and 2, odd maps, 1×1 maps,
// maps large enough to be stored past the caches (non-temporal stores),
// 8 to 80 lanes, input and output positions with gaps between them (the
// stage boundaries of package infer), every activation, with and without
// adding to y's values. Float32 sums of 9 products plus a bias (and y):
// 1e-5 relative to the sum of |terms| bounds them (11 roundings of 2⁻²⁴).
func TestDWLanes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	impls := []laneImpl{
		{"DWLanes", func(g LaneGeom, y, x, k []float32, b float32, act Act, acc bool) bool {
			DWLanes(g, y, x, k, b, act, acc)
			return true
		}},
		{"go", func(g LaneGeom, y, x, k []float32, b float32, act Act, acc bool) bool {
			dwLanesGo(g, y, x, k, b, act, acc)
			return true
		}},
	}
	impls = append(impls, laneTierImpls()...)
	for trial := 0; trial < 66; trial++ {
		k := 3
		if trial%10 == 9 && trial < 60 {
			k = 1 + 2*r.IntN(3) // 1, 3 or 5 (the Go path for 1 and 5)
		}
		s := 1 + r.IntN(2)
		lanes := []int{8, 16, 32, 48, 64, 80}[r.IntN(6)]
		ho, wo := 1+r.IntN(9), 1+r.IntN(9)
		if trial >= 60 { // maps whose output streams past the caches (laneStreamMin)
			lanes = []int{16, 32}[r.IntN(2)]
			ho, wo = 40+r.IntN(9), 40+r.IntN(9)
		}
		hin, win := (ho-1)*s+k, (wo-1)*s+k
		xstep := lanes + 16*r.IntN(2)
		xrow := win*xstep + 16*r.IntN(2)
		ystep := lanes + 16*r.IntN(2)
		yrow := wo*ystep + 16*r.IntN(2)
		g := LaneGeom{K: k, S: s, Ho: ho, Wo: wo, XRow: xrow, XStep: xstep, YRow: yrow, YStep: ystep, Lanes: lanes}
		x := make([]float32, hin*xrow)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		w := make([]float32, k*k)
		for i := range w {
			w[i] = float32(r.NormFloat64())
		}
		b := float32(r.NormFloat64())
		act := Act(trial % 3)
		acc := trial%4 == 1 // add to y's values (package infer's dense convolutions)
		for _, im := range impls {
			t.Run(fmt.Sprintf("%d/%s/k%d-s%d-%dx%d-lanes%d-acc%v", trial, im.name, k, s, ho, wo, lanes, acc), func(t *testing.T) {
				y := make([]float32, ho*yrow+16)
				for i := range y {
					y[i] = 12345 // untouched between positions
				}
				prior := func(oy, ox, j int) float64 { return float64(oy) - 0.5*float64(ox) + 0.25*float64(j%3) }
				if acc {
					for oy := 0; oy < ho; oy++ {
						for ox := 0; ox < wo; ox++ {
							for j := 0; j < lanes; j++ {
								y[oy*yrow+ox*ystep+j] = float32(prior(oy, ox, j))
							}
						}
					}
				}
				if !im.run(g, y, x, w, b, act, acc) {
					t.Skip("the tier does not take this geometry")
				}
				for oy := 0; oy < ho; oy++ {
					for ox := 0; ox < wo; ox++ {
						for j := 0; j < lanes; j++ {
							sum, mag := float64(b), math.Abs(float64(b))
							if acc {
								sum += prior(oy, ox, j)
								mag += math.Abs(prior(oy, ox, j))
							}
							for ky := 0; ky < k; ky++ {
								for kx := 0; kx < k; kx++ {
									v := float64(w[ky*k+kx]) * float64(x[(oy*s+ky)*xrow+(ox*s+kx)*xstep+j])
									sum += v
									mag += math.Abs(v)
								}
							}
							want := float64(activate(act, float32(sum)))
							got := float64(y[oy*yrow+ox*ystep+j])
							if math.Abs(got-want) > 1e-5*mag+1e-30 {
								t.Fatalf("(%d,%d) lane %d: %g, want %g", oy, ox, j, got, want)
							}
						}
						for j := lanes; j < ystep && oy*yrow+ox*ystep+j < len(y); j++ {
							if y[oy*yrow+ox*ystep+j] != 12345 {
								t.Fatalf("(%d,%d): wrote lane %d past %d", oy, ox, j, lanes)
							}
						}
					}
				}
			})
		}
	}
}

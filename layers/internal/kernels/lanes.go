package kernels

import "fmt"

// Lane-major depthwise convolution, for package infer's layout: an
// activation holds, for each channel and position, the values of a group of
// images side by side (lanes). A depthwise tap is then a vector
// multiply-add across the images, with no edge masks: the input map carries
// its zero padding as positions of its own.

// LaneGeom is one channel's lane-major depthwise convolution: output (oy,
// ox), lane j, is y[oy·YRow + ox·YStep + j] = act(b + Σ k[ky·K+kx] ·
// x[(oy·S+ky)·XRow + (ox·S+kx)·XStep + j]) for lanes j < Lanes, x already
// offset so that the padding lies inside it (zeros).
type LaneGeom struct {
	K, S        int // kernel side, stride
	Ho, Wo      int // output map
	XRow, XStep int // input: floats from a row to the next, a position to the next
	YRow, YStep int // output: likewise
	Lanes       int // images a position holds (the kernels' vectors: a multiple of 16 runs them)
}

// check verifies that x and y hold every value the geometry reads and
// writes.
func (g LaneGeom) check(y, x, k []float32) error {
	if g.K <= 0 || g.S <= 0 || g.Ho <= 0 || g.Wo <= 0 || g.Lanes <= 0 {
		return fmt.Errorf("lane depthwise: bad geometry %+v", g)
	}
	lastX := ((g.Ho-1)*g.S+g.K-1)*g.XRow + ((g.Wo-1)*g.S+g.K-1)*g.XStep + g.Lanes
	lastY := (g.Ho-1)*g.YRow + (g.Wo-1)*g.YStep + g.Lanes
	if lastX > len(x) || lastY > len(y) || len(k) < g.K*g.K {
		return fmt.Errorf("lane depthwise %+v: x %d (want %d), y %d (want %d), k %d", g, len(x), lastX, len(y), lastY, len(k))
	}
	return nil
}

// DWLanes computes g's convolution of x by k (K×K weights) plus b (plus
// what y holds, with acc: a dense convolution's input channels one after
// the other), through act, into y. It panics if the slices are too short
// for g (a bug in the caller: package infer sizes them).
func DWLanes(g LaneGeom, y, x, k []float32, b float32, act Act, acc bool) {
	if err := g.check(y, x, k); err != nil {
		panic(err)
	}
	if g.K == 3 && dwLanesAsm(g, y, x, k, b, act, acc) {
		return
	}
	dwLanesGo(g, y, x, k, b, act, acc)
}

// dwLanesGo is DWLanes's plain definition (every tier).
func dwLanesGo(g LaneGeom, y, x, k []float32, b float32, act Act, acc bool) {
	sum := make([]float32, g.Lanes)
	for oy := 0; oy < g.Ho; oy++ {
		for ox := 0; ox < g.Wo; ox++ {
			ys := y[oy*g.YRow+ox*g.YStep:][:g.Lanes]
			for j := range sum {
				sum[j] = b
				if acc {
					sum[j] = ys[j] + b
				}
			}
			for ky := 0; ky < g.K; ky++ {
				for kx := 0; kx < g.K; kx++ {
					w := k[ky*g.K+kx]
					xs := x[(oy*g.S+ky)*g.XRow+(ox*g.S+kx)*g.XStep:][:g.Lanes]
					for j, v := range xs {
						sum[j] += w * v
					}
				}
			}
			for j, v := range sum {
				ys[j] = activate(act, v)
			}
		}
	}
}

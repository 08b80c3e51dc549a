package data

import "math"

// Resampling of a box of a stored image to the model's r×r input, for
// images of any size: separable triangle (bilinear) filtering whose support
// widens with the shrink factor, so that shrinking averages every source
// pixel (antialiasing, as PIL's and torchvision's antialiased bilinear
// resize); enlarging is plain bilinear interpolation. Taps outside the
// image are dropped and the others renormalised.

// taps are one output coordinate's source indices and weights.
type taps struct {
	first int
	w     []float32
}

// filterTaps returns, for each of n outputs, the taps over a source of
// size size for the box [x0, x0+extent), mirrored when flip.
func filterTaps(n int, x0, extent float64, size int, flip bool) []taps {
	scale := extent / float64(n)
	support := max(1, scale)
	out := make([]taps, n)
	for o := range out {
		oo := o
		if flip {
			oo = n - 1 - o
		}
		c := x0 + (float64(oo)+0.5)*scale - 0.5 // the output's centre in source pixel coordinates
		lo := max(int(math.Floor(c-support))+1, 0)
		hi := min(int(math.Ceil(c+support))-1, size-1)
		if lo > hi { // the box lies outside the image: the nearest edge pixel
			lo = min(max(int(math.Round(c)), 0), size-1)
			hi = lo
		}
		w := make([]float32, hi-lo+1)
		var sum float64
		for i := range w {
			v := max(0, 1-math.Abs(float64(lo+i)-c)/support)
			w[i] = float32(v)
			sum += v
		}
		if sum == 0 {
			w[len(w)/2], sum = 1, 1
		}
		for i := range w {
			w[i] /= float32(sum)
		}
		out[o] = taps{first: lo, w: w}
	}
	return out
}

// sampleBox writes the box (x0, y0, bw, bh) of the planar RGB image src
// (w×h) as a normalised 3×r×r image into dst, mirrored when flip.
func sampleBox(dst []float32, src []byte, w, h int, x0, y0, bw, bh float64, flip bool, r int, p *Preprocess) {
	xt := filterTaps(r, x0, bw, w, flip)
	yt := filterTaps(r, y0, bh, h, false)
	rows0, rows1 := yt[0].first, yt[r-1].first+len(yt[r-1].w) // the source rows used
	tmp := make([]float32, (rows1-rows0)*r)
	for c := 0; c < 3; c++ {
		plane := src[c*w*h : (c+1)*w*h]
		for sy := rows0; sy < rows1; sy++ {
			row := plane[sy*w : (sy+1)*w]
			t := tmp[(sy-rows0)*r : (sy-rows0+1)*r]
			for ox, tp := range xt {
				var s float32
				for i, wt := range tp.w {
					s += wt * float32(row[tp.first+i])
				}
				t[ox] = s
			}
		}
		m, inv := p.Mean[c], 1/p.Std[c]
		out := dst[c*r*r : (c+1)*r*r]
		for oy, tp := range yt {
			o := out[oy*r : (oy+1)*r]
			clear(o)
			for i, wt := range tp.w {
				t := tmp[(tp.first+i-rows0)*r : (tp.first+i-rows0+1)*r]
				for ox := range o {
					o[ox] += wt * t[ox]
				}
			}
			for ox := range o {
				o[ox] = (o[ox]/255 - m) * inv
			}
		}
	}
}

// centerCropBox is the evaluation box of a stored image for an input of
// r: the whole image for ResizeExact; else torchvision's centre crop of the
// image resized to StoredSide(r), i.e. a square of side shorter·r/
// StoredSide(r) at the centre (offsets rounded as torchvision's). For an
// image stored at that shorter side the box is r pixels at a whole offset,
// and the resampling is the identity.
func centerCropBox(w, h int, resize string, r int) (x0, y0, bw, bh float64) {
	if resize != ResizeCenterCrop {
		return 0, 0, float64(w), float64(h)
	}
	side := float64(min(w, h)) * float64(r) / float64(StoredSide(r))
	if s := math.Round(side); math.Abs(s-side) < 1e-9 {
		side = s
	}
	return math.Round((float64(w) - side) / 2), math.Round((float64(h) - side) / 2), side, side
}

// randomResizedCropBox draws torchvision's RandomResizedCrop box: an area
// of 8% to 100% of the image and an aspect ratio between 3/4 and 4/3
// (log-uniform), ten tries, else the centre crop of the clamped ratio.
func randomResizedCropBox(w, h int, u func() float64) (x0, y0, bw, bh float64) {
	area := float64(w * h)
	logLo, logHi := math.Log(3.0/4), math.Log(4.0/3)
	for range 10 {
		target := area * (0.08 + u()*(1-0.08))
		ratio := math.Exp(logLo + u()*(logHi-logLo))
		cw := math.Round(math.Sqrt(target * ratio))
		ch := math.Round(math.Sqrt(target / ratio))
		if cw >= 1 && ch >= 1 && cw <= float64(w) && ch <= float64(h) {
			x0 := math.Floor(u() * (float64(w) - cw + 1))
			y0 := math.Floor(u() * (float64(h) - ch + 1))
			return x0, y0, cw, ch
		}
	}
	ratio := float64(w) / float64(h)
	cw, ch := float64(w), float64(h)
	if ratio < 3.0/4 {
		ch = math.Round(cw / (3.0 / 4))
	} else if ratio > 4.0/3 {
		cw = math.Round(ch * 4.0 / 3)
	}
	return (float64(w) - cw) / 2, (float64(h) - ch) / 2, cw, ch
}

package data

import (
	"math"
	"math/rand/v2"
)

// TrivialAugment Wide (Müller & Hutter, 2021; torchvision's
// TrivialAugmentWide) on the 3×32×32 byte images of fixed-size datasets:
// per image, one operation drawn uniformly from the fourteen below, at a
// magnitude drawn uniformly from 31 steps of its range (signed where the
// operation has a direction). Geometric operations sample the nearest
// pixel and fill with the fill colour (the channel means, which become 0
// after normalisation, as the crop's padding does).

// taOps is the number of operations.
const taOps = 14

// taBins is the number of magnitude steps.
const taBins = 31

// trivialAugment applies one random operation to img (3×s×s bytes, planar)
// in place, drawing from r; a nil img only takes the draws.
func trivialAugment(img []byte, s int, fill [3]byte, r *rand.Rand) {
	op, bin := r.IntN(taOps), r.IntN(taBins)
	sign := 1.0
	if r.IntN(2) == 1 {
		sign = -1
	}
	f := float64(bin) / (taBins - 1) // 0 … 1 over the range
	if img != nil {
		applyOp(img, s, fill, op, f, sign)
	}
}

// applyOp applies operation op at fraction f of its range (sign for the
// signed ones).
func applyOp(img []byte, s int, fill [3]byte, op int, f, sign float64) {
	switch op {
	case 0: // identity
	case 1: // shear x, about the top-left corner, up to 0.99
		affineNearest(img, s, fill, func(x, y float64) (float64, float64) { return x + sign*0.99*f*y, y })
	case 2: // shear y
		affineNearest(img, s, fill, func(x, y float64) (float64, float64) { return x, y + sign*0.99*f*x })
	case 3: // translate x, up to 32 pixels
		d := math.Round(sign * 32 * f)
		affineNearest(img, s, fill, func(x, y float64) (float64, float64) { return x - d, y })
	case 4: // translate y
		d := math.Round(sign * 32 * f)
		affineNearest(img, s, fill, func(x, y float64) (float64, float64) { return x, y - d })
	case 5: // rotate about the centre, up to 135°
		a := sign * 135 * f * math.Pi / 180
		c, sn, m := math.Cos(a), math.Sin(a), float64(s)/2
		affineNearest(img, s, fill, func(x, y float64) (float64, float64) {
			dx, dy := x-m, y-m
			return c*dx + sn*dy + m, -sn*dx + c*dy + m
		})
	case 6: // brightness: blend with black, factor 1 ± 0.99
		blend(img, nil, 1+sign*0.99*f)
	case 7: // colour: blend with the grey image
		blend(img, grey(img, s), 1+sign*0.99*f)
	case 8: // contrast: blend with the grey image's mean
		g := grey(img, s)
		var sum float64
		for _, v := range g[:s*s] {
			sum += float64(v)
		}
		m := byte(math.Round(sum / float64(s*s)))
		for i := range g {
			g[i] = m
		}
		blend(img, g, 1+sign*0.99*f)
	case 9: // sharpness: blend with the smoothed image
		blend(img, smooth(img, s), 1+sign*0.99*f)
	case 10: // posterize: keep 8 down to 2 bits
		bits := 8 - int(math.Round(f*6))
		mask := byte(0xff << (8 - bits))
		for i := range img {
			img[i] &= mask
		}
	case 11: // solarize: invert pixels at or above a threshold from 255 down to 0
		t := 255 * (1 - f)
		for i, v := range img {
			if float64(v) >= t {
				img[i] = 255 - v
			}
		}
	case 12: // autocontrast: stretch each channel to 0 … 255
		for c := 0; c < 3; c++ {
			p := img[c*s*s : (c+1)*s*s]
			lo, hi := byte(255), byte(0)
			for _, v := range p {
				lo, hi = min(lo, v), max(hi, v)
			}
			if hi > lo {
				scale := 255 / float64(hi-lo)
				for i, v := range p {
					p[i] = byte(min(255, math.Round(float64(v-lo)*scale)))
				}
			}
		}
	case 13: // equalize each channel's histogram (PIL's algorithm)
		for c := 0; c < 3; c++ {
			equalize(img[c*s*s : (c+1)*s*s])
		}
	}
}

// affineNearest resamples img through src, which maps an output pixel
// centre to its source position, nearest pixel, fill outside.
func affineNearest(img []byte, s int, fill [3]byte, src func(x, y float64) (float64, float64)) {
	out := make([]byte, len(img))
	for y := 0; y < s; y++ {
		for x := 0; x < s; x++ {
			sx, sy := src(float64(x), float64(y))
			ix, iy := int(math.Round(sx)), int(math.Round(sy))
			inside := ix >= 0 && ix < s && iy >= 0 && iy < s
			for c := 0; c < 3; c++ {
				v := fill[c]
				if inside {
					v = img[c*s*s+iy*s+ix]
				}
				out[c*s*s+y*s+x] = v
			}
		}
	}
	copy(img, out)
}

// blend sets img to other + factor·(img − other) (other nil: black),
// clamped to bytes.
func blend(img, other []byte, factor float64) {
	for i, v := range img {
		var o float64
		if other != nil {
			o = float64(other[i])
		}
		img[i] = byte(min(255, max(0, math.Round(o+factor*(float64(v)-o)))))
	}
}

// grey returns the image's luminance (ITU-R 601-2, as PIL's "L") in all
// three channels.
func grey(img []byte, s int) []byte {
	n := s * s
	g := make([]byte, 3*n)
	for i := 0; i < n; i++ {
		l := byte(math.Round((299*float64(img[i]) + 587*float64(img[n+i]) + 114*float64(img[2*n+i])) / 1000))
		g[i], g[n+i], g[2*n+i] = l, l, l
	}
	return g
}

// smooth is PIL's SMOOTH filter (3×3 weights 1, centre 5, over 13); the
// border pixels stay as they are.
func smooth(img []byte, s int) []byte {
	out := append([]byte(nil), img...)
	for c := 0; c < 3; c++ {
		p := img[c*s*s : (c+1)*s*s]
		o := out[c*s*s : (c+1)*s*s]
		for y := 1; y < s-1; y++ {
			for x := 1; x < s-1; x++ {
				sum := 4 * int(p[y*s+x])
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						sum += int(p[(y+dy)*s+x+dx])
					}
				}
				o[y*s+x] = byte((sum + 6) / 13)
			}
		}
	}
	return out
}

// equalize equalises one channel's histogram in place, as PIL's
// ImageOps.equalize.
func equalize(p []byte) {
	var hist [256]int
	for _, v := range p {
		hist[v]++
	}
	last := 255
	for last > 0 && hist[last] == 0 {
		last--
	}
	step := (len(p) - hist[last]) / 255
	if step == 0 {
		return
	}
	var lut [256]byte
	n := step / 2
	for i := range lut {
		lut[i] = byte(min(255, n/step))
		n += hist[i]
	}
	for i, v := range p {
		p[i] = lut[v]
	}
}

// randomErase sets a random rectangle of the normalised 3×s×s image to 0
// (the mean) with probability p: torchvision's RandomErasing with its
// defaults, an area of 2–33% of the image and an aspect ratio of 0.3–3.3
// (log-uniform), ten tries. A nil img only takes the draws.
func randomErase(img []float32, s int, p float64, r *rand.Rand) {
	if r.Float64() >= p {
		return
	}
	area := float64(s * s)
	logLo, logHi := math.Log(0.3), math.Log(3.3)
	for range 10 {
		target := area * (0.02 + r.Float64()*(0.33-0.02))
		ratio := math.Exp(logLo + r.Float64()*(logHi-logLo))
		h := int(math.Round(math.Sqrt(target * ratio)))
		w := int(math.Round(math.Sqrt(target / ratio)))
		if h < 1 || w < 1 || h > s || w > s {
			continue
		}
		y0, x0 := r.IntN(s-h+1), r.IntN(s-w+1)
		for c := 0; c < 3 && img != nil; c++ {
			for y := y0; y < y0+h; y++ {
				clear(img[c*s*s+y*s+x0 : c*s*s+y*s+x0+w])
			}
		}
		return
	}
}

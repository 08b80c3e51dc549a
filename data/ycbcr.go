package data

import "image"

// The colour conversion of Go's fallback JPEG decoding, made as close to
// libjpeg's as Go's decoder allows: chroma planes subsampled 2×2 or 2×1
// are upsampled with libjpeg's "fancy" triangular filter (jdsample.c:
// each output sample is 3/4 of the nearer input and 1/4 of the next, in
// each subsampled direction, with libjpeg's rounding biases), and YCbCr
// becomes RGB through libjpeg's fixed-point tables (jdcolor.c). Go's
// image/jpeg instead replicates chroma samples and converts with other
// constants; its inverse DCT differs from libjpeg's as well, which this
// cannot change (luma may still differ by a level here and there).

// ycc are libjpeg's conversion tables (16-bit fixed point).
var ycc = func() (t struct{ crR, cbB, crG, cbG [256]int32 }) {
	const scale = 16
	fix := func(x float64) int32 { return int32(x*(1<<scale) + 0.5) }
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		t.crR[i] = (fix(1.40200)*x + 1<<(scale-1)) >> scale
		t.cbB[i] = (fix(1.77200)*x + 1<<(scale-1)) >> scale
		t.crG[i] = -fix(0.71414) * x
		t.cbG[i] = -fix(0.34414)*x + 1<<(scale-1)
	}
	return t
}()

func clamp255(v int32) uint8 {
	switch {
	case v < 0:
		return 0
	case v > 255:
		return 255
	}
	return uint8(v)
}

// fancyRGB converts a 4:2:0 or 4:2:2 image as libjpeg does, or returns
// nil for other layouts (left to the standard conversion).
func fancyRGB(src *image.YCbCr) *image.RGBA {
	var vsub bool
	switch src.SubsampleRatio {
	case image.YCbCrSubsampleRatio420:
		vsub = true
	case image.YCbCrSubsampleRatio422:
	default:
		return nil
	}
	b := src.Rect
	w, h := b.Dx(), b.Dy()
	if w < 1 || h < 1 {
		return nil
	}
	cw := (w + 1) / 2 // chroma samples a row
	ch := h
	if vsub {
		ch = (h + 1) / 2
	}
	if cw <= 2 {
		// libjpeg upsamples fancily only rows of more than two chroma
		// samples; these it replicates, as Go's conversion does (but
		// with libjpeg's tables).
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				ci := src.COffset(b.Min.X+x, b.Min.Y+y)
				yy, cbv, crv := int32(src.Y[src.YOffset(b.Min.X+x, b.Min.Y+y)]), src.Cb[ci], src.Cr[ci]
				o := dst.PixOffset(x, y)
				dst.Pix[o] = clamp255(yy + ycc.crR[crv])
				dst.Pix[o+1] = clamp255(yy + (ycc.cbG[cbv]+ycc.crG[crv])>>16)
				dst.Pix[o+2] = clamp255(yy + ycc.cbB[cbv])
				dst.Pix[o+3] = 255
			}
		}
		return dst
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	cb, cr := make([]int32, w), make([]int32, w)
	colsum := make([]int32, cw)
	// upRow upsamples chroma row y of plane p (stride, offset of the
	// image's first sample) into out: vertically (3·nearer + farther) when
	// subsampled that way, then horizontally.
	upRow := func(out []int32, p []uint8, off, stride, y int) {
		cy := y
		if vsub {
			cy = y / 2
		}
		near := p[off+cy*stride:]
		if vsub {
			far := cy - 1 // upper output row of a pair: the row above
			if y%2 == 1 {
				far = cy + 1
			}
			far = min(max(far, 0), ch-1)
			farRow := p[off+far*stride:]
			for i := 0; i < cw; i++ {
				colsum[i] = 3*int32(near[i]) + int32(farRow[i])
			}
			// h2v2: horizontal triangle on the column sums, rounding
			// biases 8 and 7 (jdsample.c h2v2_fancy_upsample).
			out[0] = (colsum[0]*4 + 8) >> 4
			out[1] = (colsum[0]*3 + colsum[1] + 7) >> 4
			for i := 1; i < cw-1; i++ {
				out[2*i] = (colsum[i]*3 + colsum[i-1] + 8) >> 4
				out[2*i+1] = (colsum[i]*3 + colsum[i+1] + 7) >> 4
			}
			last := cw - 1
			out[2*last] = (colsum[last]*3 + colsum[last-1] + 8) >> 4
			if 2*last+1 < w {
				out[2*last+1] = (colsum[last]*4 + 7) >> 4
			}
			return
		}
		// h2v1 (jdsample.c h2v1_fancy_upsample): biases 1 and 2.
		out[0] = int32(near[0])
		out[1] = (int32(near[0])*3 + int32(near[1]) + 2) >> 2
		for i := 1; i < cw-1; i++ {
			out[2*i] = (int32(near[i])*3 + int32(near[i-1]) + 1) >> 2
			out[2*i+1] = (int32(near[i])*3 + int32(near[i+1]) + 2) >> 2
		}
		last := cw - 1
		out[2*last] = (int32(near[last])*3 + int32(near[last-1]) + 1) >> 2
		if 2*last+1 < w {
			out[2*last+1] = int32(near[last])
		}
	}
	cOff := src.COffset(b.Min.X, b.Min.Y)
	for y := 0; y < h; y++ {
		upRow(cb, src.Cb, cOff, src.CStride, y)
		upRow(cr, src.Cr, cOff, src.CStride, y)
		yrow := src.Y[src.YOffset(b.Min.X, b.Min.Y+y):]
		out := dst.Pix[y*dst.Stride:]
		for x := 0; x < w; x++ {
			yy, cbv, crv := int32(yrow[x]), cb[x], cr[x]
			out[4*x] = clamp255(yy + ycc.crR[crv])
			out[4*x+1] = clamp255(yy + (ycc.cbG[cbv]+ycc.crG[crv])>>16)
			out[4*x+2] = clamp255(yy + ycc.cbB[cbv])
			out[4*x+3] = 255
		}
	}
	return dst
}

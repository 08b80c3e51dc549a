package kernels

// Forward and input-gradient kernel for the full 3×3, stride-1, padding-1
// depthwise convolution (most of MobileNet's depthwise layers). Each output row is computed in one pass
// from three input rows, a zero row standing in for the padding above and
// below, so every output is loaded and stored once.

// rows3 returns input rows oy−1, oy, oy+1 of a plane, zero outside.
func rows3[T Float](x []T, oy, h, w int, zero []T) (a, b, c []T) {
	a, b, c = zero, x[oy*w:(oy+1)*w], zero
	if oy > 0 {
		a = x[(oy-1)*w : oy*w]
	}
	if oy+1 < h {
		c = x[(oy+1)*w : (oy+2)*w]
	}
	return a, b, c
}

// conv3x3s1 writes y = x ⋆ k (cross-correlation, padding 1) for one plane;
// with k rotated by 180° it is the input gradient of the same convolution.
func conv3x3s1[T Float](y, x []T, k *[9]T, h, w int, zero []T) {
	if y32, ok := asm32(y); ok {
		x32, k32, z32 := any(x).([]float32), any(k).(*[9]float32), any(zero).([]float32)
		_, _, _ = y32[h*w-1], x32[h*w-1], z32[w-1] // the assembly trusts these lengths
		conv3x3s1Vec(y32, x32, k32, h, w, z32)
		conv3x3s1Edges(y32, x32, k32, h, w, z32)
		return
	}
	k0, k1, k2, k3, k4, k5, k6, k7, k8 := k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]
	for oy := 0; oy < h; oy++ {
		a, b, c := rows3(x, oy, h, w, zero)
		yr := y[oy*w : (oy+1)*w]
		n := w - 2
		a0, a1, a2 := a[0:n], a[1:n+1], a[2:n+2]
		b0, b1, b2 := b[0:n], b[1:n+1], b[2:n+2]
		c0, c1, c2 := c[0:n], c[1:n+1], c[2:n+2]
		mid := yr[1 : n+1]
		// Reslicing to len(mid) lets the compiler drop the bounds checks.
		a0, a1, a2 = a0[:len(mid)], a1[:len(mid)], a2[:len(mid)]
		b0, b1, b2 = b0[:len(mid)], b1[:len(mid)], b2[:len(mid)]
		c0, c1, c2 = c0[:len(mid)], c1[:len(mid)], c2[:len(mid)]
		for i := range mid {
			mid[i] = k0*a0[i] + k1*a1[i] + k2*a2[i] + k3*b0[i] + k4*b1[i] + k5*b2[i] + k6*c0[i] + k7*c1[i] + k8*c2[i]
		}
	}
	conv3x3s1Edges(y, x, k, h, w, zero)
}

// conv3x3s1Edges computes columns 0 and w−1 of conv3x3s1 (both paths
// compute the interior columns, then call this).
func conv3x3s1Edges[T Float](y, x []T, k *[9]T, h, w int, zero []T) {
	k0, k1, k2, k3, k4, k5, k6, k7, k8 := k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]
	for oy := 0; oy < h; oy++ {
		a, b, c := rows3(x, oy, h, w, zero)
		yr := y[oy*w : (oy+1)*w]
		yr[0] = k1*a[0] + k2*a[1] + k4*b[0] + k5*b[1] + k7*c[0] + k8*c[1]
		yr[w-1] = k0*a[w-2] + k1*a[w-1] + k3*b[w-2] + k4*b[w-1] + k6*c[w-2] + k7*c[w-1]
	}
}

// dwPlaneBackwardKernel3x3AVX2 is dwPlaneBackwardKernel3s1 for float32
// 3×3 planes on the AVX2 tier and above (plan dwRows; the AVX-512 kernel on
// the AVX512 tier).
func dwPlaneBackwardKernel3x3AVX2(g Geom, acc32, x32, dy32 []float32) {
	W := g.W
	h := g.H
	_, _, _ = acc32[8], x32[h*W-1], dy32[h*W-1] // the assembly trusts these lengths
	var zb [64]float32
	kgrad3x3s1Vec((*[9]float32)(acc32), dy32, x32, h, W, zeroRow(&zb, W))
	// The edge columns: output column 0 meets taps 1, 2 (x[0], x[1]);
	// column W−1 taps 0, 1 (x[W−2], x[W−1]).
	for oy := 0; oy < h; oy++ {
		d0, d1 := dy32[oy*W], dy32[oy*W+W-1]
		for ky := 0; ky < 3; ky++ {
			iy := oy - 1 + ky
			if iy < 0 || iy >= h {
				continue
			}
			xr := x32[iy*W : (iy+1)*W]
			acc32[ky*3] += d1 * xr[W-2]
			acc32[ky*3+1] += d0*xr[0] + d1*xr[W-1]
			acc32[ky*3+2] += d0 * xr[1]
		}
	}
}

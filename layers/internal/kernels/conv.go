package kernels

import (
	"slices"

	"github.com/gomobilenet/mobilenet/blas"
	"github.com/gomobilenet/mobilenet/internal/parallel"
)

// Dense 2-D convolution kernels on NCHW data, as GEMMs. Per sample,
// Y[n] (O × Ho·Wo) = W (O × C·KH·KW) · col(X[n]) (C·KH·KW × Ho·Wo), where col
// is the im2col matrix; a pointwise (1×1, stride 1, no padding) convolution
// uses X[n] itself as col, with no copy. When the spatial size is small the
// pointwise GEMMs are batched instead: X is packed to C × N·HW, one GEMM runs,
// and the result is unpacked.

// gemm is blas.Gemm with alpha 1, in bf16 when sc asks for it and the data
// are float32 (blas.GemmBF16).
func gemm[T Float](sc *Scratch, tA, tB bool, m, n, k int, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if a32, ok := any(a).([]float32); ok && sc.bf16() {
		blas.GemmBF16(tA, tB, m, n, k, 1, a32, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
		return
	}
	blas.Gemm(tA, tB, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
}

// gemm1 is gemm on the calling goroutine only (blas.Gemm1, blas.GemmBF16x1).
func gemm1[T Float](sc *Scratch, tA, tB bool, m, n, k int, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if a32, ok := any(a).([]float32); ok && sc.bf16() {
		blas.GemmBF16x1(tA, tB, m, n, k, 1, a32, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
		return
	}
	blas.Gemm1(tA, tB, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
}

// pointwise reports whether the convolution is a plain 1×1 product.
func (g Geom) Pointwise() bool {
	return g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.PT == 0 && g.PB == 0 && g.PL == 0 && g.PR == 0
}

// packed reports whether a pointwise convolution runs as one batched GEMM
// (after packing the batch into one matrix) rather than one GEMM per sample
// (weight: for the weight gradient): below 16 positions a plane
// (MobileNet's 2×2 maps) the per-sample products are too thin. From 16 (4×4
// maps) the per-sample products run in place, without the two copies:
// BenchmarkSmallMaps (package blas), 384 channels on 4×4 maps, batch 128,
// one Zen 4 core: forward 1.4× as fast per sample with AVX-512 (16×16
// kernel), 1.5× with AVX2, 1.1× with OpenBLAS; the weight gradient
// 1.05–1.1×. In bf16 the weight gradient of 4×4 maps is packed too: one
// sample's product has a depth of 16, half an AMX tile's 32, and the
// packed one runs at ten times its speed (the whole step, alpha 0.75,
// Xeon 6/167: 704 → 727 images/s, median of four).
func (g Geom) packed(sc *Scratch, weight bool) bool {
	small := 16
	if weight && sc.bf16() {
		small = 17
	}
	return g.Pointwise() && g.H*g.W < small && g.N > 1 && !g.grouped()
}

// strided writes every s-th element of src, from the first, into dst
// (len(src) = (len(dst)−1)·s + 1): im2col's rows at a stride, the stem's
// at 224×224. Stride 2 has an unrolled loop of its own.
func strided[T Float](dst, src []T, s int) {
	if s == 2 {
		for len(dst) >= 4 && len(src) >= 8 {
			dst[0], dst[1], dst[2], dst[3] = src[0], src[2], src[4], src[6]
			dst, src = dst[4:], src[8:]
		}
	}
	for i := range dst {
		dst[i] = src[i*s]
	}
}

// grouped reports whether the convolution has more than one group (the
// depthwise case, one group per input channel, runs the depthwise kernels).
func (g Geom) grouped() bool { return g.G > 1 }

// im2col writes the (C·KH·KW) × (Ho·Wo) patch matrix of one input plane set.
func im2col[T Float](g Geom, col, x []T) {
	ohw := g.Ho * g.Wo
	for c := 0; c < g.C; c++ {
		xp := x[c*g.H*g.W : (c+1)*g.H*g.W]
		for ky := 0; ky < g.KH; ky++ {
			for kx := 0; kx < g.KW; kx++ {
				row := col[((c*g.KH+ky)*g.KW+kx)*ohw : ((c*g.KH+ky)*g.KW+kx+1)*ohw]
				lo, hi := colRange(kx, g.SW, g.PL, g.W, g.Wo)
				off := kx - g.PL
				for oy := 0; oy < g.Ho; oy++ {
					r := row[oy*g.Wo : (oy+1)*g.Wo]
					iy := oy*g.SH - g.PT + ky
					if iy < 0 || iy >= g.H {
						clear(r)
						continue
					}
					xr := xp[iy*g.W : (iy+1)*g.W]
					clear(r[:lo])
					clear(r[hi:])
					if g.SW == 1 {
						copy(r[lo:hi], xr[lo+off:hi+off])
						continue
					}
					if lo < hi {
						strided(r[lo:hi], xr[lo*g.SW+off:(hi-1)*g.SW+off+1], g.SW)
					}
				}
			}
		}
	}
}

// col2im adds the patch-matrix gradient back onto the (zeroed) input planes.
func col2im[T Float](g Geom, dx, col []T) {
	ohw := g.Ho * g.Wo
	clear(dx)
	for c := 0; c < g.C; c++ {
		xp := dx[c*g.H*g.W : (c+1)*g.H*g.W]
		for ky := 0; ky < g.KH; ky++ {
			for kx := 0; kx < g.KW; kx++ {
				row := col[((c*g.KH+ky)*g.KW+kx)*ohw : ((c*g.KH+ky)*g.KW+kx+1)*ohw]
				lo, hi := colRange(kx, g.SW, g.PL, g.W, g.Wo)
				off := kx - g.PL
				for oy := 0; oy < g.Ho; oy++ {
					iy := oy*g.SH - g.PT + ky
					if iy < 0 || iy >= g.H {
						continue
					}
					r := row[oy*g.Wo : (oy+1)*g.Wo]
					xr := xp[iy*g.W : (iy+1)*g.W]
					for ox := lo; ox < hi; ox++ {
						xr[ox*g.SW+off] += r[ox]
					}
				}
			}
		}
	}
}

// pack copies x (N, C, P) to C × N·P; unpack is the inverse. Both are
// transposes of an N × C matrix of P-element blocks, walked in tiles of
// packTile × packTile blocks: P is small (MobileNet's 2×2 and 4×4 maps),
// and a walk along either side alone would touch each block of the other
// a page apart.
func pack[T Float](dst, x []T, n, c, p int) {
	ParallelFor(c, packTile, func(c0, c1 int) {
		for i0 := 0; i0 < n; i0 += packTile {
			i1 := min(i0+packTile, n)
			for ci := c0; ci < c1; ci++ {
				for i := i0; i < i1; i++ {
					copyBlock(dst[(ci*n+i)*p:][:p], x[(i*c+ci)*p:][:p])
				}
			}
		}
	})
}

// unpack is pack's inverse: the C × N matrix of blocks transposed back.
func unpack[T Float](dst, xp []T, n, c, p int) { pack(dst, xp, c, n, p) }

// packTile is the side of pack's tiles, in blocks.
const packTile = 16

// copyBlock copies a block of a few elements (a loop: copy's call costs
// more than 4 or 16 elements).
func copyBlock[T Float](dst, src []T) {
	src = src[:len(dst)]
	for q := range dst {
		dst[q] = src[q]
	}
}

// ConvForward computes y (N, O, Ho, Wo) = conv(x, w), w being (O, C·KH·KW).
func ConvForward[T Float](sc *Scratch, g Geom, y, x, w []T) { ConvForwardEp(sc, g, y, x, w, nil) }

// ConvForwardEp is ConvForward with an Epilogue applied to each output
// channel's plane while it is in cache (nil: none).
func ConvForwardEp[T Float](sc *Scratch, g Geom, y, x, w []T, ep *Epilogue[T]) {
	K, ohw, hw := g.C*g.KH*g.KW, g.Ho*g.Wo, g.H*g.W
	if g.grouped() {
		ep.begin(g.N*g.O, ohw, g.O)
		groupedForward(sc, g, y, x, w, ep)
		return
	}
	if g.packed(sc, false) {
		ep.begin(g.O, g.N*hw, g.O)
		xp := Buffer[T](sc, rolePackIn, 0, g.C*g.N*hw)
		yp := Buffer[T](sc, rolePackOut, 0, g.O*g.N*hw)
		pack(xp, x, g.N, g.C, hw)
		gemm(sc, false, false, g.O, g.N*hw, g.C, w, g.C, xp, g.N*hw, 0, yp, g.N*hw)
		if ep != nil { // row o of the packed product is channel o
			ParallelFor(g.O, 1, func(o0, o1 int) { ep.planes(yp, o0, o1, g.N*hw, g.O) })
		}
		unpack(y, yp, g.N, g.O, hw)
		return
	}
	if stemForward(sc, g, y, x, w, ep) {
		return
	}
	pw := packSampleWeights(sc, ohw, false, g.O, K, w) // the weights, packed once for every sample
	ep.begin(g.N*g.O, ohw, g.O)
	perSample(g.N, colBuffer[T](sc, g), func(n int, col []T) {
		xn := x[n*g.C*hw : (n+1)*g.C*hw]
		if col == nil {
			col = xn
		} else {
			im2col(g, col, xn)
		}
		yn := y[n*g.O*ohw : (n+1)*g.O*ohw]
		pw.product(ohw, col, yn)
		ep.planes(y, n*g.O, (n+1)*g.O, ohw, g.O)
	})
}

// stemForward runs a network's stem (a 3×3, stride-2 convolution of a
// few channels: StemFits for one image) on the stem kernel, an image at a
// time, and reports whether it did; in bf16 the kernel rounds the inputs
// and the weights are given rounded, as a bf16 product's. In training at
// 224×224, im2col and a product of depth 27 took 4% of a step.
func stemForward[T Float](sc *Scratch, g Geom, y, x, w []T, ep *Epilogue[T]) bool {
	one := g
	one.N = 1
	y32, ok := any(y).([]float32)
	if !ok || g.grouped() || !StemFits(one) {
		return false
	}
	x32, k := any(x).([]float32), any(w).([]float32)
	round := sc.bf16()
	if round {
		k = slices.Clone(k)
		blas.RoundBF16Slice(k)
	}
	st, err := NewStem(one, k, nil, Linear, round)
	if err != nil {
		return false
	}
	ohw, hw := g.Ho*g.Wo, g.H*g.W
	ep.begin(g.N*g.O, ohw, g.O)
	perSample(g.N, func(worker int) []float32 { return Buffer[float32](sc, roleStem, worker, st.BufSize()) }, func(n int, buf []float32) {
		st.Run(y32[n*g.O*ohw:(n+1)*g.O*ohw], x32[n*g.C*hw:(n+1)*g.C*hw], buf)
		ep.planes(y, n*g.O, (n+1)*g.O, ohw, g.O)
	})
	return true
}

// ConvBackwardInput computes dx from dy and w.
func ConvBackwardInput[T Float](sc *Scratch, g Geom, dx, dy, w []T) {
	K, ohw, hw := g.C*g.KH*g.KW, g.Ho*g.Wo, g.H*g.W
	if g.grouped() {
		groupedBackwardInput(sc, g, dx, dy, w)
		return
	}
	if g.packed(sc, false) {
		dyp := Buffer[T](sc, rolePackOut, 0, g.O*g.N*hw)
		dxp := Buffer[T](sc, rolePackIn, 0, g.C*g.N*hw)
		pack(dyp, dy, g.N, g.O, hw)
		gemm(sc, true, false, g.C, g.N*hw, g.O, w, K, dyp, g.N*hw, 0, dxp, g.N*hw)
		unpack(dx, dxp, g.N, g.C, hw)
		return
	}
	wt := packSampleWeights(sc, ohw, true, K, g.O, w) // Wᵀ, packed once for every sample
	perSample(g.N, colBuffer[T](sc, g), func(n int, col []T) {
		dxn := dx[n*g.C*hw : (n+1)*g.C*hw]
		dyn := dy[n*g.O*ohw : (n+1)*g.O*ohw]
		out := col
		if col == nil {
			out = dxn
		}
		wt.product(ohw, dyn, out)
		if col != nil {
			col2im(g, dxn, col)
		}
	})
}

// ConvBackwardWeight computes dw (O, C·KH·KW) = Σ_n dY[n]·col(X[n])ᵀ.
func ConvBackwardWeight[T Float](sc *Scratch, g Geom, dw, x, dy []T) {
	K, ohw, hw := g.C*g.KH*g.KW, g.Ho*g.Wo, g.H*g.W
	if g.packed(sc, true) && sc.bf16() && isFloat32(dw) {
		// The same product, depth N·HW, with dY and X read in place.
		blas.GemmNTBatchBF16(g.O, g.C, hw, g.N, any(dy).([]float32), hw, g.O*hw, any(x).([]float32), hw, g.C*hw, any(dw).([]float32), g.C)
		return
	}
	if g.packed(sc, true) {
		dyp := Buffer[T](sc, rolePackOut, 0, g.O*g.N*hw)
		xp := Buffer[T](sc, rolePackIn, 0, g.C*g.N*hw)
		pack(dyp, dy, g.N, g.O, hw)
		pack(xp, x, g.N, g.C, hw)
		gemm(sc, false, true, g.O, g.C, g.N*hw, dyp, g.N*hw, xp, g.N*hw, 0, dw, g.C)
		return
	}
	st := stemGradFor(sc, g, dw)
	if g.grouped() {
		K /= g.G
	}
	// The batch in weightChunks fixed runs of samples, each summed into a
	// buffer of its own by whichever core takes it, then the buffers added
	// in order: the gradient is the same bit for bit at every run and every
	// thread count (exact resume), and the cores balance (with a fixed share
	// per core, one core idled ~15% of each weight gradient on the 2-vCPU
	// machines, whose cores differ in speed).
	chunks := min(g.N, weightChunks)
	partial := make([][]T, chunks)
	parallel.Chunks(chunks, 1, func(w, lo, hi int) {
		var col []T
		var split []float32 // the stem's split rows (st)
		if st != nil {
			split = Buffer[float32](sc, roleStem, w, st.BufSize())
		} else {
			col = colBuffer[T](sc, g)(w)
		}
		for ch := lo; ch < hi; ch++ {
			acc := Buffer[T](sc, roleWeightAcc, ch, g.O*K)
			partial[ch] = acc
			n0, n1 := g.N*ch/chunks, g.N*(ch+1)/chunks
			if g.Pointwise() && !g.grouped() && !(sc.bf16() && isFloat32(dw)) {
				// Pointwise: dW = Σ_n dY_n·X_nᵀ over the run in one call,
				// every row read in place.
				blas.GemmNTBatch(g.O, K, ohw, n1-n0, 1, dy[n0*g.O*ohw:], ohw, g.O*ohw, x[n0*g.C*hw:], hw, g.C*hw, 0, acc, K)
				continue
			}
			clear(acc)
			for n := n0; n < n1; n++ {
				xn := x[n*g.C*hw : (n+1)*g.C*hw]
				dyn := dy[n*g.O*ohw : (n+1)*g.O*ohw]
				if st != nil {
					st.Add(any(acc).([]float32), any(dyn).([]float32), any(xn).([]float32), split)
					continue
				}
				c := xn
				if col != nil {
					im2col(g, col, xn)
					c = col
				}
				if g.grouped() { // group gi: dW[gi] += dY[gi]·col[gi]ᵀ
					og := g.O / g.G
					for gi := 0; gi < g.G; gi++ {
						gemm1(sc, false, true, og, K, ohw, dyn[gi*og*ohw:], ohw, c[gi*K*ohw:], ohw, 1, acc[gi*og*K:], K)
					}
					continue
				}
				gemm1(sc, false, true, g.O, K, ohw, dyn, ohw, c, ohw, 1, acc, K)
			}
		}
	})
	ParallelFor(len(dw), 4096, func(lo, hi int) {
		copy(dw[lo:hi], partial[0][lo:hi])
		for _, p := range partial[1:] {
			for i, v := range p[lo:hi] {
				dw[lo+i] += v
			}
		}
	})
}

// stemGradFor is the StemGrad of a float32 stem's weight gradient (a
// 3×3, stride-2 convolution of a few channels: StemFits for one image), or
// nil: its samples then run on the stem's split rows instead of im2col and
// a product of depth Ho·Wo (4% of a training step at 224×224). In bf16 both
// operands are rounded, as a bf16 product's.
func stemGradFor[T Float](sc *Scratch, g Geom, dw []T) *StemGrad {
	one := g
	one.N = 1
	if !isFloat32(dw) || g.grouped() || !StemFits(one) {
		return nil
	}
	st, err := NewStemGrad(one, sc.bf16())
	if err != nil {
		return nil
	}
	return st
}

// weightChunks is the number of runs of samples a weight gradient is split
// into (fewer for smaller batches).
const weightChunks = 8

// Grouped convolutions: per sample, the im2col matrix of all channels (its
// rows are grouped by input channel, so group gi's rows are one block), then
// one product per group with that group's block of the weight, whose shape
// is (O, C/G·KH·KW).

func groupedForward[T Float](sc *Scratch, g Geom, y, x, w []T, ep *Epilogue[T]) {
	kg, og, ohw, hw := g.C/g.G*g.KH*g.KW, g.O/g.G, g.Ho*g.Wo, g.H*g.W
	perSample(g.N, colBuffer[T](sc, g), func(n int, col []T) {
		xn := x[n*g.C*hw : (n+1)*g.C*hw]
		if col == nil {
			col = xn
		} else {
			im2col(g, col, xn)
		}
		yn := y[n*g.O*ohw : (n+1)*g.O*ohw]
		for gi := 0; gi < g.G; gi++ {
			gemm1(sc, false, false, og, ohw, kg, w[gi*og*kg:], kg, col[gi*kg*ohw:], ohw, 0, yn[gi*og*ohw:], ohw)
		}
		ep.planes(y, n*g.O, (n+1)*g.O, ohw, g.O)
	})
}

func groupedBackwardInput[T Float](sc *Scratch, g Geom, dx, dy, w []T) {
	kg, og, ohw, hw := g.C/g.G*g.KH*g.KW, g.O/g.G, g.Ho*g.Wo, g.H*g.W
	perSample(g.N, colBuffer[T](sc, g), func(n int, col []T) {
		dxn := dx[n*g.C*hw : (n+1)*g.C*hw]
		dyn := dy[n*g.O*ohw : (n+1)*g.O*ohw]
		c := col
		if c == nil {
			c = dxn
		}
		for gi := 0; gi < g.G; gi++ { // col[gi] = W[gi]ᵀ·dY[gi]
			gemm1(sc, true, false, kg, ohw, og, w[gi*og*kg:], kg, dyn[gi*og*ohw:], ohw, 0, c[gi*kg*ohw:], ohw)
		}
		if col != nil {
			col2im(g, dxn, col)
		}
	})
}

// colBuffer returns a maker of im2col buffers (none for pointwise
// convolutions, which use the input itself).
func colBuffer[T Float](sc *Scratch, g Geom) func(worker int) []T {
	return func(worker int) []T {
		if g.Pointwise() {
			return nil
		}
		return Buffer[T](sc, roleCol, worker, g.C*g.KH*g.KW*g.Ho*g.Wo)
	}
}

// perSample runs body for every sample, spread over the cores; each
// goroutine gets its own scratch Buffer from newScratch.
func perSample[T Float](n int, newScratch func(worker int) []T, body func(n int, scratch []T)) {
	// samples handed out one at a time, so that the cores balance
	parallel.Chunks(n, 1, func(w, lo, hi int) {
		s := newScratch(w)
		for i := lo; i < hi; i++ {
			body(i, s)
		}
	})
}

// sampleWeights is a convolution's op(W) packed once for the per-sample
// products of a run, in the run's precision (Scratch.BF16).
type sampleWeights[T Float] struct {
	p   *blas.Packed
	p16 *blas.PackedBF16 // bf16 products (float32 data only)
}

// packSampleWeights packs op(W) (m×k; W is w, stored with rows of k
// values, or of m when tA) for products of n columns.
func packSampleWeights[T Float](sc *Scratch, n int, tA bool, m, k int, w []T) sampleWeights[T] {
	ld := k
	if tA {
		ld = m
	}
	if w32, ok := any(w).([]float32); ok && sc.bf16() {
		return sampleWeights[T]{p16: packWeightsBF16(sc, tA, m, k, w32, ld)}
	}
	return sampleWeights[T]{p: packWeights(sc, rolePackedW, n, tA, m, k, w, ld)}
}

// product is C (m×n, ldc n) = op(W)·B (B k×n, ldb n).
func (w sampleWeights[T]) product(n int, b, c []T) {
	if w.p16 != nil {
		blas.GemmPackedBF16(w.p16, false, n, any(b).([]float32), n, 0, any(c).([]float32), n)
		return
	}
	blas.GemmPacked(w.p, false, n, 1, b, n, 0, c, n)
}

// isFloat32 reports whether s holds float32s.
func isFloat32[T Float](s []T) bool {
	_, ok := any(s).([]float32)
	return ok
}

// Im2col writes the (C·KH·KW) × (Ho·Wo) patch matrix of one image x
// (C, H, W) into col: the right operand of a convolution's product.
func Im2col[T Float](g Geom, col, x []T) { im2col(g, col, x) }

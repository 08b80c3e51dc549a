package blas

import (
	"fmt"
	"sync"
)

// A float32 GEMM for the pure-Go backend on CPUs with AVX2 or AVX-512: the
// usual blocked scheme (Goto and van de Geijn, 2008) — op(B) packed in
// kc×nc blocks of NR-column panels, op(A) in mc×kc blocks of MR-row panels,
// and an MR×NR assembly micro-kernel that keeps the tile of C in registers
// (6×16 in twelve YMM registers with AVX2; with AVX-512 6×64 or 12×32 in
// twenty-four ZMM registers, kernelFor choosing by shape). Edge tiles go
// through a small buffer.
// Single-threaded: Gemm splits the product over goroutines.

// microKernel is one tile shape and its kernel: C[0:mr][0:nr] += alpha·A·B
// over packed panels.
type microKernel struct {
	name   string
	mr, nr int
	mc, nc int // rows of a packed block of A, columns of one of B
	fn     func(k int, a, b, c *float32, ldc int, alpha float32, ldb int)
	set    func(k int, a, b, c *float32, ldc int, alpha float32, ldb int) // C = alpha·A·B: the first depth block when beta = 0
	// alwaysPackB: pack every panel of a non-transposed B too. Otherwise
	// the kernel reads B's full panels in place (ldb apart), which saves a
	// copy of B per product; only a partial last panel is packed.
	alwaysPackB bool
	pool        sync.Pool // of *gemmBufs sized for this kernel
}

const gemmKC = 256 // depth of a packed block

// gemmBufs are the packing buffers of one call, pooled across calls.
type gemmBufs struct {
	a, b, tile []float32
}

// bufs returns packing buffers for this kernel's blocks, from its pool.
func (mk *microKernel) bufs() *gemmBufs {
	if b, ok := mk.pool.Get().(*gemmBufs); ok {
		return b
	}
	return &gemmBufs{a: make([]float32, mk.mc*gemmKC), b: make([]float32, gemmKC*mk.nc), tile: make([]float32, mk.mr*mk.nr)}
}

// sgemmBlocked computes C = alpha·op(A)·op(B) + beta·C (row-major) with
// micro-kernel mk.
func sgemmBlocked(mk *microKernel, tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmPanels(mk, nil, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmPanels is sgemmBlocked, with op(A) taken from pa when it is not nil
// (packed once for many products) instead of packed block by block.
func sgemmPanels(mk *microKernel, pa *Packed, tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	// beta = 0: the first depth block stores into C instead of adding, so
	// that C is neither cleared nor read first.
	overwrite := beta == 0 && k > 0 && alpha != 0
	if !overwrite {
		scaleRows(c, m, n, ldc, beta)
	}
	if k == 0 || alpha == 0 {
		return
	}
	bufs := mk.bufs()
	defer mk.pool.Put(bufs)
	mr, nr := mk.mr, mk.nr
	mc := mk.mc
	if pa != nil {
		mc = m // A is packed whole: no row blocks
	}
	for jc := 0; jc < n; jc += mk.nc {
		nb := min(mk.nc, n-jc)
		for pc := 0; pc < k; pc += gemmKC {
			kb := min(gemmKC, k-pc)
			store := overwrite && pc == 0
			kern := mk.fn
			if store {
				kern = mk.set
			}
			direct := !tB && !mk.alwaysPackB // full panels read in place
			if direct {
				if full := nb / nr * nr; full < nb { // the partial panel only
					packB(bufs.b[full*kb:], nr, false, b, ldb, pc, jc+full, kb, nb-full)
				}
			} else {
				packB(bufs.b, nr, tB, b, ldb, pc, jc, kb, nb)
			}
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				ablock := bufs.a
				if pa != nil {
					ablock = pa.data[pa.mUp*pc:]
				} else {
					packA(bufs.a, mr, tA, a, lda, ic, pc, mb, kb)
				}
				// B's micro-panel stays in L1 while A's panels stream from L2.
				for j0 := 0; j0 < nb; j0 += nr {
					bp, bs := &bufs.b[j0*kb], nr
					if direct && j0+nr <= nb {
						bp, bs = &b[pc*ldb+jc+j0], ldb
					}
					for i0 := 0; i0 < mb; i0 += mr {
						ap := &ablock[i0*kb]
						ci := (ic+i0)*ldc + jc + j0
						if i0+mr <= mb && j0+nr <= nb {
							_ = c[ci+(mr-1)*ldc+nr-1] // the kernel writes the whole tile
							kern(kb, ap, bp, &c[ci], ldc, alpha, bs)
							continue
						}
						// Edge tile: compute into the buffer, store or add
						// the valid part.
						tile := bufs.tile
						mk.set(kb, ap, bp, &tile[0], nr, alpha, bs)
						for i := 0; i < min(mr, mb-i0); i++ {
							row := c[ci+i*ldc : ci+i*ldc+min(nr, nb-j0)]
							if store {
								copy(row, tile[i*nr:])
								continue
							}
							for j := range row {
								row[j] += tile[i*nr+j]
							}
						}
					}
				}
			}
		}
	}
}

// scaleRows sets C (m×n, ldc) to beta·C: nothing for beta 1, zeros for 0.
func scaleRows(c []float32, m, n, ldc int, beta float32) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// Packed is a left operand op(A) (m × k) prepared once for many products
// with different right operands, as a convolution's weights are for every
// sample: with the pure-Go backend's assembly GEMM it holds A packed in the
// micro-kernel's panels, so each product skips that copy; with other
// backends it only remembers A. Build it with Pack; reuse one Packed across
// steps to keep its buffer.
type Packed struct {
	m, k int
	tA   bool
	a32  []float32
	a64  []float64
	lda  int
	mk   *microKernel // kernel whose panels data holds; nil: not packed
	mUp  int          // m rounded up to the kernel's rows
	data []float32    // for each block of gemmKC columns of op(A) at pc: mUp×kb panels at mUp·pc
}

// Pack prepares op(A) (m × k; A is m×k, or k×m when tA) for GemmPacked,
// reusing dst's buffer when dst is not nil. A must not change while the
// Packed is in use.
func Pack[T Float](dst *Packed, tA bool, m, k int, a []T, lda int) *Packed {
	return PackFor(dst, 0, tA, m, k, a, lda)
}

// PackFor is Pack for products of n columns (0: unknown, taken as wide),
// which lets the pure-Go backend choose its micro-kernel by shape: products
// of at most 16 columns, such as a pointwise convolution's per sample on
// 4×4 maps, take a 16-column kernel that reads B and writes C in place.
func PackFor[T Float](dst *Packed, n int, tA bool, m, k int, a []T, lda int) *Packed {
	if dst == nil {
		dst = &Packed{}
	}
	*dst = Packed{m: m, k: k, tA: tA, lda: lda, data: dst.data[:0]}
	switch a := any(a).(type) {
	case []float64:
		dst.a64 = a
		return dst
	case []float32:
		dst.a32 = a
	}
	g, ok := get().(goAsm)
	if !ok || m == 0 || k == 0 {
		return dst
	}
	dst.packWith(kernelFor(g.mk, m, n))
	return dst
}

// packWith packs dst's float32 A into mk's panels.
func (dst *Packed) packWith(mk *microKernel) {
	m, k, tA, lda := dst.m, dst.k, dst.tA, dst.lda
	dst.mk = mk
	dst.mUp = (m + mk.mr - 1) / mk.mr * mk.mr
	need := dst.mUp * k
	if cap(dst.data) < need {
		dst.data = make([]float32, need)
	}
	dst.data = dst.data[:need]
	for pc := 0; pc < k; pc += gemmKC {
		kb := min(gemmKC, k-pc)
		packA(dst.data[dst.mUp*pc:], mk.mr, tA, dst.a32, lda, 0, pc, m, kb)
	}
}

// GemmPacked computes C = alpha·op(A)·op(B) + beta·C with op(A) from p (m×k),
// op(B) k×n, on the calling goroutine (as Gemm1).
func GemmPacked[T Float](p *Packed, tB bool, n int, alpha T, b []T, ldb int, beta T, c []T, ldc int) {
	if p.m == 0 || n == 0 {
		return
	}
	switch c := any(c).(type) {
	case []float64:
		Gemm1(p.tA, tB, p.m, n, p.k, float64(alpha), p.a64, p.lda, any(b).([]float64), ldb, float64(beta), c, ldc)
	case []float32:
		b := any(b).([]float32)
		if _, ok := get().(goAsm); ok && p.mk != nil { // packed under this process's tier
			sgemmPanels(p.mk, p, p.tA, tB, p.m, n, p.k, float32(alpha), p.a32, p.lda, b, ldb, float32(beta), c, ldc)
			return
		}
		Gemm1(p.tA, tB, p.m, n, p.k, float32(alpha), p.a32, p.lda, b, ldb, float32(beta), c, ldc)
	}
}

// packB writes op(B)[pc:pc+kb, jc:jc+nb] as nr-column panels, each k-major
// (panel p, row r, column j at p·kb·nr + r·nr + j), zero past column nb.
func packB(dst []float32, nr int, tB bool, b []float32, ldb, pc, jc, kb, nb int) {
	for j0 := 0; j0 < nb; j0 += nr {
		panel := dst[j0*kb : j0*kb+kb*nr]
		w := min(nr, nb-j0)
		if tB {
			// op(B) = Bᵀ: column j of the panel is row jc+j0+j of B, read
			// along its length.
			if haveAVX512 && nr%16 == 0 {
				packBTransposed16(panel, nr, b[(jc+j0)*ldb+pc:], ldb, kb, w)
				continue
			}
			for j := 0; j < w; j++ {
				src := b[(jc+j0+j)*ldb+pc : (jc+j0+j)*ldb+pc+kb]
				for r, v := range src {
					panel[r*nr+j] = v
				}
			}
			for r := 0; r < kb; r++ {
				clear(panel[r*nr+w : r*nr+nr])
			}
			continue
		}
		for r := 0; r < kb; r++ {
			out := panel[r*nr : r*nr+nr]
			copy(out[:w], b[(pc+r)*ldb+jc+j0:])
			clear(out[w:])
		}
	}
}

// packA writes op(A)[ic:ic+mb, pc:pc+kb] as mr-row panels, each k-major
// (panel p, column r, row i at p·kb·mr + r·mr + i), zero past row mb.
func packA(dst []float32, mr int, tA bool, a []float32, lda, ic, pc, mb, kb int) {
	for i0 := 0; i0 < mb; i0 += mr {
		panel := dst[i0*kb : i0*kb+kb*mr]
		h := min(mr, mb-i0)
		if tA {
			// op(A) = Aᵀ: row r of the panel is a contiguous run of A's row pc+r.
			for r := 0; r < kb; r++ {
				out := panel[r*mr : r*mr+mr]
				copy(out[:h], a[(pc+r)*lda+ic+i0:])
				clear(out[h:])
			}
			continue
		}
		if haveAVX512 && mr <= 16 {
			packATransposed16(panel, mr, a[(ic+i0)*lda+pc:], lda, kb, h)
			continue
		}
		for i := 0; i < mr; i++ {
			if i >= h {
				for r := 0; r < kb; r++ {
					panel[r*mr+i] = 0
				}
				continue
			}
			row := a[(ic+i0+i)*lda+pc : (ic+i0+i)*lda+pc+kb]
			for r, v := range row {
				panel[r*mr+i] = v
			}
		}
	}
}

// packBTransposed16 writes one nr-column panel (nr a multiple of 16) of
// op(B) = Bᵀ: panel[r·nr+j] = b[j·ldb+r] for j < w, zero for w ≤ j < nr,
// r < kb — 16×16 blocks through the AVX-512 transpose, the last kb mod 16
// rows in Go.
func packBTransposed16(panel []float32, nr int, b []float32, ldb, kb, w int) {
	kv := kb / 16 * 16
	_ = panel[kb*nr-1]
	for jj := 0; jj < nr; jj += 16 {
		n := min(16, w-jj)
		for r0 := 0; r0 < kv; r0 += 16 {
			if n <= 0 {
				for r := r0; r < r0+16; r++ {
					clear(panel[r*nr+jj : r*nr+jj+16])
				}
				continue
			}
			_ = b[(jj+n-1)*ldb+r0+15]
			transpose16(&panel[r0*nr+jj], nr, &b[jj*ldb+r0], ldb, n, 16)
		}
	}
	transposeRows(panel, nr, b, ldb, kv, kb, w, nr)
}

// packATransposed16 writes one mr-row panel (mr ≤ 16) of a non-transposed
// A: panel[r·mr+i] = a[i·lda+r] for i < h, zero for h ≤ i < mr, r < kb —
// 16-column blocks through the AVX-512 transpose, the last kb mod 16
// columns in Go.
func packATransposed16(panel []float32, mr int, a []float32, lda, kb, h int) {
	kv := kb / 16 * 16
	_ = panel[kb*mr-1]
	for r0 := 0; r0 < kv; r0 += 16 {
		_ = a[(h-1)*lda+r0+15]
		transpose16(&panel[r0*mr], mr, &a[r0], lda, h, mr)
	}
	transposeRows(panel, mr, a, lda, kv, kb, h, mr)
}

// transposeRows is transpose16 in Go over rows r0 ≤ r < r1:
// dst[r·ldd+i] = src[i·lds+r] for i < n, zero for n ≤ i < w.
func transposeRows(dst []float32, ldd int, src []float32, lds, r0, r1, n, w int) {
	for r := r0; r < r1; r++ {
		out := dst[r*ldd : r*ldd+w]
		for i := range out {
			out[i] = 0
			if i < n {
				out[i] = src[i*lds+r]
			}
		}
	}
}

// withPackedB is a copy of mk that packs every panel of B (the path for
// transposed B), for tests and benchmarks of both paths.
func (mk *microKernel) withPackedB() *microKernel {
	return &microKernel{name: mk.name + " packed-B", mr: mk.mr, nr: mk.nr, mc: mk.mc, nc: mk.nc, fn: mk.fn, set: mk.set, alwaysPackB: true}
}

// Transpose writes the transpose of a rows × cols block of src (row i at
// src[i·lds:]) into dst (row r at dst[r·ldd:]): dst[r·ldd+i] = src[i·lds+r]
// for r < cols, i < rows, and zero for rows ≤ i < width (width ≥ rows:
// the destination rows' length, the rest of it cleared). On the AVX-512
// tier whole 16×16 tiles are transposed in registers.
func Transpose(dst []float32, ldd int, src []float32, lds, rows, cols, width int) {
	if rows < 0 || cols < 0 || width < rows || (cols > 0 && width > ldd) {
		panic(fmt.Sprintf("blas: Transpose of %d×%d (width %d, ldd %d): bad shape", rows, cols, width, ldd))
	}
	if cols == 0 || width == 0 {
		return
	}
	_ = dst[(cols-1)*ldd+width-1]
	if rows > 0 {
		_ = src[(rows-1)*lds+cols-1]
	}
	c16 := 0
	if haveAVX512 {
		c16 = cols / 16 * 16
	}
	for r0 := 0; r0 < c16; r0 += 16 {
		for i0 := 0; i0 < width; i0 += 16 {
			n, w := min(max(rows-i0, 0), 16), min(width-i0, 16)
			if n == 0 {
				for r := r0; r < r0+16; r++ {
					clear(dst[r*ldd+i0 : r*ldd+i0+w])
				}
				continue
			}
			transpose16(&dst[r0*ldd+i0], ldd, &src[i0*lds+r0], lds, n, w)
		}
	}
	transposeRows(dst, ldd, src, lds, c16, cols, rows, width)
}

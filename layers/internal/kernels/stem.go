package kernels

import (
	"fmt"
	"math"
)

// Stem is a 3×3, stride-2 convolution of a few input channels on one image
// in NCHW, with bias and activation: the stem of a network at 224×224 in
// the inference plan's one-image stage, where im2col and a product of depth
// 27 took a quarter of a bf16 run. Each input row is split once into its
// even and odd columns; then every tap of an output row is a contiguous
// vector (output column x reads column 2x + kx − PL: the even or odd half,
// shifted by at most one), and a kernel sums the taps of 4 output channels
// and up to 112 columns in registers, bias and activation applied before
// the one store.
type Stem struct {
	stemRows
	act  Act
	w    []float32 // per group of 4 output channels, taps × 4 weights
	bias []float32 // per group, 4 biases
}

// stemRows is what a Stem and a StemGrad share: the geometry, its input
// rows split into even and odd columns, and where each tap of each output
// row reads them.
type stemRows struct {
	g     Geom
	round bool  // inputs rounded to bf16
	wb    int   // blocks of 16 output columns
	l     int   // floats a split row holds: a zero, the values, zeros
	offs  []int // per output row, each tap's offset in the split rows
}

// stemTaps is the most input channels × 9 taps a Stem takes.
const stemTaps = 4 * 9

// StemFits reports whether NewStem takes geometry g (one image, 3×3,
// stride 2, left padding 0 or 1, at most 4 input channels) and runs it on
// the vector kernel here (the AVX-512 tier); elsewhere im2col and a product
// are as fast.
func StemFits(g Geom) bool { return haveAVX512 && stemGeom(g) }

// stemGeom reports whether NewStem takes geometry g.
func stemGeom(g Geom) bool {
	return g.N == 1 && g.KH == 3 && g.KW == 3 && g.SH == 2 && g.SW == 2 &&
		(g.PL == 0 || g.PL == 1) && g.PT >= 0 && g.C >= 1 && g.C*9 <= stemTaps && g.O >= 1 && g.Ho >= 1 && g.Wo >= 1
}

// NewStem prepares the convolution of geometry g with weights k (O, C, 3,
// 3), bias (O; nil: none) and activation act; round: the inputs are rounded
// to bf16 as they are split (a bf16 product's rounding; k given rounded).
func NewStem(g Geom, k, bias []float32, act Act, round bool) (*Stem, error) {
	rows, err := newStemRows(g, round)
	if err != nil {
		return nil, err
	}
	if len(k) != g.O*g.C*9 || (bias != nil && len(bias) != g.O) {
		return nil, fmt.Errorf("kernels: stem: %d weights and %d biases for %v", len(k), len(bias), g)
	}
	s := &Stem{stemRows: rows, act: act}
	taps := g.C * 9
	groups := (g.O + 3) / 4
	s.w, s.bias = make([]float32, groups*taps*4), make([]float32, groups*4)
	for o := 0; o < g.O; o++ {
		gr, j := o/4, o%4
		for t := 0; t < taps; t++ {
			s.w[(gr*taps+t)*4+j] = k[o*taps+t]
		}
		if bias != nil {
			s.bias[gr*4+j] = bias[o]
		}
	}
	return s, nil
}

// newStemRows lays out the split rows of geometry g, or says why it
// cannot (stemGeom).
func newStemRows(g Geom, round bool) (stemRows, error) {
	if !stemGeom(g) {
		return stemRows{}, fmt.Errorf("kernels: the stem kernel takes one image, 3×3, stride 2, left padding 0 or 1, at most 4 channels; got %v", g)
	}
	s := stemRows{g: g, round: round, wb: (g.Wo + 15) / 16}
	s.l = 16 * (s.wb + 1)
	taps := g.C * 9
	zero := g.C * g.H * 2 * s.l // the zero row, after the split rows
	s.offs = make([]int, g.Ho*taps)
	for oy := 0; oy < g.Ho; oy++ {
		for c := 0; c < g.C; c++ {
			for ky := 0; ky < 3; ky++ {
				iy := 2*oy - g.PT + ky
				for kx := 0; kx < 3; kx++ {
					d := kx - g.PL // column 2x + d: parity d mod 2, shift floor(d/2)
					par, sh := d&1, d>>1
					base := zero
					if iy >= 0 && iy < g.H {
						base = ((c*g.H+iy)*2 + par) * s.l
					}
					s.offs[oy*taps+(c*3+ky)*3+kx] = base + 1 + sh
				}
			}
		}
	}
	return s, nil
}

// rowsSize is the floats of the split rows and the zero row after them.
func (s *stemRows) rowsSize() int { return s.g.C*s.g.H*2*s.l + s.l }

// BufSize is the floats of the buffer Run needs: the split rows, the zero
// row and a tile of 4 output rows.
func (s *Stem) BufSize() int { return s.rowsSize() + 4*16*s.wb }

// Run computes y (O, Ho, Wo) from x (C, H, W), with buf (BufSize floats,
// any contents: Run writes every place of it that it reads) on the
// calling goroutine.
func (s *Stem) Run(y, x, buf []float32) {
	g := s.g
	buf = buf[:s.BufSize()]
	rows, tile := buf[:s.rowsSize()], buf[s.rowsSize():]
	s.split(rows, x)
	taps, ohw := g.C*9, g.Ho*g.Wo
	direct := g.Wo%16 == 0
	for gr := 0; gr*4 < g.O; gr++ {
		full := direct && gr*4+4 <= g.O
		w, b := s.w[gr*taps*4:(gr+1)*taps*4], s.bias[gr*4:gr*4+4]
		for oy := 0; oy < g.Ho; oy++ {
			offs := s.offs[oy*taps : (oy+1)*taps]
			for b0 := 0; b0 < s.wb; b0 += stemMaxBlocks {
				nb := min(stemMaxBlocks, s.wb-b0)
				if full {
					stemRow(y[gr*4*ohw+oy*g.Wo+16*b0:], ohw, rows[16*b0:], offs, w, b, s.act, nb)
					continue
				}
				stemRow(tile[16*b0:], 16*s.wb, rows[16*b0:], offs, w, b, s.act, nb)
			}
			if full {
				continue
			}
			for j := 0; j < 4 && gr*4+j < g.O; j++ {
				copy(y[(gr*4+j)*ohw+oy*g.Wo:][:g.Wo], tile[j*16*s.wb:])
			}
		}
	}
}

// roundBF16 is blas.RoundBF16, small enough to inline in the split loop
// (a call per value there doubled the stem's time in bf16).
func roundBF16(v float32) float32 {
	b := math.Float32bits(v)
	r := (b + 0x7fff + (b>>16)&1) &^ 0xffff
	if b&0x7fffffff > 0x7f800000 { // NaN: quiet, sign kept
		r = (b | 0x400000) &^ 0xffff
	}
	return math.Float32frombits(r)
}

// stemMaxBlocks is the most blocks of 16 columns a kernel call sums.
const stemMaxBlocks = 7

// stemRowGo is the row kernel in Go: for 4 output channels and nb blocks
// of 16 columns, y[j·cstride + x] = act(bias[j] + Σ_t w[4t+j]·rows[offs[t]
// + x]).
func stemRowGo(y []float32, cstride int, rows []float32, offs []int, w, bias []float32, act Act, nb int) {
	for j := 0; j < 4; j++ {
		out := y[j*cstride:][:16*nb]
		for x := range out {
			s := float32(0)
			for t, o := range offs {
				s += w[4*t+j] * rows[o+x]
			}
			out[x] = activate(act, s+bias[j])
		}
	}
}

// split writes x's rows split into even and odd columns (rounded to bf16
// in round mode), each with a zero before and zeros after, and the zero row
// after them, into rows (rowsSize floats).
func (s *stemRows) split(rows, x []float32) {
	g := s.g
	ne, no := (g.W+1)/2, g.W/2
	clear(rows[g.C*g.H*2*s.l:]) // the zero row
	for c := 0; c < g.C; c++ {
		for iy := 0; iy < g.H; iy++ {
			src := x[(c*g.H+iy)*g.W : (c*g.H+iy+1)*g.W]
			er, or := rows[((c*g.H+iy)*2)*s.l:][:s.l], rows[((c*g.H+iy)*2+1)*s.l:][:s.l]
			er[0], or[0] = 0, 0 // each split row: a zero, the values, zeros
			clear(er[1+ne:])
			clear(or[1+no:])
			ev, od := er[1:][:ne], or[1:][:no]
			done := stemSplit(ev, od, src, s.round)
			for m := done; m < no; m++ {
				ev[m], od[m] = src[2*m], src[2*m+1]
			}
			if ne > no {
				ev[ne-1] = src[g.W-1]
			}
			if s.round { // the values stemSplit left to Go
				for m := done; m < ne; m++ {
					ev[m] = roundBF16(ev[m])
				}
				for m := done; m < no; m++ {
					od[m] = roundBF16(od[m])
				}
			}
		}
	}
}

// StemGrad is the weight gradient of a Stem's convolution (geometry g, one
// image at a time): dW[o][c][ky][kx] = Σ dY[o][oy][x]·X[c][2oy+ky−PT][2x+kx−PL]
// over the output positions, read from the split rows of the Stem's
// forward pass, so that every tap of an output row is again a contiguous
// vector: a kernel sums 4 output channels × up to 6 taps in 16 lanes of
// registers over the whole image (AVX-512), and the lanes are added up at
// the end. In training at 224×224, im2col and a product of depth Ho·Wo an
// image took 4% of a step. In round mode both operands are rounded to bf16
// first, as a bf16 product rounds them. Inputs are assumed finite: past
// the last output column a zero of dY meets an input value.
type StemGrad struct{ stemRows }

// stemMaxTaps is the most taps a gradient kernel call sums (4 channels × 6
// taps: 24 accumulators).
const stemMaxTaps = 6

// NewStemGrad prepares the weight gradient of geometry g (as NewStem takes
// it); round: both operands rounded to bf16.
func NewStemGrad(g Geom, round bool) (*StemGrad, error) {
	rows, err := newStemRows(g, round)
	if err != nil {
		return nil, err
	}
	return &StemGrad{rows}, nil
}

// BufSize is the floats of the buffer Add needs: the split rows and the
// zero row, a tile of 4 channels of dY (rows of whole blocks) and the
// kernel's lane sums.
func (s *StemGrad) BufSize() int {
	return s.rowsSize() + 4*s.g.Ho*16*s.wb + 4*stemMaxTaps*16
}

// Add adds one image's gradient to dw (O, C·9) from dy (O, Ho, Wo) and x
// (C, H, W), with buf (BufSize floats, any contents) on the calling
// goroutine. The sums are in a fixed order: the same dw bit for bit at
// every call.
func (s *StemGrad) Add(dw, dy, x, buf []float32) {
	g := s.g
	buf = buf[:s.BufSize()]
	rows := buf[:s.rowsSize()]
	tw := 16 * s.wb
	tile := buf[len(rows):][:4*g.Ho*tw]
	lanes := buf[len(rows)+len(tile):]
	s.split(rows, x)
	taps, ohw := g.C*9, g.Ho*g.Wo
	for gr := 0; gr*4 < g.O; gr++ {
		src, cstride := dy[gr*4*ohw:], ohw
		if s.round || g.Wo != tw || gr*4+4 > g.O { // dY through the tile: rounded, whole blocks, 4 channels
			src, cstride = tile, g.Ho*tw
			for j := 0; j < 4; j++ {
				plane := tile[j*cstride:][:cstride]
				if gr*4+j >= g.O {
					clear(plane)
					continue
				}
				d := dy[(gr*4+j)*ohw:][:ohw]
				if g.Wo == tw {
					copyRound(plane, d, s.round)
					continue
				}
				for oy := 0; oy < g.Ho; oy++ {
					row := plane[oy*tw:][:tw]
					copyRound(row[:g.Wo], d[oy*g.Wo:][:g.Wo], s.round)
					clear(row[g.Wo:])
				}
			}
		}
		for t0 := 0; t0 < taps; t0 += stemMaxTaps {
			nt := min(stemMaxTaps, taps-t0)
			stemGrad(lanes, src, cstride, rows, s.offs[t0:], taps, g.Ho, s.wb, nt)
			for i := 0; i < nt; i++ {
				for j := 0; j < 4 && gr*4+j < g.O; j++ {
					sum := float32(0)
					for _, v := range lanes[(i*4+j)*16:][:16] {
						sum += v
					}
					dw[(gr*4+j)*taps+t0+i] += sum
				}
			}
		}
	}
}

// copyRound copies src to dst, rounded to bf16 when round.
func copyRound(dst, src []float32, round bool) {
	if !round {
		copy(dst, src)
		return
	}
	src = src[:len(dst)]
	for i := stemRound(dst, src); i < len(dst); i++ {
		dst[i] = roundBF16(src[i])
	}
}

// stemGradGo is the gradient kernel in Go: for 4 output channels j and nt
// taps i, lanes[16(4i+j) + l] = Σ_oy Σ_b dy[j·cstride + 16(oy·nb + b) + l]
// ·rows[offs[oy·taps + i] + 16b + l].
func stemGradGo(lanes, dy []float32, cstride int, rows []float32, offs []int, taps, ho, nb, nt int) {
	for i := 0; i < nt; i++ {
		for j := 0; j < 4; j++ {
			acc := lanes[16*(4*i+j):][:16]
			clear(acc)
			for oy := 0; oy < ho; oy++ {
				o := offs[oy*taps+i]
				for b := 0; b < nb; b++ {
					d := dy[j*cstride+16*(oy*nb+b):][:16]
					r := rows[o+16*b:][:16]
					for l := range acc {
						acc[l] += d[l] * r[l]
					}
				}
			}
		}
	}
}

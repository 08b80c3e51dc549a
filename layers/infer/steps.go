package infer

import (
	"errors"
	"fmt"

	"github.com/gomobilenet/mobilenet/blas"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"
)

// conv compiles a convolution, with bn (nil: none) folded into it, on
// input cur.
func (p *Plan) conv(l layers.Layer, bn *layers.BatchNorm, cur shape) (step, error) {
	sp, err := layers.ConvSpecOf(l)
	if err != nil {
		return nil, err
	}
	if sp.In != cur.c {
		return nil, fmt.Errorf("%s takes %d channels, gets %d", sp.Name, sp.In, cur.c)
	}
	depthwise := sp.Depthwise()
	if sp.Groups > 1 && !depthwise {
		return nil, fmt.Errorf("%s: %d groups: %w", sp.Name, sp.Groups, ErrUnsupported)
	}
	per := len(sp.Weight) / sp.Out
	// The folded weights and epilogue, as layers.FoldBatchNorm computes them.
	wf, bias, act := append([]float32(nil), sp.Weight...), sp.Bias, kernels.Linear
	if bn != nil {
		if wf, bias, err = layers.FoldConv(sp, bn); err != nil {
			return nil, err
		}
		act = kernels.Act(bn.Config().Activation)
	} else if bias != nil {
		bias = append([]float32(nil), bias...)
	}
	pt, pb, pl, pr := sp.Padding.Pads(cur.h, cur.w, sp.Kernel, sp.Kernel, sp.Stride, sp.Stride)
	g := kernels.Geom{N: 1, C: sp.In, H: cur.h, W: cur.w, O: sp.Out, KH: sp.Kernel, KW: sp.Kernel, SH: sp.Stride, SW: sp.Stride,
		PT: pt, PB: pb, PL: pl, PR: pr}
	g.Ho = (cur.h+pt+pb-sp.Kernel)/sp.Stride + 1
	g.Wo = (cur.w+pl+pr-sp.Kernel)/sp.Stride + 1
	if g.Ho <= 0 || g.Wo <= 0 || sp.Kernel <= 0 {
		return nil, fmt.Errorf("%s: a %d×%d kernel does not fit a %d×%d map", sp.Name, sp.Kernel, sp.Kernel, cur.h, cur.w)
	}
	out := shape{sp.Out, g.Ho, g.Wo}
	ep := newEpilogue(sp.Out, bias, act)
	label := sp.Name
	if bn != nil {
		label += " + " + bn.Name()
	}
	pad := max(pt, pb, pl, pr)
	switch {
	case depthwise:
		b := bias
		if b == nil {
			b = make([]float32, sp.Out)
		}
		return &depthwiseStep{label: label, in: cur, out: out, g: g, pad: pad, mult: sp.Out / sp.In, k: wf, bias: b, act: act}, nil
	case sp.Kernel == 1 && sp.Stride == 1 && pad == 0:
		return &pointwise{label: label, in: cur, out: out, w: packWeights(p.prec, wf, sp.Out, sp.In, 32*cur.hw()), ep: ep}, nil
	}
	if len(p.steps) == 0 && sp.In <= 4 && sp.Kernel == 3 {
		// The stem: a few input channels, each a pass of the lane-major
		// 3×3 kernel, cheaper than im2col's copies for one product of
		// depth 27. In bf16 the inputs and weights are rounded as a bf16
		// product would round them (the sums stay float32).
		if p.prec == layers.BF16 {
			p.roundInput = true
			for i, v := range wf {
				wf[i] = blas.RoundBF16(v)
			}
		}
		b := bias
		if b == nil {
			b = make([]float32, sp.Out)
		}
		return &directConv{label: label, in: cur, out: out, g: g, pad: pad, k: wf, bias: b, act: act}, nil
	}
	return &convStep{label: label, in: cur, out: out, g: g, pad: pad, w: packWeights(p.prec, wf, sp.Out, per, 4*out.hw()), ep: ep}, nil
}

// directConv is a 3×3 convolution of a few input channels (the stem): for
// each output channel, one pass of the lane-major kernel per input
// channel, adding up in the output.
type directConv struct {
	label   string
	in, out shape
	g       kernels.Geom
	pad     int
	k       []float32 // (out, in, 3, 3), folded
	bias    []float32
	act     kernels.Act
}

func (s *directConv) shapes() (shape, shape) { return s.in, s.out }
func (s *directConv) inPad() int             { return s.pad }
func (s *directConv) spare() int             { return 0 }
func (s *directConv) scratch(int) (int, int) { return 0, 0 }
func (s *directConv) describe() string {
	return fmt.Sprintf("direct conv %s %v → %v, %d×%d stride %d", s.label, s.in, s.out, s.g.KH, s.g.KW, s.g.SH)
}

func (s *directConv) run(_ *workspace, x, y view) {
	g := s.g
	lg := laneGeom(g, x, y)
	// A band of output rows at a time, so that the input rows it reads
	// (every channel's) stay in cache while every output channel passes
	// over them: at 224×224 a channel's map alone is 3 MB for 16 lanes.
	band := max(1, (256<<10)/(4*g.C*lg.XRow*g.SH))
	for oy0 := 0; oy0 < g.Ho; oy0 += band {
		lg.Ho = min(band, g.Ho-oy0)
		for o := 0; o < s.out.c; o++ {
			ys := y.buf[y.at(o, oy0, 0):]
			for c := 0; c < g.C; c++ {
				b, act := s.bias[o], s.act
				if c > 0 {
					b = 0
				}
				if c < g.C-1 {
					act = kernels.Linear
				}
				kernels.DWLanes(lg, ys, x.buf[x.at(c, oy0*g.SH-g.PT, -g.PL):], s.k[(o*g.C+c)*9:][:9], b, act, c > 0)
			}
		}
	}
}

// convStep is a dense convolution: im2col from the padded input, then one
// product.
type convStep struct {
	label   string
	in, out shape
	g       kernels.Geom
	pad     int
	w       weights
	ep      *epilogue
}

func (s *convStep) shapes() (shape, shape) { return s.in, s.out }
func (s *convStep) inPad() int             { return s.pad }
func (s *convStep) scratch(np int) (int, int) {
	return s.w.out * s.out.hw() * np, s.w.depth * s.out.hw() * np
}
func (s *convStep) spare() int { return s.w.out - s.w.rows }
func (s *convStep) describe() string {
	return fmt.Sprintf("conv %s %v → %v, %d×%d stride %d", s.label, s.in, s.out, s.g.KH, s.g.KW, s.g.SH)
}

func (s *convStep) run(ws *workspace, x, y view) {
	g, np := s.g, x.l.np
	cols := s.out.hw() * np
	col := ws.col[:s.w.depth*cols]
	step := g.SW * np // input floats from an output position to the next
	for c := 0; c < g.C; c++ {
		for ky := 0; ky < g.KH; ky++ {
			for kx := 0; kx < g.KW; kx++ {
				row := col[((c*g.KH+ky)*g.KW+kx)*cols:][:cols]
				for oy := 0; oy < g.Ho; oy++ {
					// padded coordinates: the border holds the zeros
					src := x.at(c, oy*g.SH+ky-g.PT, kx-g.PL)
					dst := row[oy*g.Wo*np : (oy+1)*g.Wo*np]
					if g.SW == 1 {
						copy(dst, x.buf[src:src+len(dst)])
						continue
					}
					for d := 0; d < len(dst); d += np {
						copy(dst[d:d+np], x.buf[src:src+np])
						src += step
					}
				}
			}
		}
	}
	productInto(ws, s.w, s.ep, col, cols, s.out, np, y)
}

// pointwise is a 1×1 convolution: one product over every image's positions.
type pointwise struct {
	label   string
	in, out shape
	w       weights
	ep      *epilogue
}

func (s *pointwise) shapes() (shape, shape)    { return s.in, s.out }
func (s *pointwise) inPad() int                { return 0 }
func (s *pointwise) scratch(np int) (int, int) { return s.w.out * s.out.hw() * np, 0 }
func (s *pointwise) describe() string {
	return fmt.Sprintf("pointwise %s %v → %v", s.label, s.in, s.out)
}
func (s *pointwise) run(ws *workspace, x, y view) {
	productInto(ws, s.w, s.ep, x.buf, x.l.stride(), s.out, x.l.np, y)
}

// depthwiseStep runs the lane-major depthwise kernel one output channel at
// a time.
type depthwiseStep struct {
	label   string
	in, out shape
	g       kernels.Geom
	pad     int
	mult    int
	k       []float32 // (out channels, kk), folded
	bias    []float32
	act     kernels.Act
}

func (s *depthwiseStep) shapes() (shape, shape) { return s.in, s.out }
func (s *depthwiseStep) inPad() int             { return s.pad }
func (s *depthwiseStep) scratch(int) (int, int) { return 0, 0 }
func (s *depthwiseStep) describe() string {
	return fmt.Sprintf("depthwise %s %v → %v, %d×%d stride %d", s.label, s.in, s.out, s.g.KH, s.g.KW, s.g.SH)
}

func (s *depthwiseStep) run(_ *workspace, x, y view) {
	g := s.g
	kk := g.KH * g.KW
	lg := laneGeom(g, x, y)
	for co := 0; co < s.out.c; co++ {
		c := co / s.mult
		xs := x.buf[x.at(c, -g.PT, -g.PL):]
		ys := y.buf[y.at(co, 0, 0):]
		kernels.DWLanes(lg, ys, xs, s.k[co*kk:(co+1)*kk], s.bias[co], s.act, false)
	}
}

// affine is a BatchNorm not after a convolution, or an activation:
// y = act(a·x + b) per channel.
type affine struct {
	label string
	in    shape
	a, b  []float32
	act   kernels.Act
}

func newAffineBN(bn *layers.BatchNorm, cur shape) (step, error) {
	if bn == nil {
		return nil, errors.New("nil BatchNorm")
	}
	if bn.Config().Channels != cur.c {
		return nil, fmt.Errorf("%s normalises %d channels, gets %d", bn.Name(), bn.Config().Channels, cur.c)
	}
	a64, b64, err := bn.FoldCoefficients(nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bn.Name(), err)
	}
	s := &affine{label: bn.Name(), in: cur, a: make([]float32, cur.c), b: make([]float32, cur.c), act: kernels.Act(bn.Config().Activation)}
	for c := range s.a {
		s.a[c], s.b[c] = float32(a64[c]), float32(b64[c])
	}
	return s, nil
}

func newActivation(a layers.Activation, cur shape) (step, error) {
	if a < layers.Linear || a > layers.ReLU6 {
		return nil, fmt.Errorf("activation %d: %w", int(a), ErrUnsupported)
	}
	s := &affine{label: a.String(), in: cur, a: make([]float32, cur.c), b: make([]float32, cur.c), act: kernels.Act(a)}
	for c := range s.a {
		s.a[c] = 1
	}
	return s, nil
}

func (s *affine) shapes() (shape, shape) { return s.in, s.in }
func (s *affine) inPad() int             { return 0 }
func (s *affine) scratch(int) (int, int) { return 0, 0 }
func (s *affine) describe() string       { return fmt.Sprintf("affine %s %v", s.label, s.in) }

func (s *affine) run(_ *workspace, x, y view) {
	np := x.l.np
	for c := 0; c < s.in.c; c++ {
		for yy := 0; yy < s.in.h; yy++ {
			for xx := 0; xx < s.in.w; xx++ {
				kernels.AffineAct(s.act, y.buf[y.at(c, yy, xx):][:np], x.buf[x.at(c, yy, xx):][:np], s.a[c], s.b[c])
			}
		}
	}
}

// pool is global average pooling: each channel's positions to their mean,
// lane by lane.
type pool struct{ in shape }

func (s *pool) shapes() (shape, shape) { return s.in, shape{s.in.c, 1, 1} }
func (s *pool) inPad() int             { return 0 }
func (s *pool) scratch(int) (int, int) { return 0, 0 }
func (s *pool) describe() string       { return fmt.Sprintf("global average pooling %v", s.in) }

func (s *pool) run(_ *workspace, x, y view) {
	np := x.l.np
	inv := 1 / float32(s.in.hw())
	for c := 0; c < s.in.c; c++ {
		d := y.buf[y.at(c, 0, 0):][:np]
		clear(d)
		for yy := 0; yy < s.in.h; yy++ {
			for xx := 0; xx < s.in.w; xx++ {
				for j, v := range x.buf[x.at(c, yy, xx):][:np] {
					d[j] += v
				}
			}
		}
		for j := range d {
			d[j] *= inv
		}
	}
}

// dense is a fully connected layer on vectors (maps of 1×1).
type dense struct {
	label   string
	in, out shape
	w       weights
	ep      *epilogue
}

func (p *Plan) dense(l *layers.Dense, cur shape) (step, error) {
	if l == nil {
		return nil, errors.New("nil dense layer")
	}
	c := l.Config()
	if cur.hw() != 1 {
		return nil, fmt.Errorf("%s on (%d, %d, %d) maps: %w (pool first)", l.Name(), cur.c, cur.h, cur.w, ErrUnsupported)
	}
	if c.In != cur.c {
		return nil, fmt.Errorf("%s takes %d features, gets %d", l.Name(), c.In, cur.c)
	}
	w, _, err := layers.Float32s(l.Weight())
	if err != nil {
		return nil, err
	}
	var b []float32
	if l.Bias() != nil {
		if b, _, err = layers.Float32s(l.Bias()); err != nil {
			return nil, err
		}
	}
	if len(w) != c.In*c.Out || (b != nil && len(b) != c.Out) {
		return nil, fmt.Errorf("%s: weights of the wrong size", l.Name())
	}
	w = append([]float32(nil), w...)
	if b != nil {
		b = append([]float32(nil), b...)
	}
	return &dense{label: l.Name(), in: cur, out: shape{c.Out, 1, 1}, w: packWeights(p.prec, w, c.Out, c.In, 32), ep: newEpilogue(c.Out, b, kernels.Linear)}, nil
}

func (s *dense) shapes() (shape, shape)    { return s.in, s.out }
func (s *dense) inPad() int                { return 0 }
func (s *dense) scratch(np int) (int, int) { return s.w.out * np, 0 }
func (s *dense) describe() string          { return fmt.Sprintf("dense %s %d → %d", s.label, s.in.c, s.out.c) }
func (s *dense) run(ws *workspace, x, y view) {
	productInto(ws, s.w, s.ep, x.buf, x.l.stride(), s.out, x.l.np, y)
}

// spare: the channels past the output a step's product writes.
func (s *pointwise) spare() int     { return s.w.out - s.w.rows }
func (s *dense) spare() int         { return s.w.out - s.w.rows }
func (s *depthwiseStep) spare() int { return 0 }
func (s *affine) spare() int        { return 0 }
func (s *pool) spare() int          { return 0 }

// laneGeom is the lane-major kernel's geometry of g from x (padded) into y:
// x's lanes, positions and rows as the two layouts lay them.
func laneGeom(g kernels.Geom, x, y view) kernels.LaneGeom {
	np := x.l.np
	return kernels.LaneGeom{K: g.KH, S: g.SH, Ho: g.Ho, Wo: g.Wo,
		XRow: (x.l.w + 2*x.l.pad) * np, XStep: np,
		YRow: (y.l.w + 2*y.l.pad) * y.l.np, YStep: y.l.np, Lanes: np}
}

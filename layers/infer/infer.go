// Package infer runs a network's layers for inference without a Gorgonia
// graph: every BatchNorm folded into the convolution before it and every
// weight packed for the matrix kernels once, when the Plan is compiled.
//
// Activations are lane-major: for each channel and map position, the values
// of a group of images side by side (16 or more "lanes", a multiple of the
// vector width). A pointwise convolution is then one product over all the
// group's positions, with no copy before or after it, and a depthwise tap is
// a vector multiply-add across the images, with no edge masks: a map that a
// depthwise or dense convolution reads carries its zero padding as a border
// of positions.
//
// Each worker carries its own group of images through the whole network:
// the early, large-map layers Sub images at a time, the later ones on the
// whole group (products on 4×4 and 2×2 maps wide enough for the matrix
// units). There is no barrier between layers.
//
// A Plan is a snapshot: it holds the weights as they were when it was
// compiled. Compile again (or evaluate.Evaluator.Refresh) after changing
// them. Compile returns an error wrapping ErrUnsupported for layers it does
// not know (grouped convolutions other than depthwise, max pooling, a dense
// layer on unpooled maps, float64 variables): callers then run the graph
// (layers.Network.BuildNet), which handles every layer.
package infer

import (
	"errors"
	"fmt"
	"sync"

	"github.com/gomobilenet/mobilenet/blas"
	"github.com/gomobilenet/mobilenet/internal/parallel"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"
)

// ErrUnsupported is wrapped by Compile's error for a network it cannot run.
var ErrUnsupported = errors.New("not supported by the inference plan")

// lanes is the vector the lane counts are multiples of (16 floats: one
// AVX-512 register, two AVX2 ones).
const lanes = 16

// Options tune a Plan. The zero value is the default.
type Options struct {
	// Precision of the matrix products (layers.FP32, or layers.BF16: bf16
	// inputs and fp32 sums, as the graph's Store.SetPrecision).
	Precision layers.Precision
	// Group is the most images a worker carries through the later layers
	// at once (0: 64); a Run of fewer images than Group per worker gives
	// each worker an equal share.
	Group int
	// Sub is how many images at a time go through the early layers, those
	// on maps of at least SplitHW positions (0: 16; rounded up to a
	// multiple of 16).
	Sub int
	// SplitHW is the smallest map (H·W) the early layers run on (0: 64).
	SplitHW int
	// ImageHW is the smallest map (H·W of a step's input) on which the
	// first steps run one image at a time in NCHW rather than in lanes
	// (0: 28×28 for inputs of at least 64×64, none for smaller inputs
	// such as CIFAR-10's; negative: never). See image.go.
	ImageHW int
}

// Plan is a network compiled for inference. Run may be called from several
// goroutines at once.
type Plan struct {
	in       shape
	out      int // features of each image's output (classes)
	prec     layers.Precision
	steps    []step
	lay      []padded    // lay[k]: step k's input (lay[len(steps)]: the output)
	split    int         // steps[:split] run Sub images at a time
	img      int         // of which steps[:img] one image at a time (NCHW)
	imgSteps []imageStep // their one-image forms
	// roundInput: the first step (a directConv) takes its inputs rounded
	// to bf16, as a bf16 product would.
	roundInput bool
	sub        int
	group      int
	workspace  sync.Pool
}

// shape is an image's activation: c planes of h×w.
type shape struct{ c, h, w int }

func (s shape) size() int { return s.c * s.h * s.w }
func (s shape) hw() int   { return s.h * s.w }

// padded is a shape with the zero border its reader needs, and the spare
// channels its writer fills too (a bf16 product's rows rounded up to the
// matrix tiles', past the real channels: written, never read).
type padded struct {
	shape
	pad, spare int
}

// layout is how a buffer holds a group's activation: channel c, position
// (y, x), lane j at c·stride() + pos(y, x) + j.
type layout struct {
	padded
	np int // lanes a position holds
}

func (l layout) stride() int      { return (l.h + 2*l.pad) * (l.w + 2*l.pad) * l.np }
func (l layout) size() int        { return (l.c + l.spare) * l.stride() }
func (l layout) pos(y, x int) int { return ((y+l.pad)*(l.w+2*l.pad) + x + l.pad) * l.np }

// view is an activation in a buffer: lanes off… of layout l.
type view struct {
	buf []float32
	l   layout
	off int
}

// at is the index of channel c, position (y, x), the view's first lane.
func (v view) at(c, y, x int) int { return c*v.l.stride() + v.l.pos(y, x) + v.off }

// step is one fused operation: it reads x's x.l.np lanes and writes them to
// y's lanes y.off….
type step interface {
	shapes() (in, out shape)
	inPad() int                    // the zero border its input needs
	spare() int                    // channels it writes past its output's
	scratch(np int) (tmp, col int) // floats of product output and im2col it needs for np lanes
	run(ws *workspace, x, y view)
	describe() string
}

// workspace is one worker's buffers. An activation buffer keeps one
// layout (and the parity of the step that reads it, so that a step's input
// and output never share one): its border, zeroed when it is made, stays
// zero (steps write positions, never borders), and the repeated blocks of
// a network reuse the same few buffers while they are in cache.
type workspace struct {
	bufs     map[bufKey][]float32
	tmp, col []float32
	img      [2][]float32 // the image stage's ping-pong buffers
	stem     []float32    // the image stage's stem kernel's (kernels.Stem)
	stage    []float32    // the image stage's outputs of Sub images (NCHW)
}

type bufKey struct {
	l      layout
	parity int
}

// view returns the buffer for step k's input (k = len(steps): the output)
// with np lanes.
func (ws *workspace) view(p *Plan, k, np int) view {
	key := bufKey{layout{p.lay[k], np}, k % 2}
	b := ws.bufs[key]
	if b == nil {
		b = make([]float32, key.l.size())
		ws.bufs[key] = b
	}
	return view{buf: b, l: key.l}
}

// Compile folds and packs the layers ls, applied in order to images of the
// input shape (channels, height, width), for Options' precision. The
// layers must end with a vector per image (a Dense after GlobalAvgPooling,
// say); the Plan's Run writes those vectors.
func Compile(ls []layers.Layer, input [3]int, opt Options) (*Plan, error) {
	p := &Plan{in: shape{input[0], input[1], input[2]}, prec: opt.Precision}
	if p.in.c <= 0 || p.in.h <= 0 || p.in.w <= 0 {
		return nil, fmt.Errorf("infer: input shape %v: every size must be positive", input)
	}
	flat, err := flatten(ls)
	if err != nil {
		return nil, err
	}
	cur := p.in
	for i := 0; i < len(flat); i++ {
		l := flat[i]
		var s step
		var next *layers.BatchNorm
		if i+1 < len(flat) {
			next, _ = flat[i+1].(*layers.BatchNorm)
		}
		switch l := l.(type) {
		case *layers.Conv2D, *layers.PointwiseConv2D, *layers.DepthwiseConv2D:
			s, err = p.conv(l, next, cur)
			if next != nil {
				i++
			}
		case *layers.BatchNorm:
			s, err = newAffineBN(l, cur)
		case layers.Activation:
			s, err = newActivation(l, cur)
		case layers.GlobalAvgPooling, *layers.GlobalAvgPooling:
			s = &pool{in: cur}
		case *layers.Dense:
			s, err = p.dense(l, cur)
		case *layers.Dropout:
			continue // the identity in inference
		case nil:
			return nil, fmt.Errorf("infer: layer %d is nil", i)
		default:
			return nil, fmt.Errorf("infer: layer %d (%T): %w", i, l, ErrUnsupported)
		}
		if err != nil {
			return nil, fmt.Errorf("infer: layer %d (%T): %w", i, l, err)
		}
		p.steps = append(p.steps, s)
		_, cur = s.shapes()
	}
	if len(p.steps) == 0 {
		return nil, errors.New("infer: no layers")
	}
	if cur.hw() != 1 {
		return nil, fmt.Errorf("infer: the layers end with (%d, %d, %d) maps per image, want a vector (pool, then a dense layer): %w", cur.c, cur.h, cur.w, ErrUnsupported)
	}
	p.out = cur.c
	p.plan(opt)
	p.workspace.New = func() any { return p.newWorkspace() }
	return p, nil
}

// flatten expands separable blocks and sequences into their layers.
func flatten(ls []layers.Layer) ([]layers.Layer, error) {
	var out []layers.Layer
	for _, l := range ls {
		switch l := l.(type) {
		case *layers.SeparableBlock:
			if l == nil {
				return nil, errors.New("infer: a nil separable block")
			}
			out = append(out, l.DW, l.DWBN, l.PW, l.PWBN)
		case *layers.Sequential:
			if l == nil {
				return nil, errors.New("infer: a nil sequential")
			}
			inner, err := flatten(l.Layers)
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
		default:
			out = append(out, l)
		}
	}
	return out, nil
}

// plan lays the steps' inputs out, splits the steps into the early stage
// (Sub images at a time) and the late one.
func (p *Plan) plan(opt Options) {
	p.group = opt.Group
	if p.group <= 0 {
		p.group = 64
	}
	p.sub = opt.Sub
	if p.sub <= 0 {
		p.sub = lanes
	}
	p.sub = roundUp(p.sub, lanes)
	splitHW := opt.SplitHW
	if splitHW <= 0 {
		splitHW = 64
	}
	p.lay = make([]padded, len(p.steps)+1)
	for k, st := range p.steps {
		in, out := st.shapes()
		p.lay[k] = padded{in, st.inPad(), p.lay[k].spare}
		p.lay[k+1] = padded{out, 0, st.spare()}
	}
	p.split = len(p.steps)
	for k, st := range p.steps {
		if in, _ := st.shapes(); in.hw() < splitHW {
			p.split = k
			break
		}
	}
	if p.split > 0 {
		p.group = roundUp(p.group, p.sub)
	}
	p.planImage(opt.ImageHW)
	if p.img > p.split {
		p.img, p.imgSteps = p.split, p.imgSteps[:p.split]
	}
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// lanesB is the lanes of the late stage for a group of m images.
func (p *Plan) lanesB(m int) int {
	if p.split > 0 {
		return roundUp(m, p.sub)
	}
	return roundUp(m, lanes)
}

func (p *Plan) newWorkspace() *workspace {
	ws := &workspace{bufs: map[bufKey][]float32{}}
	npB := p.lanesB(p.group)
	tmp, col := 0, 0
	for k, st := range p.steps {
		np := npB
		if k < p.split {
			np = p.sub
		}
		t, c := st.scratch(np)
		tmp, col = max(tmp, t), max(col, c)
	}
	if p.img > 0 {
		for _, st := range p.imgSteps {
			col = max(col, st.colSize())
		}
		n := p.imageSize()
		ws.img = [2][]float32{make([]float32, n), make([]float32, n)}
		_, out := p.steps[p.img-1].shapes()
		ws.stage = make([]float32, p.sub*out.size())
	}
	ws.tmp, ws.col = make([]float32, tmp), make([]float32, col)
	return ws
}

// Outputs is the length of each image's output vector.
func (p *Plan) Outputs() int { return p.out }

// Input is the (channels, height, width) of the images the Plan takes.
func (p *Plan) Input() [3]int { return [3]int{p.in.c, p.in.h, p.in.w} }

// String lists the Plan's steps and how it groups images.
func (p *Plan) String() string {
	s := fmt.Sprintf("plan %s: %d steps; groups of up to %d images, the first %d steps %d at a time\n", p.prec, len(p.steps), p.group, p.split, p.sub)
	if p.img > 0 {
		s += fmt.Sprintf("  of which the first %d one image at a time (NCHW)\n", p.img)
	}
	for i, st := range p.steps {
		s += fmt.Sprintf("  %2d %s\n", i, st.describe())
	}
	return s
}

// Run computes the outputs of n images: x holds them as (n, C, H, W)
// float32, dst gets (n, Outputs()). The images are shared among the cores
// (internal/parallel's workers), a group at a time.
func (p *Plan) Run(dst, x []float32, n int) error {
	if n < 0 {
		return fmt.Errorf("infer: %d images", n)
	}
	if len(x) != n*p.in.size() {
		return fmt.Errorf("infer: %d input values for %d images of (%d, %d, %d): want %d", len(x), n, p.in.c, p.in.h, p.in.w, n*p.in.size())
	}
	if len(dst) != n*p.out {
		return fmt.Errorf("infer: room for %d output values, want %d (%d images × %d)", len(dst), n*p.out, n, p.out)
	}
	if n == 0 {
		return nil
	}
	size := min(p.group, (n+parallel.Workers()-1)/parallel.Workers())
	groups := (n + size - 1) / size
	parallel.Chunks(groups, 1, func(_, lo, hi int) {
		ws := p.workspace.Get().(*workspace)
		defer p.workspace.Put(ws)
		for g := lo; g < hi; g++ {
			i0, i1 := g*size, min(n, (g+1)*size)
			p.runGroup(ws, dst[i0*p.out:i1*p.out], x[i0*p.in.size():i1*p.in.size()], i1-i0)
		}
	})
	return nil
}

// runGroup carries m images through every step.
func (p *Plan) runGroup(ws *workspace, dst, x []float32, m int) {
	npB := p.lanesB(m)
	if p.split == 0 {
		toLanes(ws.view(p, 0, npB), x, m, p.in, p.roundInput)
	}
	// Stage A: Sub images at a time, the last step writing their lanes of
	// the late stage's input.
	for i0 := 0; i0 < m && p.split > 0; i0 += p.sub {
		s := min(p.sub, m-i0)
		xs := x[i0*p.in.size() : (i0+s)*p.in.size()]
		var in view
		switch {
		case p.img == 0:
			in = ws.view(p, 0, p.sub)
			toLanes(in, xs, s, p.in, p.roundInput)
		case p.img < p.split:
			in = ws.view(p, p.img, p.sub)
			p.runImages(ws, xs, s, in, p.sub)
		default: // the image stage writes the late stage's input
			in = ws.view(p, p.split, npB)
			in.off = i0
			p.runImages(ws, xs, s, in, p.sub)
		}
		for k := p.img; k < p.split; k++ {
			var out view
			if k < p.split-1 {
				out = ws.view(p, k+1, p.sub)
			} else {
				out = ws.view(p, k+1, npB)
				out.off = i0
			}
			p.steps[k].run(ws, in, out)
			in = out
		}
	}
	// Stage B: the whole group.
	for k := p.split; k < len(p.steps); k++ {
		p.steps[k].run(ws, ws.view(p, k, npB), ws.view(p, k+1, npB))
	}
	// The output holds (Outputs, 1, 1) × npB lanes: image i is lane i.
	out := ws.view(p, len(p.steps), npB).buf
	for o := 0; o < p.out; o++ {
		for i, v := range out[o*npB : o*npB+m] {
			dst[i*p.out+o] = v
		}
	}
}

// toLanes writes n images (n, C, H, W) into v's lanes 0…n−1, zeros in the
// other lanes (the border is zero already); round: to bf16. Each row of a
// channel is a transpose: the images' rows (C·H·W apart) become the
// positions' lanes.
func toLanes(v view, x []float32, n int, in shape, round bool) {
	toLanesWidth(v, x, n, in, round, v.l.np)
}

// toLanesWidth is toLanes into lanes v.off… v.off+width of a wider layout
// (n ≤ width images, zeros in the rest).
func toLanesWidth(v view, x []float32, n int, in shape, round bool, width int) {
	np, hw := v.l.np, in.hw()
	for c := 0; c < in.c; c++ {
		for y := 0; y < in.h; y++ {
			row := v.buf[v.at(c, y, 0):][:(in.w-1)*np+width]
			src := x[c*hw+y*in.w:]
			if n == 0 {
				src = nil
			}
			blas.Transpose(row, np, src, in.c*hw, n, in.w, width)
			if round {
				blas.RoundBF16Slice(row)
			}
		}
	}
}

// weights is a product's left operand op(W) (rows × depth), packed once in
// the Plan's precision.
type weights struct {
	rows, depth int
	out         int // rows the product writes: rows, or in bf16 rows rounded up to 32 (zero weights past rows)
	f32         *blas.Packed
	b16         *blas.PackedBF16
}

func packWeights(prec layers.Precision, w []float32, rows, depth, cols int) weights {
	pw := weights{rows: rows, depth: depth, out: rows}
	if prec == layers.BF16 {
		// Whole 32-row panels run on the tiles straight into C; a partial
		// one goes through a buffer, a tile at a time (blas.productBF16):
		// zero rows make it whole, the output layout has room (spare).
		if r := roundUp(rows, 32); r != rows {
			w = append(append(make([]float32, 0, r*depth), w...), make([]float32, (r-rows)*depth)...)
			pw.out = r
		}
		pw.b16 = blas.PackBF16(nil, false, pw.out, depth, w, depth)
	} else {
		pw.f32 = blas.PackFor(nil, cols, false, rows, depth, w, depth)
	}
	return pw
}

// product computes C (rows × n, rows ldc apart) = W·B (B depth × n, ldb).
func (w weights) product(n int, b []float32, ldb int, c []float32, ldc int) {
	if w.b16 != nil {
		blas.GemmPackedBF16(w.b16, false, n, b, ldb, 0, c, ldc)
		return
	}
	blas.GemmPacked(w.f32, false, n, 1, b, ldb, 0, c, ldc)
}

// epilogue is what follows a product, per output channel: y = act(y + b).
type epilogue struct {
	bias []float32
	act  kernels.Act
	all  *kernels.Epilogue[float32]   // every channel (rows contiguous)
	rows []*kernels.Epilogue[float32] // channel o alone (rows strided)
}

// newEpilogue is the epilogue of o channels (bias nil: none); nil when it
// does nothing.
func newEpilogue(o int, bias []float32, act kernels.Act) *epilogue {
	if bias == nil && act == kernels.Linear {
		return nil
	}
	if bias == nil {
		bias = make([]float32, o)
	}
	ones := make([]float32, o)
	for i := range ones {
		ones[i] = 1
	}
	e := &epilogue{bias: bias, act: act, all: &kernels.Epilogue[float32]{Bias: bias, Ones: ones, Act: act}, rows: make([]*kernels.Epilogue[float32], o)}
	for c := range e.rows {
		e.rows[c] = &kernels.Epilogue[float32]{Bias: bias[c : c+1], Ones: ones[c : c+1], Act: act}
	}
	return e
}

// apply runs the epilogue on o rows of cols values, ld apart.
func (e *epilogue) apply(y []float32, o, cols, ld int) {
	if e == nil {
		return
	}
	if ld == cols {
		e.all.Apply(y, 0, o, cols, o)
		return
	}
	for c := 0; c < o; c++ {
		e.rows[c].Apply(y[c*ld:c*ld+cols], 0, 1, cols, 1)
	}
}

// write applies the epilogue to t, a product's output (o rows of a map's
// positions × np lanes), on its way into y (another layout or lanes of a
// wider one). A nil epilogue copies.
func (e *epilogue) write(t []float32, o int, sh shape, np int, y view) {
	rowLen := sh.w * np
	ystride, ywp := y.l.stride(), (y.l.w+2*y.l.pad)*y.l.np
	for c := 0; c < o; c++ {
		var b float32
		act := kernels.Linear
		if e != nil {
			b, act = e.bias[c], e.act
		}
		src := t[c*sh.hw()*np : (c+1)*sh.hw()*np]
		base := c*ystride + y.l.pos(0, 0) + y.off
		for yy := 0; yy < sh.h; yy++ {
			in, at := src[yy*rowLen:(yy+1)*rowLen], base+yy*ywp
			if y.l.np == np { // the row's positions are contiguous in y
				kernels.AffineAct(act, y.buf[at:at+rowLen], in, 1, b)
				continue
			}
			for xx := 0; xx < sh.w; xx++ {
				kernels.AffineAct(act, y.buf[at:at+np], in[xx*np:(xx+1)*np], 1, b)
				at += y.l.np
			}
		}
	}
}

// productInto computes w·x (x: a product's right operand, depth rows of
// cols values, ldx apart) plus the epilogue into y: straight into it when
// y's rows are the product's (no border, all lanes), else through ws.tmp.
func productInto(ws *workspace, w weights, e *epilogue, x []float32, ldx int, sh shape, np int, y view) {
	cols, ld := sh.hw()*np, y.l.stride()
	switch {
	case y.off != 0 || y.l.np != np: // lanes of a wider layout: through ws.tmp
		t := ws.tmp[:w.out*cols]
		w.product(cols, x, ldx, t, cols)
		e.write(t, w.rows, sh, np, y)
	case y.l.pad == 0:
		w.product(cols, x, ldx, y.buf, ld)
		e.apply(y.buf, w.rows, cols, ld)
	default: // a row of positions at a time, between the border's
		row := sh.w * np
		for yy := 0; yy < sh.h; yy++ {
			at := y.at(0, yy, 0)
			w.product(row, x[yy*row:], ldx, y.buf[at:], ld)
			e.apply(y.buf[at:], w.rows, row, ld)
		}
	}
}

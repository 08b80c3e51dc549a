// Package infer runs a network's layers for inference without a Gorgonia
// graph: every BatchNorm folded into the convolution before it and every
// weight packed for the matrix kernels once, when the Plan is compiled, and
// the activations kept channel-major, (C, images·H·W), so that a pointwise
// convolution is one product over all the images a worker holds, with no
// copy before or after it.
//
// Each worker carries a group of images through the whole network on its
// own: the early, large-map layers a few images at a time (so that their
// activations stay in the core's L2 cache from one layer to the next), the
// later ones on the whole group (so that the products on 4×4 and 2×2 maps
// are wide enough for the matrix units). There is no barrier between
// layers, and no scheduling per layer.
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
	// on maps of at least SplitHW positions (0: as many as fit L2Bytes).
	Sub int
	// SplitHW is the smallest map (H·W) the early layers run on (0: 64).
	SplitHW int
	// L2Bytes is the cache one worker's early layers are sized for (0:
	// 2 MiB, a core's L2 on the Xeons this was tuned on: BenchmarkPlan at
	// alpha 0.75 ran 4–8 images at a time fastest, 128 at a time 20%
	// slower, one at a time 2× slower).
	L2Bytes int
}

// Plan is a network compiled for inference. Run may be called from several
// goroutines at once.
type Plan struct {
	in        shape
	out       int // features of each image's output (classes)
	prec      layers.Precision
	steps     []step
	split     int // steps[:split] run Sub images at a time
	sub       int
	group     int
	maxA      int // floats an image takes in a stage-A buffer
	maxB      int // floats an image takes in a stage-B buffer
	col       int // im2col floats a worker needs
	workspace sync.Pool
}

// shape is an image's activation: c planes of h×w.
type shape struct{ c, h, w int }

func (s shape) size() int { return s.c * s.h * s.w }
func (s shape) hw() int   { return s.h * s.w }

// step is one fused operation on channel-major activations: x holds its
// input's planes, row c (ldx floats from row c−1) the n images' planes of
// channel c side by side; it writes y the same way.
type step interface {
	shapes() (in, out shape)
	run(ws *workspace, x []float32, ldx int, y []float32, ldy int, n int)
	colFloats() int // im2col scratch an image needs
	describe() string
}

// workspace is one worker's buffers.
type workspace struct {
	a, b [2][]float32
	col  []float32
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

// plan splits the steps into the early stage (run Sub images at a time)
// and the late one, and sizes the buffers.
func (p *Plan) plan(opt Options) {
	p.group = opt.Group
	if p.group <= 0 {
		p.group = 64
	}
	splitHW := opt.SplitHW
	if splitHW <= 0 {
		splitHW = 64
	}
	l2 := opt.L2Bytes
	if l2 <= 0 {
		l2 = 2 << 20
	}
	p.split = len(p.steps)
	for i, s := range p.steps {
		if in, _ := s.shapes(); in.hw() < splitHW {
			p.split = i
			break
		}
	}
	p.maxA, p.maxB = p.in.size(), 0
	if p.split == 0 {
		p.maxB = p.in.size()
	}
	foot := 0 // floats an image needs in cache through stage A
	for i, s := range p.steps {
		in, out := s.shapes()
		if i < p.split {
			p.maxA = max(p.maxA, out.size())
			foot = max(foot, in.size()+out.size()+s.colFloats())
		}
		if i >= p.split-1 {
			p.maxB = max(p.maxB, out.size())
		}
	}
	p.sub = opt.Sub
	if p.sub <= 0 {
		p.sub = max(1, l2/(4*max(foot, 1)))
	}
	p.sub = min(p.sub, p.group)
	for i, s := range p.steps {
		if i < p.split {
			p.col = max(p.col, s.colFloats()*p.sub)
		} else {
			p.col = max(p.col, s.colFloats()*p.group)
		}
	}
}

func (p *Plan) newWorkspace() *workspace {
	ws := &workspace{col: make([]float32, p.col)}
	for i := range 2 {
		if p.split > 0 {
			ws.a[i] = make([]float32, p.maxA*p.sub)
		}
		ws.b[i] = make([]float32, p.maxB*p.group)
	}
	return ws
}

// Outputs is the length of each image's output vector.
func (p *Plan) Outputs() int { return p.out }

// Input is the (channels, height, width) of the images the Plan takes.
func (p *Plan) Input() [3]int { return [3]int{p.in.c, p.in.h, p.in.w} }

// String lists the Plan's steps and how it groups images.
func (p *Plan) String() string {
	s := fmt.Sprintf("plan %s: %d steps; groups of %d images, the first %d steps %d at a time\n", p.prec, len(p.steps), p.group, p.split, p.sub)
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
	size, hw := p.in.size(), p.in.hw()
	// Stage A: sub images at a time, the last step writing its columns of
	// the group's stage-B buffer.
	if p.split == 0 {
		toChannelMajor(ws.b[0], x, m, p.in.c, hw)
	}
	for i0 := 0; i0 < m && p.split > 0; i0 += p.sub {
		s := min(p.sub, m-i0)
		toChannelMajor(ws.a[0], x[i0*size:(i0+s)*size], s, p.in.c, hw)
		cur, ld := ws.a[0], s*hw
		for k := 0; k < p.split; k++ {
			_, out := p.steps[k].shapes()
			if k == p.split-1 {
				p.steps[k].run(ws, cur, ld, ws.b[0][i0*out.hw():], m*out.hw(), s)
				break
			}
			y := ws.a[(k+1)%2]
			p.steps[k].run(ws, cur, ld, y, s*out.hw(), s)
			cur, ld = y, s*out.hw()
		}
	}
	// Stage B: the whole group.
	in := p.in
	if p.split > 0 {
		_, in = p.steps[p.split-1].shapes()
	}
	cur, ld := ws.b[0], m*in.hw()
	for k := p.split; k < len(p.steps); k++ {
		_, out := p.steps[k].shapes()
		y := ws.b[(k-p.split+1)%2]
		p.steps[k].run(ws, cur, ld, y, m*out.hw(), m)
		cur, ld = y, m*out.hw()
	}
	// cur holds (Outputs, m): transpose into dst.
	for o := 0; o < p.out; o++ {
		row := cur[o*ld : o*ld+m]
		for i, v := range row {
			dst[i*p.out+o] = v
		}
	}
}

// toChannelMajor copies n images (n, c, hw) to (c, n·hw).
func toChannelMajor(dst, x []float32, n, c, hw int) {
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			copy(dst[ch*n*hw+i*hw:ch*n*hw+(i+1)*hw], x[(i*c+ch)*hw:(i*c+ch+1)*hw])
		}
	}
}

// weights is a product's left operand op(W) (rows × depth), packed once in
// the Plan's precision.
type weights struct {
	rows, depth int
	f32         *blas.Packed
	b16         *blas.PackedBF16
}

func packWeights(prec layers.Precision, w []float32, rows, depth, cols int) weights {
	pw := weights{rows: rows, depth: depth}
	if prec == layers.BF16 {
		pw.b16 = blas.PackBF16(nil, false, rows, depth, w, depth)
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
	e := &epilogue{all: &kernels.Epilogue[float32]{Bias: bias, Ones: ones, Act: act}, rows: make([]*kernels.Epilogue[float32], o)}
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

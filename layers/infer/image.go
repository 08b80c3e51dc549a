package infer

import (
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"
)

// The image stage. On large maps (224×224 inputs: 112×112 and 56×56 maps
// of 16–128 channels) the lane-major layout of 16 images is 13–26 MB a
// map, far past the caches, and the first layers run at the memory's rate
// (a pointwise product of depth 16 writes as much as it computes). There
// the Plan runs one image at a time in NCHW instead, whose maps (0.2–1.6 MB)
// stay in a core's L2 from one step to the next: the pointwise
// convolutions are then products over one image's positions (in bands of
// columns, the bias and activation applied to each band in L1), the
// depthwise ones the per-plane kernels of training run serially, the
// stem its own kernel (kernels.Stem; im2col and a product on tiers
// without it). The image stage's output goes into its images' lanes for
// the lane-major steps that follow.

// imageStep is a step run on one image in NCHW (no border): x (in) → y
// (out, with room for the step's spare channels).
type imageStep interface {
	runImage(ws *workspace, x, y []float32)
	// colSize is the floats of im2col the step needs.
	colSize() int
}

// imageStepOf returns the one-image form of lane-major step s, or nil when
// it has none.
func (p *Plan) imageStepOf(s step) imageStep {
	switch s := s.(type) {
	case *depthwiseStep:
		g := s.g
		g.G = g.C
		return &imageDW{g: g, k: s.k, ep: newEpilogue(s.out.c, s.bias, s.act).all}
	case *pointwise:
		return &imagePW{hw: s.out.hw(), w: s.w, ep: s.ep}
	case *convStep:
		return &imageConv{g: s.g, w: s.w, ep: s.ep}
	case *directConv:
		// The stem: its own vector kernel where it runs, else im2col and
		// a product, whose left operand its folded weights (out, in·9) are
		// (in bf16 already rounded, as the product rounds).
		if kernels.StemFits(s.g) {
			st, err := kernels.NewStem(s.g, s.k, s.bias, s.act, p.prec == layers.BF16)
			if err == nil {
				return &imageStem{st: st}
			}
		}
		return &imageConv{g: s.g, w: packWeights(p.prec, s.k, s.out.c, s.g.C*s.g.KH*s.g.KW, 4*s.out.hw()), ep: newEpilogue(s.out.c, s.bias, s.act)}
	}
	return nil
}

// imageDW is a depthwise convolution (BatchNorm folded) of one image.
type imageDW struct {
	g  kernels.Geom
	k  []float32
	ep *kernels.Epilogue[float32]
}

func (s *imageDW) colSize() int { return 0 }
func (s *imageDW) runImage(_ *workspace, x, y []float32) {
	g := s.g
	kernels.DWForwardSerial(g, y[:g.O*g.Ho*g.Wo], x[:g.C*g.H*g.W], s.k, s.ep)
}

// imagePW is a pointwise convolution of one image: one product over its
// positions.
type imagePW struct {
	hw int
	w  weights
	ep *epilogue
}

func (s *imagePW) colSize() int { return 0 }
func (s *imagePW) runImage(_ *workspace, x, y []float32) {
	productChunks(s.w, s.ep, s.hw, x, y)
}

// productChunks computes y = w·x (x: depth rows of n columns) and applies
// the epilogue, a band of columns at a time, so that the epilogue reads
// the band's output from L1 rather than the whole output from L2.
func productChunks(w weights, e *epilogue, n int, x, y []float32) {
	const band = 512
	for j0 := 0; j0 < n; j0 += band {
		nb := min(band, n-j0)
		w.product(nb, x[j0:], n, y[j0:], n)
		e.apply(y[j0:], w.rows, nb, n)
	}
}

// imageStem is the stem (3×3, stride 2, a few input channels) of one image
// on its vector kernel (kernels.Stem): at 224×224 its im2col and product
// of depth 27 took 13% of an fp32 run and 24% of a bf16 one.
type imageStem struct{ st *kernels.Stem }

func (s *imageStem) colSize() int { return 0 }
func (s *imageStem) runImage(ws *workspace, x, y []float32) {
	if len(ws.stem) < s.st.BufSize() {
		ws.stem = make([]float32, s.st.BufSize())
	}
	s.st.Run(y, x, ws.stem)
}

// imageConv is a dense convolution of one image: im2col, then a product.
type imageConv struct {
	g  kernels.Geom
	w  weights
	ep *epilogue
}

func (s *imageConv) colSize() int { return s.w.depth * s.g.Ho * s.g.Wo }
func (s *imageConv) runImage(ws *workspace, x, y []float32) {
	g := s.g
	ohw := g.Ho * g.Wo
	col := ws.col[:s.w.depth*ohw]
	kernels.Im2col(g, col, x[:g.C*g.H*g.W])
	productChunks(s.w, s.ep, ohw, col, y)
}

// planImage chooses the image stage: the first steps, as long as each
// reads a map of at least imageHW positions and has a one-image form.
func (p *Plan) planImage(imageHW int) {
	p.img, p.imgSteps = 0, nil
	if imageHW < 0 {
		return
	}
	if imageHW == 0 {
		if p.in.hw() < defaultImageInput {
			return
		}
		imageHW = defaultImageHW
	}
	for _, st := range p.steps {
		in, _ := st.shapes()
		is := p.imageStepOf(st)
		if in.hw() < imageHW || is == nil {
			break
		}
		p.imgSteps = append(p.imgSteps, is)
		p.img++
	}
	if p.img == len(p.steps) {
		// The last step must write lanes (the output is read from them).
		p.img--
		p.imgSteps = p.imgSteps[:p.img]
	}
}

// Options.ImageHW's default: for inputs of at least 64×64 positions, the
// steps on maps of 28×28 and more run one image at a time (at 224×224 the
// stem and blocks 1–6's depthwise convolution). Measured on the Xeon 6/167
// (2 threads, batch 64, ImageNet MobileNet, images/s in lanes only / from
// 56×56 / from 28×28 / from 14×14): alpha 0.5 fp32 572 / 627 / 665 / 587,
// bf16 880 / 1,140 / 1,190 / 995; alpha 1.0 fp32 188 / 200 / 203, bf16
// 375 / 487 / 545. CIFAR-10's 32×32 inputs stay in lanes, whose 16-image
// maps (1.5–4 MB) fit the caches well enough: alpha 0.75 there ran 1–5%
// slower with its 32×32 steps one image at a time.
const (
	defaultImageInput = 64 * 64
	defaultImageHW    = 28 * 28
)

// imageSize is the floats the image stage's two ping-pong buffers need
// (every step's output, spare channels included; the first step reads the
// images where they are).
func (p *Plan) imageSize() int {
	n := 0
	for k := 0; k < p.img; k++ {
		_, out := p.steps[k].shapes()
		n = max(n, (out.c+p.steps[k].spare())*out.hw())
	}
	return n
}

// runImages carries images x (n of them, NCHW) through the image stage
// into lanes v.off… v.off+width of view v (step p.img's input; zeros past
// the n images).
func (p *Plan) runImages(ws *workspace, x []float32, n int, v view, width int) {
	in := p.in
	_, out := p.steps[p.img-1].shapes()
	stage := ws.stage[:n*out.size()]
	for i := 0; i < n; i++ {
		cur := x[i*in.size() : (i+1)*in.size()]
		for k, st := range p.imgSteps {
			y := ws.img[k%2]
			if k == p.img-1 {
				y = stage[i*out.size() : (i+1)*out.size()]
				if p.steps[k].spare() > 0 {
					y = ws.img[k%2] // spare rows: written past the image's
				}
			}
			st.runImage(ws, cur, y)
			if k == p.img-1 && p.steps[k].spare() > 0 {
				copy(stage[i*out.size():(i+1)*out.size()], y)
			}
			cur = y
		}
	}
	toLanesWidth(v, stage, n, out, false, width)
}

package layers

import (
	"fmt"
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// FoldsInto reports whether ls[i] is a convolution (*Conv2D,
// *PointwiseConv2D or *DepthwiseConv2D) followed by a BatchNorm, which
// FoldBatchNorm can fold into it, and returns that BatchNorm: how inference
// builders and exporters walk a sequence of layers.
func FoldsInto(ls []Layer, i int) (*BatchNorm, bool) {
	if i < 0 || i+1 >= len(ls) {
		return nil, false
	}
	switch ls[i].(type) {
	case *Conv2D, *PointwiseConv2D, *DepthwiseConv2D:
		bn, ok := ls[i+1].(*BatchNorm)
		return bn, ok
	}
	return nil, false
}

// FoldBatchNorm applies conv (a *Conv2D, *PointwiseConv2D or
// *DepthwiseConv2D) and then bn to x as one op, for inference: bn's
// running statistics, scale and bias are folded into the convolution's
// weights (w'[o] = scale[o]/√(var[o]+ε)·w[o]) and a per-channel bias
// (bias − scale·mean/√(var+ε), plus the folded convolution bias), and bn's
// activation is applied to each output plane while it is in cache: one pass
// over the output instead of two. The fold is recomputed from the current
// variables at every run, so the folded graph follows training; it equals
// conv then bn in inference mode to float32 rounding, and it changes
// nothing (the running statistics are only read). The result has no
// gradient: training graphs use the layers' Fwd.
func FoldBatchNorm(conv Layer, bn *BatchNorm, x *G.Node) (*G.Node, error) {
	var (
		w, cb *G.Node
		g     kernels.Geom
		err   error
		sc    *kernels.Scratch
		dw    bool
	)
	if err := checkInput("fold batchnorm", x); err != nil {
		return nil, err
	}
	if bn == nil {
		return nil, fmt.Errorf("fold batchnorm: no BatchNorm (nil)")
	}
	switch l := conv.(type) {
	case *PointwiseConv2D:
		w, cb, sc = l.weight, l.bias, l.sc
		g, err = l.resolve(x.Shape())
	case *Conv2D:
		w, cb, sc, dw = l.weight, l.bias, l.sc, l.depthwise()
		g, err = l.resolve(x.Shape())
	case *DepthwiseConv2D:
		w, cb, dw = l.weight, l.bias, true
		g, err = l.resolve(x.Shape())
	default:
		return nil, fmt.Errorf("fold batchnorm: %T is not a convolution layer", conv)
	}
	if err != nil {
		return nil, fmt.Errorf("fold batchnorm: %w", err)
	}
	if bn.cfg.Channels != g.O {
		return nil, fmt.Errorf("fold batchnorm: %s has %d channels, the convolution gives %d", bn.name, bn.cfg.Channels, g.O)
	}
	xs, ws, cs, ys := x.Shape().Clone(), w.Shape().Clone(), tensor.Shape{g.O}, tensor.Shape{g.N, g.O, g.Ho, g.Wo}
	in := []tensor.Shape{xs, ws, cs, cs}
	inputs := []*G.Node{x, w, bn.scale, bn.bias}
	if cb != nil {
		in = append(in, cs)
		inputs = append(inputs, cb)
	}
	st := &foldState{}
	f := &opSpec{name: "foldedConvBN", params: fmt.Sprintf("%v %v %v id%d", g, dw, bn.cfg, bn.b.nextID()), in: in, out: ys,
		f32: func(o []float32, in [][]float32) {
			wf, ep := fold(&st.f32, bn, in[1], in[2], in[3], optional(in, 4), g.O)
			if dw {
				kernels.DWForwardEp(g, o, in[0], wf, ep)
			} else {
				kernels.ConvForwardEp(sc, g, o, in[0], wf, ep)
			}
		},
		f64: func(o []float64, in [][]float64) {
			wf, ep := fold(&st.f64, bn, in[1], in[2], in[3], optional(in, 4), g.O)
			if dw {
				kernels.DWForwardEp(g, o, in[0], wf, ep)
			} else {
				kernels.ConvForwardEp(sc, g, o, in[0], wf, ep)
			}
		},
		symDiff: func(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
			return nil, fmt.Errorf("%s: a folded convolution + BatchNorm is for inference and has no gradient (build training graphs with Fwd)", bn.name)
		}}
	y, err := f.apply(inputs...)
	if err != nil {
		return nil, fmt.Errorf("fold batchnorm %s: %w", bn.name, err)
	}
	return y, nil
}

func optional[T Float](in [][]T, i int) []T {
	if i < len(in) {
		return in[i]
	}
	return nil
}

// foldState holds a folded op's buffers, kept across runs.
type foldState struct {
	f32 foldBuf[float32]
	f64 foldBuf[float64]
}

type foldBuf[T Float] struct {
	w, bias, ones []T
	a, b          []float64
}

// fold computes the folded weights (each output channel's weights times a)
// and the kernels.Epilogue (bias b, bn's activation) from the current variables.
func fold[T Float](buf *foldBuf[T], bn *BatchNorm, w, scale, shift, convBias []T, o int) ([]T, *kernels.Epilogue[T]) {
	if len(buf.w) != len(w) {
		buf.w, buf.bias, buf.ones = make([]T, len(w)), make([]T, o), make([]T, o)
		buf.a, buf.b = make([]float64, o), make([]float64, o)
		for i := range buf.ones {
			buf.ones[i] = 1
		}
	}
	kernels.FoldCoefficients(buf.a, buf.b, scale, shift, bn.runMean.Value.Data().([]T), bn.runVar.Value.Data().([]T), convBias, bn.cfg.Epsilon)
	foldWeights(buf.w, buf.bias, w, buf.a, buf.b)
	return buf.w, &kernels.Epilogue[T]{Bias: buf.bias, Ones: buf.ones, Act: kernels.Act(bn.cfg.Activation)}
}

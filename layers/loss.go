package layers

import (
	"fmt"
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SoftmaxCrossEntropy is the mean over the batch of −log softmax(logits)[y],
// for logits (N, K) and targets (N, K) holding one-hot labels (or any class
// distribution per row). It is computed stably (log-sum-exp) in one op; its
// gradient with respect to the logits is (softmax − targets)/N.
func SoftmaxCrossEntropy(logits, targets *G.Node) (*G.Node, error) {
	if err := checkInput("softmax cross-entropy", logits, targets); err != nil {
		return nil, err
	}
	ls, ts := logits.Shape().Clone(), targets.Shape().Clone()
	if len(ls) != 2 || !ls.Eq(ts) {
		return nil, fmt.Errorf("softmax cross-entropy: logits %v and targets %v: want equal (N, K) shapes", ls, ts)
	}
	n, k := ls[0], ls[1]
	d := &opSpec{name: "xentGrad", params: fmt.Sprint(ls), in: []tensor.Shape{ls, ts, nil}, out: ls,
		f32: func(o []float32, in [][]float32) { kernels.XentGrad(o, in[0], in[1], in[2][0], n, k) },
		f64: func(o []float64, in [][]float64) { kernels.XentGrad(o, in[0], in[1], in[2][0], n, k) }}
	op := &opSpec{name: "xent", params: fmt.Sprint(ls), in: []tensor.Shape{ls, ts}, out: nil,
		f32:     func(o []float32, in [][]float32) { o[0] = float32(kernels.Xent(in[0], in[1], n, k)) },
		f64:     func(o []float64, in [][]float64) { o[0] = kernels.Xent(in[0], in[1], n, k) },
		diffWRT: []bool{true, false},
		symDiff: func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
			g, err := d.apply(in[0], in[1], grad)
			return G.Nodes{g, nil}, err
		}}
	return op.apply(logits, targets)
}

// Softmax returns the row-wise softmax of logits (N, K): the class
// probabilities. It has no gradient (use SoftmaxCrossEntropy to train).
func Softmax(logits *G.Node) (*G.Node, error) {
	if err := checkInput("softmax", logits); err != nil {
		return nil, err
	}
	ls := logits.Shape().Clone()
	if len(ls) != 2 {
		return nil, fmt.Errorf("softmax: logits %v: want (N, K)", ls)
	}
	n, k := ls[0], ls[1]
	op := &opSpec{name: "softmax", params: fmt.Sprint(ls), in: []tensor.Shape{ls}, out: ls,
		f32: func(o []float32, in [][]float32) { kernels.SoftmaxRows(o, in[0], n, k) },
		f64: func(o []float64, in [][]float64) { kernels.SoftmaxRows(o, in[0], n, k) }}
	return op.apply(logits)
}

// LogSumExp is log Σ exp(row), computed stably (around the maximum), as
// SoftmaxCrossEntropy computes it: a row's loss for class y is
// LogSumExp(row) − row[y].
func LogSumExp[T Float](row []T) float64 { return kernels.LogSumExp(row) }

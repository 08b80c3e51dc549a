package layers

import (
	"fmt"
	"math"

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

// SoftmaxCrossEntropyLabels is SoftmaxCrossEntropy with class labels
// instead of target distributions (PyTorch's CrossEntropyLoss with class
// indices, Keras's sparse categorical cross-entropy): labels (N) holds each
// row's class, a whole number in [0, K), in the logits' dtype (Labels makes
// such a tensor from ints). A label outside [0, K) or not whole fails the
// run with an error naming its row. The gradient with respect to the
// logits is (softmax − onehot(labels))/N; labels get none.
func SoftmaxCrossEntropyLabels(logits, labels *G.Node) (*G.Node, error) {
	if err := checkInput("softmax cross-entropy", logits, labels); err != nil {
		return nil, err
	}
	ls, ys := logits.Shape().Clone(), labels.Shape().Clone()
	if len(ls) != 2 || len(ys) != 1 || ys[0] != ls[0] {
		return nil, fmt.Errorf("softmax cross-entropy: logits %v and labels %v: want (N, K) and (N)", ls, ys)
	}
	n, k := ls[0], ls[1]
	check := func(in []*tensor.Dense) error {
		var y []float64
		switch d := in[1].Data().(type) {
		case []float32:
			for _, v := range d {
				y = append(y, float64(v))
			}
		case []float64:
			y = d
		}
		for i, v := range y {
			if v != math.Trunc(v) || v < 0 || v >= float64(k) {
				return fmt.Errorf("label %v of row %d: want a class in [0, %d)", v, i, k)
			}
		}
		return nil
	}
	d := &opSpec{name: "xentLabelsGrad", params: fmt.Sprint(ls), in: []tensor.Shape{ls, ys, nil}, out: ls,
		f32: func(o []float32, in [][]float32) { xentLabelsGrad(o, in[0], in[1], in[2][0], n, k) },
		f64: func(o []float64, in [][]float64) { xentLabelsGrad(o, in[0], in[1], in[2][0], n, k) }}
	op := &opSpec{name: "xentLabels", params: fmt.Sprint(ls), in: []tensor.Shape{ls, ys}, out: nil, check: check,
		f32:     func(o []float32, in [][]float32) { o[0] = float32(xentLabels(in[0], in[1], n, k)) },
		f64:     func(o []float64, in [][]float64) { o[0] = xentLabels(in[0], in[1], n, k) },
		diffWRT: []bool{true, false},
		symDiff: func(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
			g, err := d.apply(in[0], in[1], grad)
			return G.Nodes{g, nil}, err
		}}
	return op.apply(logits, labels)
}

// Labels returns class labels as the tensor SoftmaxCrossEntropyLabels
// takes: shape (len(ys)), dtype dt (float32 or float64).
func Labels(dt tensor.Dtype, ys []int) *tensor.Dense {
	if dt == tensor.Float64 {
		v := make([]float64, len(ys))
		for i, y := range ys {
			v[i] = float64(y)
		}
		return tensor.New(tensor.WithShape(len(ys)), tensor.WithBacking(v))
	}
	v := make([]float32, len(ys))
	for i, y := range ys {
		v[i] = float32(y)
	}
	return tensor.New(tensor.WithShape(len(ys)), tensor.WithBacking(v))
}

// xentLabels is the mean of LogSumExp(row) − row[y] over the rows.
func xentLabels[T Float](logits, y []T, n, k int) float64 {
	var s float64
	for i := 0; i < n; i++ {
		row := logits[i*k : (i+1)*k]
		s += kernels.LogSumExp(row) - float64(row[int(y[i])])
	}
	return s / float64(n)
}

// xentLabelsGrad is seed·(softmax(row) − onehot(y))/N for every row.
func xentLabelsGrad[T Float](dl, logits, y []T, seed T, n, k int) {
	kernels.SoftmaxRows(dl, logits, n, k)
	scale := seed / T(n)
	for i := 0; i < n; i++ {
		row := dl[i*k : (i+1)*k]
		row[int(y[i])] -= 1
		for j := range row {
			row[j] *= scale
		}
	}
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

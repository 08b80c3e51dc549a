package layers

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SoftmaxCrossEntropy is the mean over the batch of −log softmax(logits)[y],
// for logits (N, K) and targets (N, K) holding one-hot labels (or any class
// distribution per row). It is computed stably (log-sum-exp) in one op; its
// gradient with respect to the logits is (softmax − targets)/N.
func SoftmaxCrossEntropy(logits, targets *G.Node) (*G.Node, error) {
	ls, ts := logits.Shape().Clone(), targets.Shape().Clone()
	if len(ls) != 2 || !ls.Eq(ts) {
		return nil, fmt.Errorf("softmax cross-entropy: logits %v and targets %v: want equal (N, K) shapes", ls, ts)
	}
	n, k := ls[0], ls[1]
	d := &opSpec{name: "xentGrad", params: fmt.Sprint(ls), in: []tensor.Shape{ls, ts, nil}, out: ls,
		f32: func(o []float32, in [][]float32) { xentGrad(o, in[0], in[1], in[2][0], n, k) },
		f64: func(o []float64, in [][]float64) { xentGrad(o, in[0], in[1], in[2][0], n, k) }}
	op := &opSpec{name: "xent", params: fmt.Sprint(ls), in: []tensor.Shape{ls, ts}, out: nil,
		f32:     func(o []float32, in [][]float32) { o[0] = float32(xent(in[0], in[1], n, k)) },
		f64:     func(o []float64, in [][]float64) { o[0] = xent(in[0], in[1], n, k) },
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
	ls := logits.Shape().Clone()
	if len(ls) != 2 {
		return nil, fmt.Errorf("softmax: logits %v: want (N, K)", ls)
	}
	n, k := ls[0], ls[1]
	op := &opSpec{name: "softmax", params: fmt.Sprint(ls), in: []tensor.Shape{ls}, out: ls,
		f32: func(o []float32, in [][]float32) { softmaxRows(o, in[0], n, k) },
		f64: func(o []float64, in [][]float64) { softmaxRows(o, in[0], n, k) }}
	return op.apply(logits)
}

// LogSumExp is log Σ exp(row), computed stably (around the maximum), as
// SoftmaxCrossEntropy computes it: a row's loss for class y is
// LogSumExp(row) − row[y].
func LogSumExp[T Float](row []T) float64 {
	m, s := logSumExp(row)
	return m + math.Log(s)
}

// logSumExp returns the maximum m of row and Σ exp(row − m).
func logSumExp[T Float](row []T) (float64, float64) {
	m := math.Inf(-1)
	for _, v := range row {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	return m, s
}

func xent[T Float](logits, targets []T, n, k int) float64 {
	var loss float64
	for i := 0; i < n; i++ {
		row, t := logits[i*k:(i+1)*k], targets[i*k:(i+1)*k]
		lse := LogSumExp(row)
		for j, v := range row {
			if t[j] != 0 {
				loss -= float64(t[j]) * (float64(v) - lse)
			}
		}
	}
	return loss / float64(n)
}

func softmaxRows[T Float](out, logits []T, n, k int) {
	for i := 0; i < n; i++ {
		row := logits[i*k : (i+1)*k]
		m, s := logSumExp(row)
		for j, v := range row {
			out[i*k+j] = T(math.Exp(float64(v)-m) / s)
		}
	}
}

func xentGrad[T Float](dl, logits, targets []T, seed T, n, k int) {
	softmaxRows(dl, logits, n, k)
	scale := seed / T(n)
	for i := range dl {
		dl[i] = (dl[i] - targets[i]) * scale
	}
}

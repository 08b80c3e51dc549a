package kernels

import "math"

// LogSumExp is log Σ exp(row), computed around the maximum.
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

func Xent[T Float](logits, targets []T, n, k int) float64 {
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

func SoftmaxRows[T Float](out, logits []T, n, k int) {
	for i := 0; i < n; i++ {
		row := logits[i*k : (i+1)*k]
		m, s := logSumExp(row)
		for j, v := range row {
			out[i*k+j] = T(math.Exp(float64(v)-m) / s)
		}
	}
}

func XentGrad[T Float](dl, logits, targets []T, seed T, n, k int) {
	SoftmaxRows(dl, logits, n, k)
	scale := seed / T(n)
	for i := range dl {
		dl[i] = (dl[i] - targets[i]) * scale
	}
}

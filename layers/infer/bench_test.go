package infer_test

import (
	"fmt"
	"testing"

	"github.com/gomobilenet/mobilenet/blas"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/layers/infer"
	"github.com/gomobilenet/mobilenet/model"
)

// BenchmarkPlan times MobileNet (CIFAR-10, alpha 0.75) on batches of 256,
// in images/s, for both precisions (bf16 where the CPU runs it) and a few
// groupings: go test -bench Plan ./layers/infer.
func BenchmarkPlan(b *testing.B) {
	for _, prec := range []layers.Precision{layers.FP32, layers.BF16} {
		if prec == layers.BF16 && !blas.HaveBF16() {
			continue
		}
		for _, opt := range benchOptions {
			opt.Precision = prec
			b.Run(fmt.Sprintf("%s/group%d/sub%d", prec, opt.Group, opt.Sub), func(b *testing.B) {
				m, err := model.New(model.CIFAR10(0.75), model.Options{Seed: 1})
				if err != nil {
					b.Fatal(err)
				}
				ls, _ := m.Layers()
				p, err := infer.Compile(ls, [3]int{3, 32, 32}, opt)
				if err != nil {
					b.Fatal(err)
				}
				const n = 256
				x := randomImages(n, 3, 32, 32, 1)
				out := make([]float32, n*10)
				b.ResetTimer()
				for range b.N {
					if err := p.Run(out, x, n); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}

var benchOptions = []infer.Options{{}}

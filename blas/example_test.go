package blas_test

import (
	"fmt"

	"github.com/gomobilenet/mobilenet/blas"
)

// C = A·B for row-major matrices: A is 2×3, B is 3×2.
func ExampleGemm() {
	a := []float32{1, 2, 3, 4, 5, 6}
	b := []float32{1, 0, 0, 1, 1, 1}
	c := make([]float32, 4)
	blas.Gemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2)
	fmt.Println(c)
	// Output: [4 5 10 11]
}

// A convolution's weights packed once, then multiplied by each sample's
// input: PackFor tells the pure-Go backend the products' width (here 4
// columns), so that it packs for the micro-kernel that shape runs best on.
func ExamplePackFor() {
	w := []float32{1, 2, 3, 4, 5, 6} // 2 output channels × 3 input channels
	p := blas.PackFor(nil, 4, false, 2, 3, w, 3)
	for _, x := range [][]float32{
		{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0}, // sample 1: 3 channels × 4 positions
		{1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 2, 2}, // sample 2
	} {
		y := make([]float32, 8)
		blas.GemmPacked(p, false, 4, 1, x, 4, 0, y, 4)
		fmt.Println(y)
	}
	// Output:
	// [1 2 3 0 4 5 6 0]
	// [7 7 7 7 16 16 16 16]
}

// A 1×1 convolution's weight gradient over a batch of two samples, each with
// 2 output channels (dY, 2×3 positions) and 2 input channels (X, 2×3):
// dW = Σ_n dY_n·X_nᵀ, every row read along its 3 positions.
func ExampleGemmNTBatch() {
	dy := []float32{
		1, 0, 0, 0, 1, 0, // sample 1: channel 0, channel 1
		1, 1, 1, 0, 0, 2, // sample 2
	}
	x := []float32{
		1, 2, 3, 4, 5, 6, // sample 1
		1, 0, 0, 0, 0, 1, // sample 2
	}
	dw := make([]float32, 4) // 2 output × 2 input channels
	blas.GemmNTBatch(2, 2, 3, 2, 1, dy, 3, 6, x, 3, 6, 0, dw, 2)
	fmt.Println(dw)
	// Output: [2 5 2 7]
}

// Choosing a model's precision as the commands' --precision auto does:
// bf16 products where this CPU runs them faster than float32 (AMX; or
// AVX512-BF16 measured at start-up), float32 elsewhere. The result depends
// on the CPU, so the example prints only that a reason was given.
func ExamplePreferBF16() {
	useBF16, why := blas.PreferBF16()
	_ = useBF16 // layers.Store.SetPrecision(layers.BF16) when true
	fmt.Println(why != "")
	// Output: true
}

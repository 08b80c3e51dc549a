//go:build amd64 && !purego

package blas

import "testing"

// TestKernelFor pins the AVX-512 kernel choice on MobileNet's products:
// 16×16 for at most 16 columns, 12×32 for the weight gradients' narrow
// products, 8×48 where 6 does not divide the rows and 8 does (one image's
// pointwise products at 224×224, alpha 0.5), 6×64 for CIFAR-10's alpha 0.75
// shapes (rows a multiple of 24, where 8×48 only pads columns).
func TestKernelFor(t *testing.T) {
	if bestKernel() != kernel6x64AVX512 {
		t.Skip("the AVX-512 tier is not active: one kernel")
	}
	for _, tc := range []struct {
		m, n int
		want *microKernel
	}{
		{96, 16, kernel16x16AVX512},   // a sample's product on 4×4 maps
		{768, 24, kernel12x32AVX512},  // a weight gradient, 24 input channels
		{32, 12544, kernel8x48AVX512}, // 224×224, alpha 0.5: block 1's pointwise, one image
		{16, 12544, kernel8x48AVX512}, // … the stem's im2col product
		{128, 784, kernel8x48AVX512},  // … block 5's
		{24, 1024, kernel6x64AVX512},  // CIFAR-10, alpha 0.75: block 1's, one sample
		{96, 256, kernel6x64AVX512},   // … block 4's
		{384, 64, kernel6x64AVX512},   // … on 8×8 maps
		{256, 3136, kernel6x64AVX512}, // 224, alpha 0.5, 14×14 maps in 16 lanes: 6×64 pads 2 rows of 258, 8×48 2% of columns
		{512, 0, kernel6x64AVX512},    // width unknown (4096): 516 × 4096 against 512 × 4128, a tie, to 6×64
		{30, 4096, kernel6x64AVX512},  // 6 divides the rows, 8 does not
	} {
		if got := kernelFor(kernel6x64AVX512, tc.m, tc.n); got != tc.want {
			t.Errorf("kernelFor(%d, %d) = %s, want %s", tc.m, tc.n, got.name, tc.want.name)
		}
	}
}

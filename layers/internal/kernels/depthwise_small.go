package kernels

import "unsafe"

// smallTab drives the AVX2 kernels of the 3×3, stride-1, padding-1
// depthwise convolution on planes of at most 64 floats (depthwise_small_amd64.s,
// which reads it at fixed offsets: keep the layout).
type smallTab struct {
	off  [9]int64     // byte offset of tap t's input from the output
	mask [9][64]int32 // −1 where output i's tap t lies inside the plane
	out  [64]int32    // −1 for i < H·W
	nvec int64        // ⌈H·W/8⌉ vectors per plane
}

// The assembly's offsets (each line fails to compile if one moves).
var _ = [1]struct{}{}[unsafe.Offsetof(smallTab{}.mask)-72]
var _ = [1]struct{}{}[unsafe.Offsetof(smallTab{}.out)-2376]
var _ = [1]struct{}{}[unsafe.Offsetof(smallTab{}.nvec)-2632]

func newSmallTab(h, w int) *smallTab {
	t := &smallTab{nvec: int64((h*w + 7) / 8)}
	for ky := 0; ky < 3; ky++ {
		for kx := 0; kx < 3; kx++ {
			tap := ky*3 + kx
			t.off[tap] = int64(((ky-1)*w + kx - 1) * 4)
			for i := 0; i < h*w; i++ {
				iy, ix := i/w+ky-1, i%w+kx-1
				if iy >= 0 && iy < h && ix >= 0 && ix < w {
					t.mask[tap][i] = -1
				}
			}
		}
	}
	for i := 0; i < h*w; i++ {
		t.out[i] = -1
	}
	return t
}

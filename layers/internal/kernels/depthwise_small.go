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

	// The AVX-512 kernels' part: the same as k-masks of 16 lanes.
	kmask   [9][4]uint16 // bit j of kmask[t][v]: output 16v+j's tap t is inside
	kout    [4]uint16    // bit j of kout[v]: 16v+j < H·W
	nvec16  int64        // ⌈H·W/16⌉ vectors per plane
	hwBytes int64        // 4·H·W, a plane's size
}

// The assembly's offsets (each line fails to compile if one moves).
var _ = [1]struct{}{}[unsafe.Offsetof(smallTab{}.mask)-72]
var _ = [1]struct{}{}[unsafe.Offsetof(smallTab{}.out)-2376]
var _ = [1]struct{}{}[unsafe.Offsetof(smallTab{}.nvec)-2632]
var _ = [1]struct{}{}[unsafe.Offsetof(smallTab{}.kmask)-2640]
var _ = [1]struct{}{}[unsafe.Offsetof(smallTab{}.kout)-2712]
var _ = [1]struct{}{}[unsafe.Offsetof(smallTab{}.nvec16)-2720]
var _ = [1]struct{}{}[unsafe.Offsetof(smallTab{}.hwBytes)-2728]

func newSmallTab(h, w int) *smallTab {
	t := &smallTab{nvec: int64((h*w + 7) / 8), nvec16: int64((h*w + 15) / 16), hwBytes: int64(4 * h * w)}
	for ky := 0; ky < 3; ky++ {
		for kx := 0; kx < 3; kx++ {
			tap := ky*3 + kx
			t.off[tap] = int64(((ky-1)*w + kx - 1) * 4)
			for i := 0; i < h*w; i++ {
				iy, ix := i/w+ky-1, i%w+kx-1
				if iy >= 0 && iy < h && ix >= 0 && ix < w {
					t.mask[tap][i] = -1
					t.kmask[tap][i/16] |= 1 << (i % 16)
				}
			}
		}
	}
	for i := 0; i < h*w; i++ {
		t.out[i] = -1
		t.kout[i/16] |= 1 << (i % 16)
	}
	return t
}

package kernels

import "unsafe"

// streamMin is the size from which BatchNorm writes its output (the forward
// pass's y, the backward pass's dx) with non-temporal stores, past the
// caches: such a tensor does not stay in this CPU's 2 MiB of L2 a core for
// its reader, and a store that misses would first read the line it
// overwrites. Measured on the Xeon 6/167 (training step, alpha 0.75, bf16):
// BatchNorm 64 → 55 ms a step, no slower readers, down to outputs of
// 1.5 MiB (planes of 4×4, 192 channels, batch 128). The AVX2 tier streams
// too (eight floats a store).
const streamMin = 1 << 20

// stream reports whether an output of float32 planes of inner elements,
// dst being all of them, is written with the non-temporal many-planes
// kernels: on the AVX2 and AVX512 tiers, with ReLU, for planes of whole
// vectors from a 64-byte aligned start, and outputs of at least streamMin
// bytes.
func stream(dst []float32, inner int, act Act) bool {
	return haveAVX2 && act == ReLU && inner%16 == 0 && len(dst)*4 >= streamMin &&
		uintptr(unsafe.Pointer(&dst[0]))%64 == 0
}

// planesGrain is the smallest run of planes of inner elements the
// many-planes kernels take a call: 4096 floats, or 16384 when they stream
// (a fence a call).
func planesGrain(inner int, nt bool) int {
	if nt {
		return max(1, 16384/inner)
	}
	return max(1, 4096/inner)
}

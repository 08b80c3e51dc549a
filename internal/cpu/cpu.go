// Package cpu chooses the tier of hand-written kernels this process runs,
// the best the CPU and the operating system support, or the one the
// environment variable MOBILENET_KERNELS names (how tests and benchmarks
// cover every tier a machine supports): avx512-amx (AVX-512 and AMX tiles
// for bf16 products), avx512-bf16 (AVX-512 with VDPBF16PS), avx512, avx2
// (with FMA) or go. The choice is made once, at start-up, and read by
// packages blas and layers.
package cpu

import (
	"fmt"
	"os"
	"strings"

	xcpu "golang.org/x/sys/cpu"
)

// Tier is a level of kernels; a higher tier runs everything a lower one
// does, faster.
type Tier int

// The tiers, lowest first.
const (
	Go         Tier = iota // portable Go loops
	AVX2                   // 256-bit AVX2 + FMA assembly
	AVX512                 // 512-bit AVX-512 (F, BW, DQ, VL) assembly
	AVX512BF16             // AVX512 and bf16 products with VDPBF16PS (AVX512-BF16: Cooper Lake, Sapphire Rapids on, Zen 4 on)
	AVX512AMX              // AVX512BF16 and bf16 products on AMX tiles (TDPBF16PS: Sapphire Rapids on), Linux granting tile data
)

// tierNames are the tiers' names, lowest first.
var tierNames = []string{"go", "avx2", "avx512", "avx512-bf16", "avx512-amx"}

// BF16 reports whether the tier runs bf16 products (AVX512BF16 and above).
func (t Tier) BF16() bool { return t >= AVX512BF16 }

// String is the tier's name as MOBILENET_KERNELS spells it.
func (t Tier) String() string {
	if t >= 0 && int(t) < len(tierNames) {
		return tierNames[t]
	}
	return "go"
}

// Parse reads a tier's name.
func Parse(s string) (Tier, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	for i, n := range tierNames {
		if n == name {
			return Tier(i), nil
		}
	}
	return Go, fmt.Errorf("unknown kernel tier %q (want avx512-amx, avx512-bf16, avx512, avx2 or go)", s)
}

// Supported is the highest tier this CPU and OS run (x/sys/cpu checks
// that the OS saves the vector registers). Builds with -tags purego, and
// other architectures, support Go only.
func Supported() Tier { return supported }

var supported = detect()

func detect() Tier {
	if !asmBuild {
		return Go
	}
	x := xcpu.X86
	switch {
	case x.HasAVX512F && x.HasAVX512BW && x.HasAVX512DQ && x.HasAVX512VL && x.HasAVX2 && x.HasFMA:
		if !x.HasAVX512BF16 {
			return AVX512
		}
		if x.HasAMXTile && x.HasAMXBF16 && requestTileData() {
			return AVX512AMX
		}
		return AVX512BF16
	case x.HasAVX2 && x.HasFMA:
		return AVX2
	}
	return Go
}

// active and envErr are set once by init and never change.
var active, envErr = choose(os.Getenv("MOBILENET_KERNELS"), supported)

// choose is the tier for a MOBILENET_KERNELS value: the supported tier when
// empty, the named one when the CPU runs it, else the supported tier and an
// error saying why.
func choose(env string, sup Tier) (Tier, error) {
	if env == "" {
		return sup, nil
	}
	t, err := Parse(env)
	if err != nil {
		return sup, fmt.Errorf("MOBILENET_KERNELS: %w", err)
	}
	if t > sup {
		return sup, fmt.Errorf("MOBILENET_KERNELS=%s: this CPU runs at most %s", t, sup)
	}
	return t, nil
}

// Active is the tier that runs.
func Active() Tier { return active }

// Err is the error of a bad MOBILENET_KERNELS (an unknown name, or a tier
// the CPU lacks), or nil; the supported tier runs instead. Commands report
// it.
func Err() error { return envErr }

// Describe names the active tier and what was asked for, e.g. "avx512" or
// "avx2 (MOBILENET_KERNELS; the CPU runs avx512)".
func Describe() string {
	if active != supported {
		return fmt.Sprintf("%s (MOBILENET_KERNELS; the CPU runs %s)", active, supported)
	}
	return active.String()
}

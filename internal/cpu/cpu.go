// Package cpu chooses the tier of hand-written kernels this process runs:
// AVX-512, AVX2 (with FMA) or plain Go, the best the CPU and the operating
// system support, or the one the environment variable MOBILENET_KERNELS
// names (avx512, avx2 or go; how tests and benchmarks cover every tier a
// machine supports). The choice is made once, at start-up, and read by
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
	Go     Tier = iota // portable Go loops
	AVX2               // 256-bit AVX2 + FMA assembly
	AVX512             // 512-bit AVX-512 (F, BW, DQ, VL) assembly
)

// String is the tier's name as MOBILENET_KERNELS spells it.
func (t Tier) String() string {
	switch t {
	case AVX2:
		return "avx2"
	case AVX512:
		return "avx512"
	}
	return "go"
}

// Parse reads a tier's name.
func Parse(s string) (Tier, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "go":
		return Go, nil
	case "avx2":
		return AVX2, nil
	case "avx512":
		return AVX512, nil
	}
	return Go, fmt.Errorf("unknown kernel tier %q (want avx512, avx2 or go)", s)
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
		return AVX512
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

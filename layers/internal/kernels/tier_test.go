package kernels

import (
	"testing"

	"github.com/gomobilenet/mobilenet/internal/cpu"
	"github.com/gomobilenet/mobilenet/internal/testenv"
)

// TestTier: the kernels run the tier internal/cpu chose (the CPU's best,
// or the one MOBILENET_KERNELS names), and this package's tests ran on it
// ("kernels:<tier>" in CI's summary, which fails when a tier the CPU runs
// is missing). A MOBILENET_KERNELS the CPU cannot run fails here instead of
// testing another tier silently.
func TestTier(t *testing.T) {
	if err := cpu.Err(); err != nil {
		t.Fatal(err)
	}
	tier := cpu.Active()
	if haveAVX2 != (tier >= cpu.AVX2) || haveAVX512 != (tier >= cpu.AVX512) {
		t.Fatalf("tier %s, but the kernels run AVX2 %v, AVX-512 %v", tier, haveAVX2, haveAVX512)
	}
	testenv.Ran(t, "kernels:"+tier.String())
}

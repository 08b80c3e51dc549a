package blas

import (
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/internal/cpu"
)

// TestPickBF16: the VDPBF16PS products are taken only when measured at
// least bf16Margin× as fast as float32; ties, slower products and failed
// measurements keep float32.
func TestPickBF16(t *testing.T) {
	for _, tc := range []struct {
		name         string
		fp32, bf16   float64
		want         bool
		wantInReason string
	}{
		{"twice as fast", 2, 1, true, "2.00x as fast"},
		{"at the margin", bf16Margin, 1, true, "x as fast"},
		{"just under the margin", 1.14, 1, false, "1.14x as fast"},
		{"a tie", 1, 1, false, "1.00x as fast"},
		{"slower (Xeon 6's VDPBF16PS)", 1, 1.96, false, "0.51x as fast"},
		{"not measured", 0, 1, false, "not measured"},
		{"not measured either", 1, 0, false, "not measured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := pickBF16(tc.fp32, tc.bf16)
			if got != tc.want || !strings.Contains(why, tc.wantInReason) {
				t.Errorf("pickBF16(%g, %g) = %v, %q; want %v and a reason with %q", tc.fp32, tc.bf16, got, why, tc.want, tc.wantInReason)
			}
		})
	}
}

// TestPreferBF16 checks the decision on the active tier (CI runs the tests
// under every tier the machine has): never without bf16 products, always
// on AMX, and by measurement on VDPBF16PS alone.
func TestPreferBF16(t *testing.T) {
	got, why := PreferBF16()
	switch tier := cpu.Active(); {
	case !HaveBF16():
		if got || !strings.Contains(why, tier.String()) {
			t.Errorf("tier %s without bf16 products: PreferBF16 = %v, %q; want false, naming the tier", tier, got, why)
		}
	case tier >= cpu.AVX512AMX:
		if !got || !strings.Contains(why, "AMX") {
			t.Errorf("tier %s: PreferBF16 = %v, %q; want true (AMX tiles)", tier, got, why)
		}
	default:
		if !strings.Contains(why, "measured") {
			t.Errorf("tier %s: PreferBF16 = %v, %q; want a measured decision", tier, got, why)
		}
		t.Logf("tier %s: %v (%s)", tier, got, why)
	}
}

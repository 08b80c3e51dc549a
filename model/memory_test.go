package model

import "testing"

// TestMemoryEstimate: the estimate grows with the batch and the resolution,
// training needs more than inference, and it is near what cmd/bench measured
// (peak RSS, CIFAR-10, float32, 2026-12-02 on an AMD EPYC Zen 5: alpha 0.75
// training at batch 128 674 MiB, inference at batch 256 661 MiB; alpha 0.25
// 237 and 239 MiB).
func TestMemoryEstimate(t *testing.T) {
	for _, c := range []struct {
		alpha    float64
		batch    int
		training bool
		measured float64 // MiB
	}{{0.75, 128, true, 674}, {0.75, 256, false, 661}, {0.25, 128, true, 237}, {0.25, 256, false, 239}} {
		est, err := CIFAR10(c.alpha).MemoryEstimate(c.batch, c.training)
		if err != nil {
			t.Fatal(err)
		}
		mib := float64(est) / (1 << 20)
		t.Logf("alpha %g batch %d training %v: estimate %.0f MiB, measured %.0f", c.alpha, c.batch, c.training, mib, c.measured)
		if r := mib / c.measured; r < 0.9 || r > 1.5 {
			t.Errorf("alpha %g batch %d training %v: estimate %.0f MiB, measured %.0f", c.alpha, c.batch, c.training, mib, c.measured)
		}
	}
	cfg := CIFAR10(0.5)
	a, _ := cfg.MemoryEstimate(64, true)
	b, _ := cfg.MemoryEstimate(128, true)
	c, _ := cfg.MemoryEstimate(128, false)
	cfg.Resolution = 64
	d, _ := cfg.MemoryEstimate(128, true)
	if !(a < b && c < b && b < d) {
		t.Errorf("estimates not ordered: batch 64 %d, 128 %d, inference %d, resolution 64 %d", a, b, c, d)
	}
	if _, err := cfg.MemoryEstimate(0, true); err == nil {
		t.Error("batch 0: no error")
	}
	cfg.Resolution = MaxResolution + 1
	if _, err := cfg.MemoryEstimate(1, true); err == nil {
		t.Error("resolution past the maximum: no error")
	}
}

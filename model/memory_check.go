package model

import (
	"errors"
	"fmt"

	"github.com/gomobilenet/mobilenet/internal/sysmem"
	"github.com/gomobilenet/mobilenet/layers"
)

// ErrTooLarge is returned (wrapped) when a graph would not fit in the
// memory this machine has available.
var ErrTooLarge = errors.New("does not fit in memory")

// CheckMemory refuses a training run (a training graph of batch trainBatch
// and an inference graph of batch evalBatch; either may be 0 for none)
// whose estimated memory exceeds what the machine has available.
func CheckMemory(cfg Config, trainBatch, evalBatch int) error {
	var need int64
	for _, g := range []struct {
		batch    int
		training bool
	}{{trainBatch, true}, {evalBatch, false}} {
		if g.batch == 0 {
			continue
		}
		n, err := cfg.MemoryEstimate(g.batch, g.training)
		if err != nil {
			return err
		}
		need += n
	}
	avail, ok := sysmem.Available()
	if !ok || need <= avail {
		return nil
	}
	what := fmt.Sprintf("training at batch %d and evaluation at batch %d", trainBatch, evalBatch)
	switch {
	case evalBatch == 0:
		what = fmt.Sprintf("training at batch %d", trainBatch)
	case trainBatch == 0:
		what = fmt.Sprintf("inference at batch %d", evalBatch)
	}
	return fmt.Errorf("MobileNet %s alpha %g resolution %d, %s: needs about %s, %w (%s available); lower the batch size or the resolution",
		cfg.Name, cfg.Alpha, cfg.Resolution, what, sysmem.Format(need), ErrTooLarge, sysmem.Format(avail))
}

// CheckNetworkMemory is CheckMemory for a network that is a MobileNet
// (*Model); other networks are not estimated.
func CheckNetworkMemory(n layers.Network, trainBatch, evalBatch int) error {
	if m, ok := n.(*Model); ok && m != nil {
		return CheckMemory(m.Config, trainBatch, evalBatch)
	}
	return nil
}

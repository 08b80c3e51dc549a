package train_test

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"

	"github.com/gomobilenet/mobilenet/train"
)

// TestEpochRecordJSON: metrics.jsonl keeps its keys: an unevaluated epoch
// has no test figures; an evaluated one with flip TTA and an EMA has them
// flat, the average's under test_acc_ema and its kin.
func TestEpochRecordJSON(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	cases := []struct {
		rec  train.EpochRecord
		keys []string
	}{
		{train.EpochRecord{Epoch: 1, Step: 10, LR: 0.1, TrainLoss: 2, TrainAcc: 0.3, TrainSeconds: 5, TrainImagesPS: 100},
			[]string{"epoch", "lr", "step", "train_acc", "train_images_per_s", "train_loss", "train_seconds"}},
		{train.EpochRecord{Epoch: 2, TestLoss: f(1), TestAcc: f(0.5), EvalImagesPS: f(900), TestAccFlip: f(0.55), TestLossFlip: f(0.9),
			EMA: &train.AverageRecord{TestAcc: 0.6, TestLoss: 0.8, TestAccFlip: f(0.62)}},
			[]string{"epoch", "eval_images_per_s", "lr", "step", "test_acc", "test_acc_ema", "test_acc_ema_tta_flip", "test_acc_tta_flip", "test_loss",
				"test_loss_ema", "test_loss_tta_flip", "train_acc", "train_images_per_s", "train_loss", "train_seconds"}},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.rec)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if !reflect.DeepEqual(keys, c.keys) {
			t.Errorf("%s: keys %v, want %v", b, keys, c.keys)
		}
		if c.rec.EMA != nil && m["test_acc_ema"] != 0.6 {
			t.Errorf("%s: test_acc_ema %v, want 0.6", b, m["test_acc_ema"])
		}
	}
}

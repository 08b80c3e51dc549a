package curves

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlot(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(`{"epoch":1,"train_loss":2,"test_loss":1.8,"train_acc":0.3,"test_acc":0.35}
{"epoch":2,"train_loss":1.5,"test_loss":1.4,"train_acc":0.5,"test_acc":0.52}
`), 0o644)
	if err := Plot(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "curves.png"))
	if err != nil || len(b) < 1000 || string(b[1:4]) != "PNG" {
		t.Fatalf("curves.png: %d bytes, %v", len(b), err)
	}
	if err := Plot(t.TempDir()); err == nil {
		t.Error("no metrics: no error")
	}
}

// TestPartlyEvaluated: a run with --eval-every has epochs without test
// figures; they join the training curves only, and a file with none yet
// (a run still before its first evaluation) still plots.
func TestPartlyEvaluated(t *testing.T) {
	for _, tc := range []struct {
		name, jsonl              string
		trainPts, tested, avgPts int
		wantErr                  bool
	}{
		{"every other", `{"epoch":1,"train_loss":2,"train_acc":0.3}
{"epoch":2,"train_loss":1.5,"test_loss":1.4,"train_acc":0.5,"test_acc":0.52}
{"epoch":3,"train_loss":1.2,"train_acc":0.6}
`, 3, 1, 0, false},
		{"none yet", `{"epoch":1,"train_loss":2,"train_acc":0.3}
`, 1, 0, 0, false},
		{"half a pair", `{"epoch":1,"train_loss":2,"train_acc":0.3,"test_acc":0.3}
`, 0, 0, 0, true},
		{"an SWA tail", `{"epoch":1,"train_loss":2,"test_loss":1.4,"train_acc":0.3,"test_acc":0.5}
{"epoch":2,"train_loss":1.5,"test_loss":1.4,"train_acc":0.5,"test_acc":0.52,"test_loss_swa":1.3,"test_acc_swa":0.55}
`, 2, 2, 1, false},
		{"an EMA", `{"epoch":1,"train_loss":2,"test_loss":1.4,"train_acc":0.3,"test_acc":0.5,"test_loss_ema":1.3,"test_acc_ema":0.55}
`, 1, 1, 1, false},
		{"half an average", `{"epoch":1,"train_loss":2,"test_loss":1.4,"train_acc":0.3,"test_acc":0.5,"test_acc_swa":0.55}
`, 0, 0, 0, true},
		{"an average without the test figures", `{"epoch":1,"train_loss":2,"train_acc":0.3,"test_loss_ema":1.3,"test_acc_ema":0.55}
`, 0, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := readMetrics(strings.NewReader(tc.jsonl))
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(m.trainLoss) != tc.trainPts || len(m.trainAcc) != tc.trainPts || len(m.testLoss) != tc.tested || len(m.testAcc) != tc.tested || len(m.avgLoss) != tc.avgPts || len(m.avgAcc) != tc.avgPts {
				t.Fatalf("%d/%d training, %d/%d test and %d/%d average points, want %d, %d and %d", len(m.trainLoss), len(m.trainAcc), len(m.testLoss), len(m.testAcc), len(m.avgLoss), len(m.avgAcc), tc.trainPts, tc.tested, tc.avgPts)
			}
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(tc.jsonl), 0o644)
			if err := Plot(dir); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// FuzzMetrics: any metrics.jsonl either gives training curves of equal
// length, test curves of equal length, no longer, and average curves of
// equal length, no longer than the test curves, or an error; never a
// panic.
func FuzzMetrics(f *testing.F) {
	f.Add("{\"epoch\":1,\"train_loss\":2,\"test_loss\":1.8,\"train_acc\":0.3,\"test_acc\":0.35}\n{\"epoch\":2}\n")
	f.Add("{\"epoch\":1e400}\n")
	f.Add("{\"epoch\":1,\"train_loss\":2,\"test_loss\":1.8,\"train_acc\":0.3,\"test_acc\":0.35,\"test_loss_swa\":1.7,\"test_acc_swa\":0.4}\n")
	f.Add("not json\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := readMetrics(strings.NewReader(s))
		if err != nil {
			return
		}
		if len(m.trainLoss) != len(m.trainAcc) || len(m.testLoss) != len(m.testAcc) || len(m.testLoss) > len(m.trainLoss) || len(m.avgLoss) != len(m.avgAcc) || len(m.avgLoss) > len(m.testLoss) {
			t.Fatalf("curves of %d, %d, %d, %d, %d, %d points", len(m.trainLoss), len(m.trainAcc), len(m.testLoss), len(m.testAcc), len(m.avgLoss), len(m.avgAcc))
		}
	})
}

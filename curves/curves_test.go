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
		name, jsonl      string
		trainPts, tested int
		wantErr          bool
	}{
		{"every other", `{"epoch":1,"train_loss":2,"train_acc":0.3}
{"epoch":2,"train_loss":1.5,"test_loss":1.4,"train_acc":0.5,"test_acc":0.52}
{"epoch":3,"train_loss":1.2,"train_acc":0.6}
`, 3, 1, false},
		{"none yet", `{"epoch":1,"train_loss":2,"train_acc":0.3}
`, 1, 0, false},
		{"half a pair", `{"epoch":1,"train_loss":2,"train_acc":0.3,"test_acc":0.3}
`, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trL, teL, trA, teA, err := readMetrics(strings.NewReader(tc.jsonl))
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(trL) != tc.trainPts || len(trA) != tc.trainPts || len(teL) != tc.tested || len(teA) != tc.tested {
				t.Fatalf("%d/%d training and %d/%d test points, want %d and %d", len(trL), len(trA), len(teL), len(teA), tc.trainPts, tc.tested)
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
// length and test curves of equal length, no longer, or an error; never a
// panic.
func FuzzMetrics(f *testing.F) {
	f.Add("{\"epoch\":1,\"train_loss\":2,\"test_loss\":1.8,\"train_acc\":0.3,\"test_acc\":0.35}\n{\"epoch\":2}\n")
	f.Add("{\"epoch\":1e400}\n")
	f.Add("not json\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		a, b, c, d, err := readMetrics(strings.NewReader(s))
		if err != nil {
			return
		}
		if len(a) != len(c) || len(b) != len(d) || len(b) > len(a) {
			t.Fatalf("curves of %d, %d, %d, %d points", len(a), len(b), len(c), len(d))
		}
	})
}

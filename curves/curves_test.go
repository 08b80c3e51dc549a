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

// FuzzMetrics: any metrics.jsonl either gives four curves of equal length
// and drawable values or an error; never a panic.
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
		if len(a) != len(b) || len(b) != len(c) || len(c) != len(d) {
			t.Fatalf("curves of %d, %d, %d, %d points", len(a), len(b), len(c), len(d))
		}
	})
}

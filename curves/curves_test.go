package curves

import (
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"
)

// readPNG decodes a PNG file.
func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// TestPlot: metrics.jsonl becomes curves.png, a picture with curves that
// depends on the figures; no metrics is an error.
func TestPlot(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(`{"epoch":1,"train_loss":2,"test_loss":1.8,"train_acc":0.3,"test_acc":0.35}
{"epoch":2,"train_loss":1.5,"test_loss":1.4,"train_acc":0.5,"test_acc":0.52}
`), 0o644)
	if err := Plot(dir); err != nil {
		t.Fatal(err)
	}
	img := readPNG(t, filepath.Join(dir, "curves.png"))
	// Two panels (loss, accuracy) of curves in colour on white: many
	// colours, some of them far from grey.
	colours, vivid := map[color.RGBA]bool{}, 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			colours[c] = true
			if max(c.R, c.G, c.B)-min(c.R, c.G, c.B) > 100 {
				vivid++
			}
		}
	}
	if bounds.Dx() < 400 || bounds.Dy() < 200 || len(colours) < 8 || vivid < 100 {
		t.Errorf("curves.png: %v, %d colours, %d coloured pixels: want a plot with curves", bounds, len(colours), vivid)
	}
	// Other figures draw another picture.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "metrics.jsonl"), []byte(`{"epoch":1,"train_loss":0.5,"test_loss":2.8,"train_acc":0.9,"test_acc":0.15}
{"epoch":2,"train_loss":0.2,"test_loss":3.4,"train_acc":0.95,"test_acc":0.12}
`), 0o644)
	if err := Plot(other); err != nil {
		t.Fatal(err)
	}
	if b := readPNG(t, filepath.Join(other, "curves.png")); reflect.DeepEqual(b, img) {
		t.Error("other metrics drew the same picture")
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

// FuzzMetrics: any metrics.jsonl either gives curves or an error; never a
// panic. Curves hold finite values within float32's range; each test point
// shares its epoch with a training point of a line at or after the last
// one's (an epoch's test figures sit on its line), each average point with
// a test point, loss and accuracy curves pair up; and the curves, written
// back as metrics.jsonl, read back the same.
func FuzzMetrics(f *testing.F) {
	f.Add("{\"epoch\":1,\"train_loss\":2,\"test_loss\":1.8,\"train_acc\":0.3,\"test_acc\":0.35}\n{\"epoch\":2}\n")
	f.Add("{\"epoch\":1e400}\n")
	f.Add("{\"epoch\":1,\"train_loss\":2,\"test_loss\":1.8,\"train_acc\":0.3,\"test_acc\":0.35,\"test_loss_swa\":1.7,\"test_acc_swa\":0.4}\n")
	f.Add("{\"epoch\":1,\"train_loss\":2,\"train_acc\":0.3}\n{\"epoch\":2,\"train_loss\":1,\"train_acc\":0.5,\"test_loss\":1.1,\"test_acc\":0.6,\"test_loss_ema\":1,\"test_acc_ema\":0.62}\n")
	f.Add("not json\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := readMetrics(strings.NewReader(s))
		if err != nil {
			return
		}
		checkCurves(t, m)
		again, err := readMetrics(strings.NewReader(writeMetrics(t, m)))
		if err != nil {
			t.Fatalf("curves written back do not read: %v", err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("curves written back read as %+v, were %+v", again, m)
		}
	})
}

// checkCurves checks the invariants FuzzMetrics states.
func checkCurves(t *testing.T, m metrics) {
	t.Helper()
	for _, c := range []plotter.XYs{m.trainLoss, m.trainAcc, m.testLoss, m.testAcc, m.avgLoss, m.avgAcc} {
		for _, p := range c {
			for _, v := range []float64{p.X, p.Y} {
				if math.IsNaN(v) || math.Abs(v) > math.MaxFloat32 {
					t.Fatalf("a curve holds %v", v)
				}
			}
		}
	}
	pairs := [][2]plotter.XYs{{m.trainLoss, m.trainAcc}, {m.testLoss, m.testAcc}, {m.avgLoss, m.avgAcc}}
	for _, p := range pairs {
		if len(p[0]) != len(p[1]) {
			t.Fatalf("a loss curve of %d points, its accuracy curve %d", len(p[0]), len(p[1]))
		}
		for i := range p[0] {
			if p[0][i].X != p[1][i].X {
				t.Fatalf("point %d: loss at epoch %v, accuracy at %v", i, p[0][i].X, p[1][i].X)
			}
		}
	}
	if _, ok := subsequence(m.testLoss, m.trainLoss); !ok {
		t.Fatal("test points at epochs without a training point")
	}
	if _, ok := subsequence(m.avgLoss, m.testLoss); !ok {
		t.Fatal("average points at epochs without a test point")
	}
}

// subsequence matches the points of sub, in order, to points of seq at the
// same epoch (the first that fits), and returns their indices.
func subsequence(sub, seq plotter.XYs) ([]int, bool) {
	at := make([]int, 0, len(sub))
	j := 0
	for _, p := range sub {
		for j < len(seq) && seq[j].X != p.X {
			j++
		}
		if j == len(seq) {
			return nil, false
		}
		at = append(at, j)
		j++
	}
	return at, true
}

// writeMetrics writes curves as metrics.jsonl: a line per training point,
// with the test and average figures matched to it.
func writeMetrics(t *testing.T, m metrics) string {
	t.Helper()
	testAt, _ := subsequence(m.testLoss, m.trainLoss)
	avgAt, _ := subsequence(m.avgLoss, m.testLoss)
	lines := make([]map[string]float64, len(m.trainLoss))
	for i, p := range m.trainLoss {
		lines[i] = map[string]float64{"epoch": p.X, "train_loss": p.Y, "train_acc": m.trainAcc[i].Y}
	}
	for k, i := range testAt {
		lines[i]["test_loss"], lines[i]["test_acc"] = m.testLoss[k].Y, m.testAcc[k].Y
	}
	for k, i := range avgAt {
		line := lines[testAt[i]]
		line["test_loss_ema"], line["test_acc_ema"] = m.avgLoss[k].Y, m.avgAcc[k].Y
	}
	var b strings.Builder
	for _, l := range lines {
		j, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

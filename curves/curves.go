// Package curves draws a training run's loss and accuracy curves from its
// metrics.jsonl (what cmd/train writes beside its checkpoints) into a PNG.
// It is its own package so that users of package train do not pull in the
// plotting library.
package curves

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/gomobilenet/mobilenet/internal/atomicfile"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Plot draws the loss and accuracy curves of dir/metrics.jsonl into
// dir/curves.png (written to a temporary file and renamed): training, test,
// and the weight average's test figures when the run kept one (train's
// --ema or --swa-epochs). Epochs without test figures (train --eval-every)
// add to the training curves only.
func Plot(dir string) error {
	path := filepath.Join(dir, "metrics.jsonl")
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	defer f.Close()
	m, err := readMetrics(f)
	if err != nil {
		return fmt.Errorf("plot: %s: %w", path, err)
	}
	if len(m.trainLoss) == 0 {
		return fmt.Errorf("plot: %s has no epochs", path)
	}
	loss, err := curves("Loss", "cross-entropy", m.trainLoss, m.testLoss, m.avgLoss)
	if err != nil {
		return err
	}
	acc, err := curves("Accuracy", "top-1", m.trainAcc, m.testAcc, m.avgAcc)
	if err != nil {
		return err
	}
	img := vgimg.New(12*vg.Inch, 4.5*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Inch / 4, PadY: vg.Inch / 8, PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8, PadLeft: vg.Inch / 8, PadRight: vg.Inch / 8}
	loss.Draw(tiles.At(dc, 0, 0))
	acc.Draw(tiles.At(dc, 1, 0))
	var png bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&png); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, "curves.png"), png.Bytes()); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

// metrics are the curves of a metrics.jsonl.
type metrics struct {
	trainLoss, testLoss, avgLoss plotter.XYs
	trainAcc, testAcc, avgAcc    plotter.XYs
}

// readMetrics parses metrics.jsonl (one JSON object per epoch) into the
// curves; an epoch without test figures (train --eval-every) adds to the
// training curves only. Values that cannot be drawn (NaN, ±Inf, beyond
// float32) are an error.
func readMetrics(r io.Reader) (metrics, error) {
	var out metrics
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var m struct {
			Epoch     float64  `json:"epoch"`
			TrainLoss float64  `json:"train_loss"`
			TestLoss  *float64 `json:"test_loss"`
			TrainAcc  float64  `json:"train_acc"`
			TestAcc   *float64 `json:"test_acc"`
			EMALoss   *float64 `json:"test_loss_ema"`
			EMAAcc    *float64 `json:"test_acc_ema"`
			SWALoss   *float64 `json:"test_loss_swa"`
			SWAAcc    *float64 `json:"test_acc_swa"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return metrics{}, fmt.Errorf("line %d: %w", line, err)
		}
		avgLoss, avgAcc := m.EMALoss, m.EMAAcc
		if avgAcc == nil {
			avgLoss, avgAcc = m.SWALoss, m.SWAAcc
		}
		if (m.TestLoss == nil) != (m.TestAcc == nil) || (avgLoss == nil) != (avgAcc == nil) || (avgAcc != nil && m.TestAcc == nil) {
			return metrics{}, fmt.Errorf("line %d: test_loss and test_acc must come together, and the weight average's with them", line)
		}
		vals := []float64{m.Epoch, m.TrainLoss, m.TrainAcc}
		if m.TestAcc != nil {
			vals = append(vals, *m.TestLoss, *m.TestAcc)
		}
		if avgAcc != nil {
			vals = append(vals, *avgLoss, *avgAcc)
		}
		for _, v := range vals {
			if math.IsNaN(v) || math.Abs(v) > math.MaxFloat32 {
				return metrics{}, fmt.Errorf("line %d: value %g cannot be plotted", line, v)
			}
		}
		out.trainLoss = append(out.trainLoss, plotter.XY{X: m.Epoch, Y: m.TrainLoss})
		out.trainAcc = append(out.trainAcc, plotter.XY{X: m.Epoch, Y: m.TrainAcc})
		if m.TestAcc != nil {
			out.testLoss = append(out.testLoss, plotter.XY{X: m.Epoch, Y: *m.TestLoss})
			out.testAcc = append(out.testAcc, plotter.XY{X: m.Epoch, Y: *m.TestAcc})
		}
		if avgAcc != nil {
			out.avgLoss = append(out.avgLoss, plotter.XY{X: m.Epoch, Y: *avgLoss})
			out.avgAcc = append(out.avgAcc, plotter.XY{X: m.Epoch, Y: *avgAcc})
		}
	}
	return out, sc.Err()
}

func curves(title, ylabel string, train, test, avg plotter.XYs) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = ylabel
	p.Legend.Top = title == "Loss" // accuracy rises to the top right
	for i, c := range []struct {
		name string
		xys  plotter.XYs
	}{{"train", train}, {"test", test}, {"test, weight average", avg}} {
		if len(c.xys) == 0 { // no evaluation yet (train --eval-every)
			continue
		}
		l, err := plotter.NewLine(c.xys)
		if err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
		l.Color = []color.Color{color.RGBA{R: 31, G: 119, B: 180, A: 255}, color.RGBA{R: 214, G: 39, B: 40, A: 255}, color.RGBA{R: 44, G: 160, B: 44, A: 255}}[i]
		l.Width = vg.Points(2)
		p.Add(l)
		p.Legend.Add(c.name, l)
	}
	p.Add(plotter.NewGrid())
	return p, nil
}

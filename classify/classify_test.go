package classify

import (
	"context"
	"errors"
	"fmt"
	"github.com/gomobilenet/mobilenet/evaluate"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/train"
)

// checkpoint writes a model's checkpoint (alpha 0.25 unless given) and
// returns its path.
func checkpoint(t testing.TB, alpha ...float64) string {
	t.Helper()
	a := 0.25
	if len(alpha) > 0 {
		a = alpha[0]
	}
	m, err := model.New(model.CIFAR10(a), model.Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.bin")
	if err := train.WriteModel(path, m, m.Config); err != nil {
		t.Fatal(err)
	}
	return path
}

// randomImages returns n random images of the given side.
func randomImages(n, side int, seed uint64) []image.Image {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]image.Image, n)
	for i := range out {
		img := image.NewRGBA(image.Rect(0, 0, side, side))
		for p := 0; p < side*side; p++ {
			img.Set(p%side, p/side, color.RGBA{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), 255})
		}
		out[i] = img
	}
	return out
}

// reference is the top-k by the Evaluator directly, one image at a time.
func reference(t *testing.T, path string, imgs []image.Image, k int, tta evaluate.TTA) [][]Class {
	t.Helper()
	m, hdr, err := evaluate.Load(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := evaluate.New(m, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	pre := hdr.Preprocess()
	names, _ := hdr.ClassNames()
	var out [][]Class
	for _, img := range imgs {
		x := make([]float32, 3*32*32)
		if err := pre.Apply(x, img, 32); err != nil {
			t.Fatal(err)
		}
		l, err := ev.LogitsTTA(x, tta)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, TopK(l, names, k))
	}
	return out
}

func same(a, b []Class) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Index != b[i].Index || a[i].Name != b[i].Name || math.Abs(a[i].Prob-b[i].Prob) > 1e-5 {
			return false
		}
	}
	return true
}

// TestClassify: one caller and 64 at once (batched on graphs of 1, 4, 16
// and 64 images) get the Evaluator's top-k of each image, with and
// without TTA; probabilities sum to one over all classes.
func TestClassify(t *testing.T) {
	path := checkpoint(t)
	imgs := randomImages(70, 32, 3)
	for _, tta := range []evaluate.TTA{"", evaluate.TTAFlip} {
		want := reference(t, path, imgs, 3, tta)
		c, err := Open(path, Options{TTA: tta})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Classify(t.Context(), imgs[0], 3)
		if err != nil || !same(got, want[0]) {
			t.Fatalf("tta %q, one caller: %v, %v; want %v", tta, got, err, want[0])
		}
		all, err := c.Classify(t.Context(), imgs[1], 100)
		sum := 0.0
		for _, cl := range all {
			sum += cl.Prob
		}
		if err != nil || len(all) != 10 || math.Abs(sum-1) > 1e-6 || all[0].Prob < all[9].Prob {
			t.Errorf("top 100 of 10 classes: %v (sum %v), %v", all, sum, err)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(imgs))
		for i := range imgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := c.Classify(t.Context(), imgs[i], 3)
				if err == nil && !same(got, want[i]) {
					err = fmt.Errorf("image %d: %v, want %v", i, got, want[i])
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("tta %q, 70 callers: %v", tta, err)
		}
		batch, err := c.ClassifyBatch(t.Context(), imgs[:5], 3)
		if err != nil || len(batch) != 5 || !same(batch[4], want[4]) {
			t.Errorf("ClassifyBatch: %v, %v", batch, err)
		}
		c.Close()
	}
}

// TestClassifyErrors: bad arguments, a cancelled context, a closed
// Classifier and a missing file are errors, never a hang or a panic.
func TestClassifyErrors(t *testing.T) {
	path := checkpoint(t)
	if _, err := Open(path, Options{TTA: "ten-crop"}); err == nil {
		t.Error("TTA ten-crop: no error")
	}
	if _, err := Open(path, Options{Batch: -1}); err == nil {
		t.Error("batch -1: no error")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "absent.bin"), Options{}); err == nil {
		t.Error("absent checkpoint: no error")
	}
	c, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	img := randomImages(1, 32, 1)[0]
	if _, err := c.Classify(t.Context(), img, 0); err == nil {
		t.Error("top 0: no error")
	}
	if _, err := c.Classify(t.Context(), nil, 1); err == nil {
		t.Error("nil image: no error")
	}
	if _, err := c.ClassifyFile(t.Context(), filepath.Join(t.TempDir(), "none.jpg"), 1); err == nil {
		t.Error("missing file: no error")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Classify(ctx, img, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("a caller whose context ended: %v", err)
	}
	c.Close()
	if _, err := c.Classify(t.Context(), img, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	c.Close() // twice is fine
}

// BenchmarkCallers: images/s with 1, 8 and 64 goroutines each classifying
// one image at a time (batched inside), alpha 0.75; compare with cmd/bench's
// batched inference rate.
func BenchmarkCallers(b *testing.B) {
	path := checkpoint(b, 0.75)
	imgs := randomImages(64, 32, 9)
	for _, callers := range []int{1, 8, 64} {
		b.Run(fmt.Sprint(callers), func(b *testing.B) {
			c, err := Open(path, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			per := max(1, b.N/callers)
			b.ResetTimer()
			var wg sync.WaitGroup
			for g := 0; g < callers; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < per; i++ {
						if _, err := c.Classify(context.Background(), imgs[(g+i)%len(imgs)], 5); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(per*callers)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

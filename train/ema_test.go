package train

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
)

// TestEMAAndTTA: a run with a weight average and flip TTA resumes exactly
// (weights and average), logs both figures, and its checkpoint loads with
// the averaged weights, whose accuracy is the one the checkpoint records.
func TestEMAAndTTA(t *testing.T) {
	withAvg := func(o Options) Options {
		o.Recipe.EMA, o.Recipe.TTA = 0.9, TTAFlip
		return o
	}
	a, err := Run(context.Background(), withAvg(smallOptions(t, t.TempDir())))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	half := withAvg(smallOptions(t, dir))
	half.StopAfter = 2
	if _, err := Run(context.Background(), half); err != nil {
		t.Fatal(err)
	}
	rest := smallOptions(t, dir)
	rest.Resume = filepath.Join(dir, "last.bin")
	b, err := Run(context.Background(), rest)
	if err != nil {
		t.Fatal(err)
	}
	sameVars(t, a.Model, b.Model)
	h, ts, err := ReadCheckpoint(filepath.Join(dir, "last.bin"))
	if err != nil {
		t.Fatal(err)
	}
	avg := map[string][]float32{}
	for _, tn := range ts {
		if tn.Info.Kind == "ema" {
			avg[tn.Info.Name] = tn.Data
		}
	}
	if len(avg) == 0 || h.Recipe.EMA != 0.9 || h.Recipe.TTA != TTAFlip {
		t.Fatalf("checkpoint: %d averaged tensors, recipe %+v", len(avg), h.Recipe)
	}
	m, _, err := LoadModel(filepath.Join(dir, "last.bin"), 0)
	if err != nil {
		t.Fatal(err)
	}
	differs := false
	for name, want := range avg {
		got := m.Store.Var(name).Value.Data().([]float32)
		raw := b.Model.Store.Var(name).Value.Data().([]float32)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("LoadModel %s[%d] = %v, the average is %v", name, i, got[i], want[i])
			}
			differs = differs || raw[i] != want[i]
		}
	}
	if !differs {
		t.Error("the average equals the raw weights")
	}
	ev, err := NewEvaluator(m, 30)
	if err != nil {
		t.Fatal(err)
	}
	ev.TTA = TTAFlip
	er, err := ev.Run(context.Background(), rest.Test, nil)
	ev.Close()
	if err != nil {
		t.Fatal(err)
	}
	if er.Accuracy != h.TestAcc || er.Flip == nil {
		t.Errorf("the averaged model evaluates to %v (flip %+v); the checkpoint records %v", er.Accuracy, er.Flip, h.TestAcc)
	}
	line := lastMetrics(t, dir)
	for _, k := range []string{"test_acc_ema", "test_acc_tta_flip", "test_acc_ema_tta_flip"} {
		if _, ok := line[k]; !ok {
			t.Errorf("metrics lack %s: %v", k, line)
		}
	}
}

func lastMetrics(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := readFileT(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := splitLines(b)
	var m map[string]any
	if err := jsonUnmarshal(lines[len(lines)-1], &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFlipTTA: Mirror is its own inverse, and on mirror-symmetric images
// flip TTA gives the plain result.
func TestFlipTTA(t *testing.T) {
	x := make([]float32, 2*3*5*5)
	for i := range x {
		x[i] = float32(i)
	}
	y, z := make([]float32, len(x)), make([]float32, len(x))
	Mirror(y, x, 5)
	Mirror(z, y, 5)
	if y[0] != 4 || y[4] != 0 || z[17] != x[17] {
		t.Fatalf("Mirror: %v / %v", y[:5], z[:5])
	}
	ds := learnable(40, 9)
	for i := 0; i < ds.Len(); i++ { // make every image mirror-symmetric
		img := ds.Image(i)
		for r := 0; r < 3*32; r++ {
			row := img[r*32 : (r+1)*32]
			for j := 0; j < 16; j++ {
				row[31-j] = row[j]
			}
		}
	}
	m, err := model.New(model.CIFAR10(0.25), model.Options{Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := NewEvaluator(m, 20)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	ev.TTA = TTAFlip
	r, err := ev.Run(context.Background(), ds, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Flip == nil || r.Flip.Accuracy != r.Accuracy || math.Abs(r.Flip.Loss-r.Loss) > 1e-5 {
		t.Errorf("symmetric images: plain %v / %v, flip %+v", r.Accuracy, r.Loss, r.Flip)
	}
	if _, err := ParseTTA("crop"); err == nil {
		t.Error("ParseTTA(crop): no error")
	}
}

// TestTranslate holds Translate to its definition: content moves d pixels
// down and right, rows and columns coming in are the edge's reflection, and
// d = 0 copies.
func TestTranslate(t *testing.T) {
	const res = 4
	x := make([]float32, 2*res*res) // two planes: v = 100·plane + 10·row + column
	for p := 0; p < 2; p++ {
		for i := 0; i < res; i++ {
			for j := 0; j < res; j++ {
				x[p*res*res+i*res+j] = float32(100*p + 10*i + j)
			}
		}
	}
	reflect := func(i int) int {
		if i < 0 {
			return -i
		}
		if i >= res {
			return 2*(res-1) - i
		}
		return i
	}
	for _, d := range []int{-2, -1, 0, 1, 3} {
		got := make([]float32, len(x))
		Translate(got, x, res, d)
		for p := 0; p < 2; p++ {
			for i := 0; i < res; i++ {
				for j := 0; j < res; j++ {
					want := float32(100*p + 10*reflect(i-d) + reflect(j-d))
					if v := got[p*res*res+i*res+j]; v != want {
						t.Fatalf("d=%d plane %d (%d,%d) = %v, want %v", d, p, i, j, v, want)
					}
				}
			}
		}
	}
}

// TestFlipTranslateTTA: on images whose every channel is one colour (so
// that mirroring and translating change nothing) flip-translate TTA gives
// the plain result and reports flip beside it (TestTTAAgainstDefinition
// holds the logits to the definition).
func TestFlipTranslateTTA(t *testing.T) {
	ds := learnable(30, 5)
	for i := 0; i < ds.Len(); i++ {
		img := ds.Image(i)
		for c := 0; c < 3; c++ {
			for p := 1; p < 1024; p++ {
				img[c*1024+p] = img[c*1024]
			}
		}
	}
	m, err := model.New(model.CIFAR10(0.25), model.Options{Seed: 6})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := NewEvaluator(m, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	ev.TTA = TTAFlipTranslate
	r, err := ev.Run(context.Background(), ds, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Flip == nil || r.FlipTranslate == nil {
		t.Fatalf("flip %v, flip-translate %v: want both", r.Flip, r.FlipTranslate)
	}
	if r.FlipTranslate.Accuracy != r.Accuracy || math.Abs(r.FlipTranslate.Loss-r.Loss) > 1e-5 {
		t.Errorf("uniform images: plain %v / %v, flip-translate %v / %v", r.Accuracy, r.Loss, r.FlipTranslate.Accuracy, r.FlipTranslate.Loss)
	}
	if got, err := ParseTTA("flip-translate"); err != nil || got != TTAFlipTranslate {
		t.Errorf("ParseTTA(flip-translate) = %q, %v", got, err)
	}
}

// TestTTAAgainstDefinition holds flip and flip-translate TTA to their
// definitions, computed here from plain logits of images mirrored and
// shifted by this test's own index arithmetic: LogitsTTA's logits, and
// Run's accuracy and loss for each augmentation. The images are random (not
// symmetric), so a flip mean that returned the plain logits fails.
func TestTTAAgainstDefinition(t *testing.T) {
	const res, batch = 32, 10
	m, err := model.New(model.CIFAR10(0.25), model.Options{Seed: 8})
	if err != nil {
		t.Fatal(err)
	}
	// Images of noise on a ramp from left to right, far from their mirror
	// images; the BatchNorms' running statistics set from them (at
	// initialisation they do not match the activations, which then shrink
	// layer by layer to logits that hardly depend on the image).
	rng := rand.New(rand.NewPCG(4, 4))
	ds := learnable(30, 11)
	for i := range ds.Pixels {
		ds.Pixels[i] = byte(min(255, rng.IntN(128)+4*(i%res)))
	}
	l, err := data.NewLoader(ds, data.LoaderConfig{BatchSize: batch, Resolution: res})
	if err != nil {
		t.Fatal(err)
	}
	bn, err := newBNRecompute(m, batch)
	if err != nil {
		t.Fatal(err)
	}
	if err := bn.run(t.Context(), l, 0, 3); err != nil {
		t.Fatal(err)
	}
	bn.vm.Close()
	ev, err := NewEvaluator(m, batch)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	// at(x, c, i, j) with rows and columns reflected at the edges.
	refl := func(i int) int {
		switch {
		case i < 0:
			return -i
		case i >= res:
			return 2*(res-1) - i
		}
		return i
	}
	transform := func(x []float32, mirror bool, d int) []float32 {
		out := make([]float32, len(x))
		for p := 0; p < len(x)/(res*res); p++ { // planes: image·3 + channel
			for i := 0; i < res; i++ {
				for j := 0; j < res; j++ {
					si, sj := refl(i-d), refl(j-d) // shifted by d down and right
					if mirror {
						si, sj = refl(i-d), refl(res-1-j-d) // the mirror of the shifted image
					}
					out[(p*res+i)*res+j] = x[(p*res+si)*res+sj]
				}
			}
		}
		return out
	}
	plain := func(x []float32) []float32 {
		l, err := ev.Logits(x)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	// want returns the plain, flip and flip-translate logits of x by the
	// definitions.
	want := func(x []float32) (p, f, ft []float32) {
		p = plain(x)
		m := plain(transform(x, true, 0))
		f, ft = make([]float32, len(p)), make([]float32, len(p))
		for i := range p {
			f[i] = (p[i] + m[i]) / 2
			ft[i] = f[i] / 2
		}
		for _, d := range []int{-1, 1} {
			s, sm := plain(transform(x, false, d)), plain(transform(x, true, d))
			for i := range ft {
				ft[i] += (s[i] + sm[i]) / 8
			}
		}
		return p, f, ft
	}
	near := func(a, b float32) bool { return math.Abs(float64(a-b)) <= 1e-5*(1+math.Abs(float64(b))) }

	x := make([]float32, batch*3*res*res)
	for i := range x { // such images, normalised
		x[i] = float32(rng.NormFloat64() + 4*float64(i%res)/res - 2)
	}
	p, f, ft := want(x)
	differs := false
	for i := range p {
		differs = differs || !near(f[i], p[i])
	}
	if !differs {
		t.Fatal("the mirror images' logits equal the plain ones: the test's images cannot tell flip TTA from none")
	}
	for _, c := range []struct {
		tta  TTA
		want []float32
	}{{"", p}, {TTAFlip, f}, {TTAFlipTranslate, ft}} {
		got, err := ev.LogitsTTA(x, c.tta)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if !near(got[i], c.want[i]) {
				t.Fatalf("LogitsTTA %q: logit %d = %v, want %v by the definition", c.tta, i, got[i], c.want[i])
			}
		}
	}

	// Run: accuracy and loss of each augmentation, from the same loader's
	// batches.
	type tally struct {
		right int
		loss  float64
	}
	var tallies [3]tally
	for b := range l.Epoch(t.Context(), 0, 0) {
		p, f, ft := want(b.X)
		for k, logits := range [][]float32{p, f, ft} {
			for i := 0; i < b.N; i++ {
				row := logits[i*10 : (i+1)*10]
				best, lse := 0, 0.0
				for c := range row {
					if row[c] > row[best] {
						best = c
					}
					lse += math.Exp(float64(row[c]))
				}
				if best == b.Y[i] {
					tallies[k].right++
				}
				tallies[k].loss += math.Log(lse) - float64(row[b.Y[i]])
			}
		}
	}
	ev.TTA = TTAFlipTranslate
	r, err := ev.Run(t.Context(), ds, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Flip == nil || r.FlipTranslate == nil {
		t.Fatalf("flip %v, flip-translate %v: want both", r.Flip, r.FlipTranslate)
	}
	n := float64(ds.Len())
	for k, got := range []EvalResult{r, *r.Flip, *r.FlipTranslate} {
		wantAcc, wantLoss := float64(tallies[k].right)/n, tallies[k].loss/n
		if got.Accuracy != wantAcc || math.Abs(got.Loss-wantLoss) > 1e-4*(1+wantLoss) {
			t.Errorf("Run, augmentation %d (plain, flip, flip-translate): accuracy %v loss %v, want %v and %v by the definition", k, got.Accuracy, got.Loss, wantAcc, wantLoss)
		}
	}
	if tallies[0].loss == tallies[1].loss {
		t.Error("plain and flip losses are equal: the test cannot tell them apart")
	}
}

// TestComparePrecision: a precision against itself agrees on every image
// with no probability difference; fp32 against bf16 reports the accuracy
// Run gives in each precision, differs somewhere, and restores the
// Store's precision.
func TestComparePrecision(t *testing.T) {
	m, err := model.New(model.CIFAR10(0.25), model.Options{Seed: 8})
	if err != nil {
		t.Fatal(err)
	}
	ds := learnable(40, 12)
	l, err := data.NewLoader(ds, data.LoaderConfig{BatchSize: 20, Resolution: 32})
	if err != nil {
		t.Fatal(err)
	}
	bn, err := newBNRecompute(m, 20)
	if err != nil {
		t.Fatal(err)
	}
	if err := bn.run(t.Context(), l, 0, 2); err != nil {
		t.Fatal(err)
	}
	bn.vm.Close()
	ev, err := NewEvaluator(m, 20)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	same, err := ev.ComparePrecision(t.Context(), ds, layers.FP32, layers.FP32)
	if err != nil {
		t.Fatal(err)
	}
	if same.Images != 40 || same.Top1Agree != 40 || same.MaxProbDiff != 0 || same.AccuracyA != same.AccuracyB {
		t.Errorf("fp32 against itself: %+v", same)
	}
	m.Store.SetPrecision(layers.FP32)
	g, err := ev.ComparePrecision(t.Context(), ds, layers.FP32, layers.BF16)
	if err != nil {
		t.Fatal(err)
	}
	if m.Store.Precision() != layers.FP32 {
		t.Error("the Store's precision was not restored")
	}
	for _, c := range []struct {
		p   layers.Precision
		acc float64
	}{{layers.FP32, g.AccuracyA}, {layers.BF16, g.AccuracyB}} {
		m.Store.SetPrecision(c.p)
		r, err := ev.Run(t.Context(), ds, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Accuracy != c.acc {
			t.Errorf("%v: ComparePrecision's accuracy %v, Run's %v", c.p, c.acc, r.Accuracy)
		}
	}
	// The agreement by its definition, from each precision's logits.
	agree, maxDiff := 0, 0.0
	for bt := range l.Epoch(t.Context(), 0, 0) {
		m.Store.SetPrecision(layers.FP32)
		la, _ := ev.Logits(bt.X)
		m.Store.SetPrecision(layers.BF16)
		lb, _ := ev.Logits(bt.X)
		for i := 0; i < bt.N; i++ {
			ra, rb := la[i*10:(i+1)*10], lb[i*10:(i+1)*10]
			if slices.Index(ra, slices.Max(ra)) == slices.Index(rb, slices.Max(rb)) {
				agree++
			}
			var za, zb float64
			for c := range ra {
				za += math.Exp(float64(ra[c]))
				zb += math.Exp(float64(rb[c]))
			}
			for c := range ra {
				maxDiff = math.Max(maxDiff, math.Abs(math.Exp(float64(ra[c]))/za-math.Exp(float64(rb[c]))/zb))
			}
		}
	}
	m.Store.SetPrecision(layers.FP32)
	if g.Images != 40 || g.Top1Agree != agree || math.Abs(g.MaxProbDiff-maxDiff) > 1e-6 || g.MaxProbDiff == 0 {
		t.Errorf("fp32 against bf16: %v; by the definition %d agree, largest difference %.3g", g, agree, maxDiff)
	}
}

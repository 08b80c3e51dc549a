package train

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
)

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

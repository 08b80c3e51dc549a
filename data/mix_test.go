package data

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSampleBeta: Beta(α, α) draws lie in [0, 1] with mean ½ and variance
// 1/(4(2α+1)), for α below, at and above 1 (the two Gamma branches).
func TestSampleBeta(t *testing.T) {
	for _, a := range []float64{0.2, 1, 2.5} {
		r := rand.New(rand.NewPCG(1, uint64(a*10)))
		const n = 40000
		var s, ss float64
		for range n {
			v := sampleBeta(r, a)
			if !(v >= 0 && v <= 1) {
				t.Fatalf("α %g: draw %v outside [0, 1]", a, v)
			}
			s += v
			ss += v * v
		}
		mean := s / n
		variance := ss/n - mean*mean
		want := 1 / (4 * (2*a + 1))
		if math.Abs(mean-0.5) > 0.01 || math.Abs(variance-want) > 0.05*want {
			t.Errorf("α %g: mean %.4f, variance %.4f; want 0.5 and %.4f", a, mean, variance, want)
		}
	}
}

// mixedBatches returns batch 1 of epoch 2 with and without mix, the same
// seed otherwise (mixing draws from its own stream, so the images before
// mixing are the same).
func mixedBatches(t *testing.T, ds *Dataset, cfg LoaderConfig, m Mix) (plain, mixed Batch) {
	t.Helper()
	pl, err := NewLoader(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Mix = m
	mx, err := NewLoader(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return <-pl.Epoch(t.Context(), 2, 1), <-mx.Epoch(t.Context(), 2, 1)
}

func TestMixUp(t *testing.T) {
	ds := learnableDataset(40)
	cfg := LoaderConfig{BatchSize: 16, Shuffle: true, Augment: true, Seed: 3, DropLast: true}
	plain, mixed := mixedBatches(t, ds, cfg, Mix{MixUp: 1})
	if plain.Y2 != nil || plain.Lam != 1 {
		t.Fatalf("unmixed batch: Y2 %v, Lam %v; want nil and 1", plain.Y2, plain.Lam)
	}
	if !(mixed.Lam > 0 && mixed.Lam < 1) {
		t.Fatalf("λ %v", mixed.Lam)
	}
	if !slices.Equal(plain.Y, mixed.Y) {
		t.Fatal("mixing changed the labels")
	}
	n, size := mixed.N, 3*ImageSize*ImageSize
	a, b := float32(mixed.Lam), float32(1-mixed.Lam)
	for i := 0; i < n; i++ {
		p := (i + n - 1) % n
		if mixed.Y2[i] != plain.Y[p] {
			t.Fatalf("Y2[%d] = %d, want image %d's label %d", i, mixed.Y2[i], p, plain.Y[p])
		}
		for j := 0; j < size; j++ {
			want := a*plain.X[i*size+j] + b*plain.X[p*size+j]
			if got := mixed.X[i*size+j]; math.Abs(float64(got-want)) > 1e-6 {
				t.Fatalf("image %d, value %d: %v, want λ·own + (1−λ)·partner = %v", i, j, got, want)
			}
		}
	}
}

func TestCutMix(t *testing.T) {
	ds := learnableDataset(40)
	cfg := LoaderConfig{BatchSize: 16, Shuffle: true, Seed: 4, DropLast: true}
	for _, m := range []Mix{{CutMix: 1}, {CutMix: 0.3}} {
		plain, mixed := mixedBatches(t, ds, cfg, m)
		n, s := mixed.N, ImageSize
		size := 3 * s * s
		for i := 0; i < n; i++ {
			own, partner := plain.X[i*size:(i+1)*size], plain.X[(i+n-1)%n*size:((i+n-1)%n+1)*size]
			got := mixed.X[i*size : (i+1)*size]
			pasted := 0
			x0, x1, y0, y1 := s, -1, s, -1
			for j := range got {
				switch {
				case got[j] == own[j] && got[j] != partner[j]:
				case got[j] == partner[j] && got[j] != own[j]:
					pasted++
					row, col := j%(s*s)/s, j%s
					x0, x1, y0, y1 = min(x0, col), max(x1, col), min(y0, row), max(y1, row)
				case got[j] == own[j]: // the two images agree here
				default:
					t.Fatalf("%+v, image %d, value %d: %v is neither its own %v nor its partner's %v", m, i, j, got[j], own[j], partner[j])
				}
			}
			if want := (1 - mixed.Lam) * float64(size); math.Abs(float64(pasted)-want) > 0.02*float64(size) {
				t.Errorf("%+v, image %d: %d values pasted, λ %.3f says %.0f", m, i, pasted, mixed.Lam, want)
			}
			if pasted > 0 && (x1-x0+1)*(y1-y0+1)*3 < pasted {
				t.Errorf("%+v, image %d: the pasted values are not one box", m, i)
			}
		}
	}
}

// TestMixPaddedBatch: a padded last batch mixes its real images among
// themselves and leaves the padding zero.
func TestMixPaddedBatch(t *testing.T) {
	ds := learnableDataset(21)
	l, err := NewLoader(ds, LoaderConfig{BatchSize: 8, Seed: 1, Mix: Mix{MixUp: 1, CutMix: 1}})
	if err != nil {
		t.Fatal(err)
	}
	var last Batch
	for b := range l.Epoch(context.Background(), 0, 0) {
		last = b
	}
	if last.N != 5 {
		t.Fatalf("last batch has %d images, want 5", last.N)
	}
	size := 3 * ImageSize * ImageSize
	for _, v := range last.X[last.N*size:] {
		if v != 0 {
			t.Fatal("mixing wrote into the padding")
		}
	}
	if last.Y2[0] != last.Y[4] {
		t.Errorf("the first image's partner is label %d, want the last real image's %d", last.Y2[0], last.Y[4])
	}
}

// TestMixBoth: with MixUp and CutMix both on, batches take either.
func TestMixBoth(t *testing.T) {
	ds := learnableDataset(64)
	cfg := LoaderConfig{BatchSize: 8, Seed: 9, DropLast: true}
	pl, _ := NewLoader(ds, cfg)
	cfg.Mix = Mix{MixUp: 1, CutMix: 1}
	mx, err := NewLoader(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pb, mb := pl.Epoch(context.Background(), 0, 0), mx.Epoch(context.Background(), 0, 0)
	cuts, blends := 0, 0
	for m := range mb {
		p := <-pb
		if m.Lam == 1 {
			continue
		}
		if m.X[0] == p.X[0] || m.X[0] == p.X[(m.N-1)*3*ImageSize*ImageSize] {
			cuts++ // the first value of image 0 is one image's or the other's
		} else {
			blends++
		}
	}
	if cuts == 0 || blends == 0 {
		t.Errorf("%d CutMix and %d MixUp batches of 8; want both", cuts, blends)
	}
}

func TestMixRefused(t *testing.T) {
	ds := learnableDataset(8)
	for _, m := range []Mix{{MixUp: -1}, {CutMix: math.NaN()}, {MixUp: math.Inf(1)}} {
		if _, err := NewLoader(ds, LoaderConfig{BatchSize: 4, Mix: m}); err == nil {
			t.Errorf("%+v: no error", m)
		}
	}
}

package data

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

func randomImage(r *rand.Rand, s int) []byte {
	img := make([]byte, 3*s*s)
	for i := range img {
		img[i] = byte(1 + r.IntN(250)) // no 0 or 255: solarize at 255 changes nothing
	}
	return img
}

// TestTrivialAugmentOps: at magnitude 0 every operation with a magnitude
// is the identity; the others do what they say.
func TestTrivialAugmentOps(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	const s = 8
	fill := [3]byte{1, 2, 3}
	for op := 0; op < taOps; op++ {
		if op == 12 || op == 13 { // autocontrast, equalize: no magnitude
			continue
		}
		for _, sign := range []float64{1, -1} {
			img := randomImage(r, s)
			got := slices.Clone(img)
			applyOp(got, s, fill, op, 0, sign)
			if !slices.Equal(got, img) {
				t.Errorf("op %d at magnitude 0 changed the image", op)
			}
		}
	}
	img := randomImage(r, s)
	shifted := slices.Clone(img)
	applyOp(shifted, s, fill, 3, 2.0/32, 1) // translate x by +2 pixels
	for y := 0; y < s; y++ {
		if shifted[y*s] != fill[0] || shifted[y*s+1] != fill[0] || shifted[y*s+5] != img[y*s+3] {
			t.Fatalf("translate x: row %d = %v, source %v", y, shifted[y*s:y*s+s], img[y*s:y*s+s])
		}
	}
	post := slices.Clone(img)
	applyOp(post, s, fill, 10, 1, 1) // 2 bits
	for i, v := range post {
		if v != img[i]&0xc0 {
			t.Fatalf("posterize: %d → %d", img[i], v)
		}
	}
	sol := slices.Clone(img)
	applyOp(sol, s, fill, 11, 1, 1) // threshold 0: everything inverted
	for i, v := range sol {
		if v != 255-img[i] {
			t.Fatalf("solarize: %d → %d", img[i], v)
		}
	}
	narrow := make([]byte, 3*s*s)
	for i := range narrow {
		narrow[i] = byte(50 + i%51)
	}
	applyOp(narrow, s, fill, 12, 0, 1)
	if lo, hi := slices.Min(narrow[:s*s]), slices.Max(narrow[:s*s]); lo != 0 || hi != 255 {
		t.Errorf("autocontrast: range %d–%d", lo, hi)
	}
	eq := randomImage(r, s)
	applyOp(eq, s, fill, 13, 0, 1)
	if slices.Equal(eq, img) {
		t.Error("equalize left a random image unchanged")
	}
	dark := slices.Clone(img)
	applyOp(dark, s, fill, 6, 1, -1) // brightness ×0.01
	for i, v := range dark {
		if v > img[i]/50+1 {
			t.Fatalf("brightness down: %d → %d", img[i], v)
		}
	}
}

func TestRandomErase(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 9))
	const s = 32
	for range 100 {
		img := make([]float32, 3*s*s)
		for i := range img {
			img[i] = 1
		}
		randomErase(img, s, 1, r)
		zeros := 0
		for _, v := range img[:s*s] {
			if v == 0 {
				zeros++
			}
		}
		if frac := float64(zeros) / (s * s); frac < 0.015 || frac > 0.34 {
			t.Fatalf("erased %.3f of the image", frac)
		}
		if !slices.Equal(img[:s*s], img[s*s:2*s*s]) {
			t.Fatal("channels erased differently")
		}
	}
}

// TestAugmentStreams: TrivialAugment and random erasing are deterministic
// for a seed, and each has its own stream: turning random erasing on
// changes only the erased pixels.
func TestAugmentStreams(t *testing.T) {
	ds := learnableDataset(64)
	base := LoaderConfig{BatchSize: 16, Shuffle: true, Augment: true, TrivialAugment: true, Seed: 5}
	a, err := NewLoader(ds, base)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewLoader(ds, base)
	ba, bb := <-a.Epoch(t.Context(), 3, 2), <-b.Epoch(t.Context(), 3, 2)
	if !slices.Equal(ba.X, bb.X) {
		t.Fatal("the same seed gives other trivially augmented batches")
	}
	plain := base
	plain.TrivialAugment = false
	pl, _ := NewLoader(ds, plain)
	if bp := <-pl.Epoch(t.Context(), 3, 2); slices.Equal(bp.X, ba.X) || !slices.Equal(bp.Y, ba.Y) {
		t.Error("trivial augment changed no image, or changed the labels")
	}
	erased := base
	erased.RandomErasing = 1
	er, _ := NewLoader(ds, erased)
	be := <-er.Epoch(t.Context(), 3, 2)
	changed := 0
	for i, v := range be.X {
		if v != ba.X[i] {
			changed++
			if v != 0 {
				t.Fatalf("random erasing changed pixel %d to %v, not to the mean", i, v)
			}
		}
	}
	if changed == 0 {
		t.Error("random erasing with probability 1 erased nothing")
	}
	if _, err := NewLoader(syntheticDataset(4, 128), LoaderConfig{BatchSize: 4, Resolution: 128, TrivialAugment: true}); err == nil {
		t.Error("trivial augment on images of other sizes: no error")
	}
	if _, err := NewLoader(ds, LoaderConfig{BatchSize: 4, RandomErasing: 2}); err == nil {
		t.Error("erasing probability 2: no error")
	}
}

// learnableDataset makes n random 32×32 images of two classes.
func learnableDataset(n int) *Dataset {
	r := rand.New(rand.NewPCG(2, 3))
	d := &Dataset{Pixels: make([]byte, n*ImageBytes), Labels: make([]int32, n), Classes: []string{"a", "b"}}
	for i := range d.Pixels {
		d.Pixels[i] = byte(r.IntN(256))
	}
	for i := range d.Labels {
		d.Labels[i] = int32(i % 2)
	}
	return d
}

// TestAlternateFlips: with AlternateFlips each image's flip inverts from
// one epoch to the next and repeats every other epoch, half the images
// start flipped, and the crops are the random-flip loader's: every image is
// that loader's image or its mirror.
func TestAlternateFlips(t *testing.T) {
	ds := learnableDataset(300)
	l, err := NewLoader(ds, LoaderConfig{BatchSize: 300, Augment: true, AlternateFlips: true, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewLoader(ds, LoaderConfig{BatchSize: 300, AlternateFlips: true}); !errors.Is(err, ErrNoFlipsToAlternate) {
		t.Errorf("alternating flips without augmentation: error %v", err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	flipped := 0
	for idx := range 300 {
		f0, f1, f2 := l.flip(rng, idx, 0), l.flip(rng, idx, 1), l.flip(rng, idx, 2)
		if f0 == f1 || f0 != f2 {
			t.Fatalf("image %d: flips %v, %v, %v in epochs 0–2: want alternating", idx, f0, f1, f2)
		}
		if f0 {
			flipped++
		}
	}
	if flipped < 110 || flipped > 190 {
		t.Errorf("%d of 300 images flipped in epoch 0: want about half", flipped)
	}

	random, err := NewLoader(ds, LoaderConfig{BatchSize: 50, Shuffle: true, Augment: true, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	alt, err := NewLoader(ds, LoaderConfig{BatchSize: 50, Shuffle: true, Augment: true, AlternateFlips: true, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	const side, plane = ImageSize, ImageSize * ImageSize
	mirror := func(img []float32) []float32 {
		m := make([]float32, len(img))
		for c := 0; c < 3; c++ {
			for y := 0; y < side; y++ {
				for x := 0; x < side; x++ {
					m[c*plane+y*side+x] = img[c*plane+y*side+side-1-x]
				}
			}
		}
		return m
	}
	for epoch := range 2 {
		same, mirrored := 0, 0
		for i := 0; i < 2; i++ {
			a, b := <-random.Epoch(t.Context(), epoch, i), <-alt.Epoch(t.Context(), epoch, i)
			for k := 0; k < a.N; k++ {
				ra, rb := a.X[k*3*plane:(k+1)*3*plane], b.X[k*3*plane:(k+1)*3*plane]
				switch {
				case slices.Equal(ra, rb):
					same++
				case slices.Equal(mirror(ra), rb):
					mirrored++
				default:
					t.Fatalf("epoch %d, batch %d, image %d: neither the random-flip loader's image nor its mirror", epoch, i, k)
				}
			}
		}
		if same == 0 || mirrored == 0 {
			t.Errorf("epoch %d: %d images as the random-flip loader's, %d mirrored: want both kinds", epoch, same, mirrored)
		}
	}
}

package data

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// variableDataset is n random images of random sizes (between 20 and 60
// pixels a side) in two classes.
func variableDataset(n int) *Dataset {
	r := rand.New(rand.NewPCG(5, 6))
	d := &Dataset{Labels: make([]int32, n), Classes: []string{"a", "b"}, Sizes: make([]Size, n), Offsets: make([]int, n+1)}
	for i := range n {
		w, h := 20+r.IntN(41), 20+r.IntN(41)
		d.Sizes[i] = Size{w, h}
		d.Offsets[i+1] = d.Offsets[i] + 3*w*h
		d.Labels[i] = int32(r.IntN(2))
	}
	d.Pixels = make([]byte, d.Offsets[n])
	for i := range d.Pixels {
		d.Pixels[i] = byte(r.IntN(256))
	}
	return d
}

// collectEpoch returns every batch of an epoch.
func collectEpoch(t *testing.T, ds *Dataset, cfg LoaderConfig, epoch int) []Batch {
	t.Helper()
	l, err := NewLoader(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var bs []Batch
	for b := range l.Epoch(t.Context(), epoch, 0) {
		bs = append(bs, b)
	}
	return bs
}

// TestShardSplitsBatches: the parts of ranks 0…N−1 of every batch, put
// side by side, are the one-process batch bit for bit (images, labels,
// mixed labels and weight, real-image counts), under every augmentation
// that draws random numbers, on CIFAR-size and variable-size images, with
// and without a padded last batch; and WholeBatches deals whole batches
// round-robin.
func TestShardSplitsBatches(t *testing.T) {
	fixed, variable := learnableDataset(70), variableDataset(45)
	cases := []struct {
		name string
		ds   *Dataset
		cfg  LoaderConfig
	}{
		{"plain", fixed, LoaderConfig{BatchSize: 12}},
		{"augment", fixed, LoaderConfig{BatchSize: 12, Shuffle: true, Augment: true, DropLast: true}},
		{"everything", fixed, LoaderConfig{BatchSize: 12, Shuffle: true, Augment: true, AlternateFlips: true, Cutout: 8, TrivialAugment: true, RandomErasing: 0.5}},
		{"resized", fixed, LoaderConfig{BatchSize: 12, Resolution: 20, Shuffle: true, Augment: true, Cutout: 6, RandomErasing: 0.7, DropLast: true}},
		{"window", fixed, LoaderConfig{BatchSize: 12, Resolution: 24, Window: true, Shuffle: true, Augment: true, Cutout: 6, RandomErasing: 0.7, DropLast: true}},
		{"mixup", fixed, LoaderConfig{BatchSize: 12, Shuffle: true, Augment: true, Mix: Mix{MixUp: 0.4}}},
		{"cutmix", fixed, LoaderConfig{BatchSize: 12, Shuffle: true, Augment: true, Mix: Mix{CutMix: 1}, DropLast: true}},
		{"folder rrc", variable, LoaderConfig{BatchSize: 12, Resolution: 16, Shuffle: true, RandomResizedCrop: true, AlternateFlips: true, Cutout: 5, RandomErasing: 0.5, Input: &Preprocess{Mean: [3]float32{.5, .5, .5}, Std: [3]float32{.2, .2, .2}, Resize: ResizeCenterCrop}}},
		{"folder eval", variable, LoaderConfig{BatchSize: 12, Resolution: 16, Input: &Preprocess{Mean: [3]float32{.5, .5, .5}, Std: [3]float32{.2, .2, .2}, Resize: ResizeExact}}},
	}
	for _, tc := range cases {
		for _, n := range []int{2, 3, 4} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, n), func(t *testing.T) {
				tc.cfg.Seed = 9
				whole := collectEpoch(t, tc.ds, tc.cfg, 3)
				parts := make([][]Batch, n)
				for r := range n {
					cfg := tc.cfg
					cfg.Shard = Shard{Rank: r, Size: n}
					parts[r] = collectEpoch(t, tc.ds, cfg, 3)
					if len(parts[r]) != len(whole) {
						t.Fatalf("rank %d: %d batches, want %d", r, len(parts[r]), len(whole))
					}
				}
				for i, w := range whole {
					var x []float32
					var y, y2 []int
					realN := 0
					for r := range n {
						p := parts[r][i]
						if p.Index != w.Index || p.Lam != w.Lam || len(p.Y) != len(w.Y)/n {
							t.Fatalf("batch %d rank %d: index %d lam %v %d labels, want %d, %v, %d", i, r, p.Index, p.Lam, len(p.Y), w.Index, w.Lam, len(w.Y)/n)
						}
						x, y, y2 = append(x, p.X...), append(y, p.Y...), append(y2, p.Y2...)
						realN += p.N
					}
					if !slices.Equal(x, w.X) || !slices.Equal(y, w.Y) || !slices.Equal(y2, w.Y2) || realN != w.N {
						t.Fatalf("batch %d: the ranks' parts are not the batch (real images %d, want %d)", i, realN, w.N)
					}
				}
				// Whole batches, dealt round-robin.
				for r := range n {
					cfg := tc.cfg
					cfg.Shard = Shard{Rank: r, Size: n, WholeBatches: true}
					got := collectEpoch(t, tc.ds, cfg, 3)
					k := 0
					for i := r; i < len(whole); i += n {
						if k >= len(got) || got[k].Index != i || !slices.Equal(got[k].X, whole[i].X) || got[k].N != whole[i].N {
							t.Fatalf("whole batches, rank %d: batch %d is not the one-process batch", r, i)
						}
						k++
					}
					if k != len(got) {
						t.Fatalf("whole batches, rank %d: %d batches, want %d", r, len(got), k)
					}
				}
			})
		}
	}
}

// TestShardRefused: a batch the ranks do not divide, and ranks outside the
// job, are errors.
func TestShardRefused(t *testing.T) {
	ds := learnableDataset(20)
	for _, sh := range []Shard{{Rank: 0, Size: 3}, {Rank: 2, Size: 2}, {Rank: -1, Size: 2}, {Size: -1}} {
		if _, err := NewLoader(ds, LoaderConfig{BatchSize: 8, Shard: sh}); err == nil {
			t.Errorf("shard %+v of batches of 8: no error", sh)
		}
	}
	if _, err := NewLoader(ds, LoaderConfig{BatchSize: 8, Shard: Shard{Rank: 2, Size: 3, WholeBatches: true}}); err != nil {
		t.Errorf("whole batches need no division: %v", err)
	}
}

package data

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// labelled is a fixed-size dataset whose image i is filled with byte i and
// labelled labels[i].
func labelled(labels []int32, classes int) *Dataset {
	d := &Dataset{Labels: labels, Classes: make([]string, classes), Pixels: make([]byte, len(labels)*ImageBytes)}
	for i := range labels {
		for j := range ImageBytes {
			d.Pixels[i*ImageBytes+j] = byte(i)
		}
	}
	return d
}

func TestSplit(t *testing.T) {
	var labels []int32
	for k, n := range []int{10, 5, 1, 0, 7} { // class 3 has no images
		for range n {
			labels = append(labels, int32(k))
		}
	}
	// Interleave the classes: image i takes the label at 7·i mod 23 (7 and
	// the 23 images are coprime, so this is a permutation).
	mixed := make([]int32, len(labels))
	for i := range mixed {
		mixed[i] = labels[7*i%len(labels)]
	}
	d := labelled(mixed, 5)
	for _, c := range []struct {
		frac     float64
		wantHeld []int // per class
	}{
		{0.2, []int{2, 1, 0, 0, 1}},  // round(1.4) = 1; a lone image stays for training
		{0.5, []int{5, 3, 0, 0, 4}},  // round half away from zero: 2.5 → 3, 3.5 → 4
		{0.95, []int{9, 4, 0, 0, 6}}, // every class keeps one training image
	} {
		rest, held, err := d.Split(c.frac, 7)
		if err != nil {
			t.Fatalf("Split(%g): %v", c.frac, err)
		}
		if err := rest.Check(); err != nil {
			t.Fatal(err)
		}
		if err := held.Check(); err != nil {
			t.Fatal(err)
		}
		perClass := make([]int, 5)
		for _, l := range held.Labels {
			perClass[l]++
		}
		if !slices.Equal(perClass, c.wantHeld) {
			t.Errorf("Split(%g) holds out %v per class, want %v", c.frac, perClass, c.wantHeld)
		}
		// The parts are disjoint, cover d, keep its order, and carry each
		// image's pixels with its label.
		var seen []int
		for _, part := range []*Dataset{rest, held} {
			prev := -1
			for i := range part.Len() {
				orig := int(part.Image(i)[0])
				if orig <= prev {
					t.Errorf("Split(%g): order not kept (%d after %d)", c.frac, orig, prev)
				}
				prev = orig
				if part.Labels[i] != d.Labels[orig] || !bytes.Equal(part.Image(i), d.Image(orig)) {
					t.Errorf("Split(%g): image %d does not match its original %d", c.frac, i, orig)
				}
				seen = append(seen, orig)
			}
		}
		slices.Sort(seen)
		want := make([]int, d.Len())
		for i := range want {
			want[i] = i
		}
		if !slices.Equal(seen, want) {
			t.Errorf("Split(%g): the parts do not cover the %d images exactly once", c.frac, d.Len())
		}
		// Deterministic for a seed.
		_, again, _ := d.Split(c.frac, 7)
		if !bytes.Equal(again.Pixels, held.Pixels) {
			t.Errorf("Split(%g) is not deterministic", c.frac)
		}
	}
	for _, frac := range []float64{0, 1, -0.1, 1.5} {
		if _, _, err := d.Split(frac, 1); err == nil || !strings.Contains(err.Error(), "validation fraction") {
			t.Errorf("Split(%g): %v", frac, err)
		}
	}
	if _, _, err := labelled([]int32{0, 1}, 2).Split(0.3, 1); err == nil || !strings.Contains(err.Error(), "holds out none") {
		t.Errorf("a split that holds out nothing: %v", err)
	}
}

func TestSubsetOfVariableSizes(t *testing.T) {
	d := &Dataset{Classes: []string{"a", "b"}, Labels: []int32{0, 1, 0},
		Sizes:   []Size{{1, 1}, {2, 1}, {1, 2}},
		Offsets: []int{0, 3, 9, 15},
		Pixels:  []byte{1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3}}
	s, err := d.Subset([]int{2, 0, 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Labels, []int32{0, 0, 0}) || !slices.Equal(s.Sizes, []Size{{1, 2}, {1, 1}, {1, 2}}) || s.Pixels[6] != 1 || s.Pixels[9] != 3 {
		t.Errorf("subset: %+v", s)
	}
	if _, err := d.Subset([]int{3}); err == nil || !strings.Contains(err.Error(), "outside the 3 images") {
		t.Errorf("an index past the end: %v", err)
	}
}

package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Batch-level augmentations that mix pairs of images: MixUp (Zhang et al.,
// 2018) and CutMix (Yun et al., 2019), as torchvision's transforms.v2.MixUp
// and CutMix do them. Each image i of a batch is mixed with image i−1 (the
// batch rolled by one; the first with the last real image), with one weight
// λ drawn per batch from Beta(α, α); the labels become λ·Y + (1−λ)·Y2 (a
// trainer builds its soft targets from Batch.Y, Batch.Y2 and Batch.Lam).

// Mix chooses the batch-mixing augmentations; the zero value is off.
type Mix struct {
	// MixUp > 0 is the α of MixUp's Beta(α, α): each image becomes
	// λ·image + (1−λ)·partner (torchvision's default α is 1; 0.2 is usual
	// on ImageNet).
	MixUp float64
	// CutMix > 0 is the α of CutMix's Beta(α, α): a box of (1−λ) of the
	// image's area, centred uniformly and clipped at the borders, is
	// pasted from the partner, and λ becomes the share of the image left
	// as it was. With both on, each batch takes one of the two, evenly.
	CutMix float64
}

// On reports whether any mixing is on.
func (m Mix) On() bool { return m.MixUp > 0 || m.CutMix > 0 }

// Validate reports an α that is negative or not finite.
func (m Mix) Validate() error {
	for _, a := range []struct {
		name string
		v    float64
	}{{"mixup", m.MixUp}, {"cutmix", m.CutMix}} {
		if !(a.v >= 0 && a.v <= 1e6) {
			return fmt.Errorf("%s α %g: must be 0 (off) or a positive number", a.name, a.v)
		}
	}
	return nil
}

// apply mixes the first n images of x (each c×s×s floats) with their
// partners, sets y2 to the partners' labels and returns λ, the weight of
// each image's own label.
func (m Mix) apply(x []float32, y, y2 []int, n, c, s int, r *rand.Rand) float64 {
	useCut := m.CutMix > 0 && (m.MixUp <= 0 || r.IntN(2) == 1)
	alpha := m.MixUp
	if useCut {
		alpha = m.CutMix
	}
	lam := sampleBeta(r, alpha)
	size := c * s * s
	for i := 0; i < n; i++ {
		y2[i] = y[(i+n-1)%n]
	}
	if n < 2 {
		return 1 // an image mixed with itself is itself
	}
	// Image i takes from image i−1 before i−1 changes: from the last down,
	// with the last image's original kept for the first.
	last := make([]float32, size)
	copy(last, x[(n-1)*size:n*size])
	partner := func(i int) []float32 {
		if i == 0 {
			return last
		}
		return x[(i-1)*size : i*size]
	}
	if !useCut {
		a, b := float32(lam), float32(1-lam)
		for i := n - 1; i >= 0; i-- {
			img, p := x[i*size:(i+1)*size], partner(i)
			for j := range img {
				img[j] = a*img[j] + b*p[j]
			}
		}
		return lam
	}
	// CutMix's box, as torchvision draws it: half-sides ⌊s·√(1−λ)/2⌋
	// around a uniform centre, clipped at the borders.
	half := int(0.5 * math.Sqrt(1-lam) * float64(s))
	cx, cy := r.IntN(s), r.IntN(s)
	x0, x1 := max(cx-half, 0), min(cx+half, s)
	y0, y1 := max(cy-half, 0), min(cy+half, s)
	for i := n - 1; i >= 0; i-- {
		img, p := x[i*size:(i+1)*size], partner(i)
		for ch := 0; ch < c; ch++ {
			for row := y0; row < y1; row++ {
				o := ch*s*s + row*s
				copy(img[o+x0:o+x1], p[o+x0:o+x1])
			}
		}
	}
	return 1 - float64((x1-x0)*(y1-y0))/float64(s*s)
}

// sampleBeta draws from Beta(a, a) as G1/(G1+G2) with G1, G2 ~ Gamma(a).
func sampleBeta(r *rand.Rand, a float64) float64 {
	g1, g2 := sampleGamma(r, a), sampleGamma(r, a)
	if g1+g2 == 0 { // both underflowed (tiny a): either end, evenly
		return float64(r.IntN(2))
	}
	return g1 / (g1 + g2)
}

// sampleGamma draws from Gamma(a, 1) by Marsaglia and Tsang's method (2000);
// for a < 1, Gamma(a+1)·U^(1/a).
func sampleGamma(r *rand.Rand, a float64) float64 {
	if a < 1 {
		return sampleGamma(r, a+1) * math.Pow(1-r.Float64(), 1/a)
	}
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		z := r.NormFloat64()
		v := 1 + c*z
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := 1 - r.Float64() // (0, 1]
		if math.Log(u) < 0.5*z*z+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
}

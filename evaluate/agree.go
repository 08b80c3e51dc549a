package evaluate

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/layers"
)

// Agreement compares the predictions of one model in two precisions on
// the same images: whether a bf16 deployment changes what an fp32-trained
// model says.
type Agreement struct {
	A, B        layers.Precision
	Images      int
	Top1Agree   int     // images given the same top-1 class
	MaxProbDiff float64 // largest difference of one class's softmax probability
	AccuracyA   float64 // top-1 accuracy in precision A
	AccuracyB   float64
}

// String is a one-line report.
func (g Agreement) String() string {
	return fmt.Sprintf("%s against %s: top-1 agrees on %d of %d images (%.2f%%), largest probability difference %.3g; accuracy %.2f%% and %.2f%%",
		g.B, g.A, g.Top1Agree, g.Images, 100*float64(g.Top1Agree)/float64(max(g.Images, 1)), g.MaxProbDiff, 100*g.AccuracyA, 100*g.AccuracyB)
}

// ComparePrecision evaluates ds in precision a and in b, batch by batch
// (without test-time augmentation), and compares the two. The Store's
// precision is restored afterwards.
func (e *Evaluator) ComparePrecision(ctx context.Context, ds *data.Dataset, a, b layers.Precision) (Agreement, error) {
	if ds == nil || ds.Len() == 0 {
		return Agreement{}, errors.New("compare precisions: no images")
	}
	s := e.store
	defer s.SetPrecision(s.Precision())
	l, err := data.NewLoader(ds, data.LoaderConfig{BatchSize: e.batch, Resolution: e.res, Input: e.Input})
	if err != nil {
		return Agreement{}, err
	}
	k := e.n.Classes()
	g := Agreement{A: a, B: b}
	rightA, rightB := 0, 0
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for bt := range l.Epoch(ctx, 0, 0) {
		if bt.Err != nil {
			return g, bt.Err
		}
		s.SetPrecision(a)
		la, err := e.Logits(bt.X)
		if err != nil {
			return g, err
		}
		s.SetPrecision(b)
		lb, err := e.Logits(bt.X)
		if err != nil {
			return g, err
		}
		for i := 0; i < bt.N; i++ {
			ra, rb := la[i*k:(i+1)*k], lb[i*k:(i+1)*k]
			pa, _ := Top1(ra)
			pb, _ := Top1(rb)
			if pa == pb {
				g.Top1Agree++
			}
			if pa == bt.Y[i] {
				rightA++
			}
			if pb == bt.Y[i] {
				rightB++
			}
			sa, sb := softmax(ra), softmax(rb)
			for c := range sa {
				g.MaxProbDiff = math.Max(g.MaxProbDiff, math.Abs(sa[c]-sb[c]))
			}
			g.Images++
		}
	}
	if err := ctx.Err(); err != nil {
		return g, err
	}
	g.AccuracyA, g.AccuracyB = float64(rightA)/float64(g.Images), float64(rightB)/float64(g.Images)
	return g, nil
}

// softmax is the probabilities of a row of logits.
func softmax(row []float32) []float64 {
	_, lse := Top1(row)
	p := make([]float64, len(row))
	for i, v := range row {
		p[i] = math.Exp(float64(v) - lse)
	}
	return p
}

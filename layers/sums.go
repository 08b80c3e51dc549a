package layers

import (
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"

	G "gorgonia.org/gorgonia"
)

// A BatchNorm in training needs each channel's mean and variance over the
// batch before it can normalise: a pass over its input of its own. When
// that input is a convolution's output, the convolution measures the sums
// instead, plane by plane while each is still in cache (kernels.Epilogue
// with Stats), and the BatchNorm takes them. A sumsLink joins the two ops:
// the convolution registers one for its output node, the BatchNorm that
// reads that node sets want; at run time the convolution fills the sums
// when want reports training, and the BatchNorm takes them once.

// sumsLink is one convolution output's sums, for the BatchNorm that reads it.
type sumsLink struct {
	want  func() bool // set by the consumer: it normalises with batch statistics now
	ready bool        // the sums describe the producer's latest output
	st    kernels.PlaneStats
}

// link registers l as the sums of node y.
func (r *registry) link(y *G.Node, l *sumsLink) {
	if r.sums == nil {
		r.sums = map[*G.Node]*sumsLink{}
	}
	r.sums[y] = l
}

// sumsFor returns a function giving the sums its producer measured of x for
// this run (once; nil when there are none), and asks the producer to
// measure them whenever want reports true; nil when x is not a linked
// convolution output.
func (r *registry) sumsFor(x *G.Node, want func() bool) func() *kernels.PlaneStats {
	l := r.sums[x]
	if l == nil {
		return nil
	}
	l.want = want
	return func() *kernels.PlaneStats {
		if !l.ready {
			return nil
		}
		l.ready = false
		return &l.st
	}
}

// sumsEpilogue is the producer's epilogue for this run, for output planes
// of inner elements: the sums when its consumer wants them now and they pay
// on such planes, else nil.
func sumsEpilogue[T Float](l *sumsLink, inner int) *kernels.Epilogue[T] {
	l.ready = l.want != nil && kernels.EpilogueSumsPay(inner) && l.want()
	if !l.ready {
		return nil
	}
	return &kernels.Epilogue[T]{Stats: &l.st}
}

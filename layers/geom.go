package layers

import (
	"fmt"
	"github.com/gomobilenet/mobilenet/layers/internal/kernels"

	"gorgonia.org/tensor"
)

// Padding says how a convolution pads its input: an explicit number of rows
// and columns on each side, or "same".
//
// The zero Padding is Same().
type Padding struct {
	explicit                 bool
	top, bottom, left, right int
}

// Pad pads every side with n zeros (PyTorch's padding=n).
func Pad(n int) Padding { return Pad4(n, n, n, n) }

// PadHW pads h rows above and below and w columns left and right.
func PadHW(h, w int) Padding { return Pad4(h, h, w, w) }

// Pad4 pads each side explicitly.
func Pad4(top, bottom, left, right int) Padding {
	return Padding{explicit: true, top: top, bottom: bottom, left: left, right: right}
}

// Same pads so that the output has ceil(input/stride) rows and columns, the
// extra row or column (for even kernels) going below and right, as
// TensorFlow's "SAME". For odd kernels it is symmetric.
func Same() Padding { return Padding{} }

// String formats the padding.
func (p Padding) String() string {
	if !p.explicit {
		return "same"
	}
	return fmt.Sprintf("pad(%d,%d,%d,%d)", p.top, p.bottom, p.left, p.right)
}

func samePad(in, k, s int) (int, int) {
	out := (in + s - 1) / s
	total := max((out-1)*s+k-in, 0)
	return total / 2, total - total/2
}

// resolveGeom checks x's shape against the layer's configuration and
// computes the output size. layer names the layer in errors.
func resolveGeom(layer string, x tensor.Shape, cin, cout, kh, kw, sh, sw int, p Padding) (kernels.Geom, error) {
	if len(x) != 4 {
		return kernels.Geom{}, fmt.Errorf("%s: input shape %v: want 4-D (N, C, H, W)", layer, x)
	}
	for _, d := range x {
		if d <= 0 {
			return kernels.Geom{}, fmt.Errorf("%s: input shape %v has a non-positive size", layer, x)
		}
	}
	if x[1] != cin {
		return kernels.Geom{}, fmt.Errorf("%s: input shape %v has %d channels, layer expects %d", layer, x, x[1], cin)
	}
	g := kernels.Geom{N: x[0], C: x[1], H: x[2], W: x[3], O: cout, KH: kh, KW: kw, SH: sh, SW: sw}
	if !p.explicit {
		g.PT, g.PB = samePad(g.H, kh, sh)
		g.PL, g.PR = samePad(g.W, kw, sw)
	} else {
		g.PT, g.PB, g.PL, g.PR = p.top, p.bottom, p.left, p.right
	}
	ph, pw := g.H+g.PT+g.PB, g.W+g.PL+g.PR
	if kh > ph || kw > pw {
		return kernels.Geom{}, fmt.Errorf("%s: kernel %dx%d larger than the padded input %dx%d (input shape %v)", layer, kh, kw, ph, pw, x)
	}
	g.Ho, g.Wo = (ph-kh)/sh+1, (pw-kw)/sw+1
	return g, nil
}

// checkConvConfig validates the sizes common to the convolution layers.
func checkConvConfig(layer string, in, out, kh, kw, sh, sw int, p Padding) error {
	if in <= 0 || out <= 0 {
		return fmt.Errorf("%s: channels %d -> %d: must be positive", layer, in, out)
	}
	if kh <= 0 || kw <= 0 {
		return fmt.Errorf("%s: kernel %dx%d: must be positive", layer, kh, kw)
	}
	if sh <= 0 || sw <= 0 {
		return fmt.Errorf("%s: stride %dx%d: must be positive", layer, sh, sw)
	}
	if p.explicit && (p.top < 0 || p.bottom < 0 || p.left < 0 || p.right < 0) {
		return fmt.Errorf("%s: padding %v: must not be negative", layer, p)
	}
	return nil
}

//go:build linux || darwin

package data

import (
	"errors"
	"fmt"
	"image"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// tj is libjpeg-turbo's TurboJPEG API, loaded at run time (no cgo).
type tj struct {
	lib      string
	init     func() uintptr
	destroy  func(h uintptr) int32
	header   func(h uintptr, buf unsafe.Pointer, size uint64, w, hgt, subsamp, colorspace *int32) int32
	decomp   func(h uintptr, buf unsafe.Pointer, size uint64, dst unsafe.Pointer, w, pitch, hgt, pixelFormat, flags int32) int32
	errorStr func(h uintptr) string
	handles  chan uintptr // idle TurboJPEG handles (one goroutine at a time each); more are made and destroyed as needed
}

var (
	turboOnce sync.Once
	turboLib  *tj
)

// turbo is the loaded library, or nil where it does not load.
func turbo() *tj {
	turboOnce.Do(func() { turboLib, _ = loadTurbo() })
	return turboLib
}

func loadTurbo() (t *tj, err error) {
	defer func() {
		if r := recover(); r != nil { // a missing symbol
			t, err = nil, fmt.Errorf("libturbojpeg: %v", r)
		}
	}()
	for _, name := range []string{"libturbojpeg.so.0", "libturbojpeg.0.dylib", "libturbojpeg.dylib"} {
		h, err := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_LOCAL)
		if err != nil {
			continue
		}
		t := &tj{lib: name, handles: make(chan uintptr, 16)}
		purego.RegisterLibFunc(&t.init, h, "tjInitDecompress")
		purego.RegisterLibFunc(&t.destroy, h, "tjDestroy")
		purego.RegisterLibFunc(&t.header, h, "tjDecompressHeader3")
		purego.RegisterLibFunc(&t.decomp, h, "tjDecompress2")
		purego.RegisterLibFunc(&t.errorStr, h, "tjGetErrorStr2")
		return t, nil
	}
	return nil, errors.New("libturbojpeg not found")
}

// decode decodes a JPEG to RGBA with libjpeg-turbo's accurate integer
// IDCT and fancy (triangular) chroma upsampling, its defaults and
// OpenCV's.
func (t *tj) decode(b []byte) (image.Image, error) {
	img, _, _, err := t.decodeScaled(b, 0)
	return img, err
}

// decodeScaled decodes a JPEG at the smallest DCT scale n/8 whose shorter
// side is still at least minShorter (full size when none smaller is, and
// for minShorter ≤ 0), and returns it with the JPEG's own width and height.
func (t *tj) decodeScaled(b []byte, minShorter int) (img image.Image, fullW, fullH int, err error) {
	const (
		pfRGBA       = 7    // TJPF_RGBA
		accurateDCT  = 4096 // TJFLAG_ACCURATEDCT
		maxPixels    = 1 << 28
		csCMYK, csYC = 3, 4 // TJCS_CMYK, TJCS_YCCK: left to Go's decoder
	)
	var h uintptr
	select {
	case h = <-t.handles:
	default:
		if h = t.init(); h == 0 {
			return nil, 0, 0, errors.New("libturbojpeg: tjInitDecompress failed")
		}
	}
	defer func() {
		if err != nil { // a failed call leaves the handle's decoder mid-way: not reused
			t.destroy(h)
			return
		}
		select {
		case t.handles <- h:
		default:
			t.destroy(h)
		}
	}()
	var w, hgt, sub, cs int32
	if t.header(h, unsafe.Pointer(&b[0]), uint64(len(b)), &w, &hgt, &sub, &cs) != 0 {
		return nil, 0, 0, fmt.Errorf("libturbojpeg: %s", t.errorStr(h))
	}
	if cs == csCMYK || cs == csYC {
		return nil, 0, 0, errors.New("libturbojpeg: CMYK")
	}
	if w < 1 || hgt < 1 || int64(w)*int64(hgt) > maxPixels {
		return nil, 0, 0, fmt.Errorf("libturbojpeg: %d×%d pixels", w, hgt)
	}
	sw, sh := w, hgt
	for n := int32(1); n < 8 && minShorter > 0; n++ { // TJSCALED: ⌈dim·n/8⌉
		cw, ch := (w*n+7)/8, (hgt*n+7)/8
		if min(cw, ch) >= int32(minShorter) {
			sw, sh = cw, ch
			break
		}
	}
	rgba := image.NewRGBA(image.Rect(0, 0, int(sw), int(sh)))
	if t.decomp(h, unsafe.Pointer(&b[0]), uint64(len(b)), unsafe.Pointer(&rgba.Pix[0]), sw, int32(rgba.Stride), sh, pfRGBA, accurateDCT) != 0 {
		return nil, 0, 0, fmt.Errorf("libturbojpeg: %s", t.errorStr(h))
	}
	return rgba, int(w), int(hgt), nil
}

package data

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg" // the decoders of image.Decode
	_ "image/png"
	"os"
)

// Decode decodes a JPEG or PNG image. JPEGs are decoded by libjpeg-turbo
// when its TurboJPEG library (libturbojpeg.so.0, Debian's libturbojpeg0)
// loads: the decoder OpenCV, PIL and most deployments use, whose pixels
// differ from Go's image/jpeg (another IDCT and chroma upsampling) by a
// few levels. Elsewhere, for JPEGs it refuses (CMYK), or with
// MOBILENET_JPEG=go, Go's decoder runs, its 4:2:0 and 4:2:2 chroma
// upsampled and converted to RGB as libjpeg does (ycbcr.go).
// JPEGDecoder says which.
func Decode(b []byte) (image.Image, error) {
	useTurbo := turbo() != nil && os.Getenv(JPEGEnv) != "go"
	if isJPEG(b) && useTurbo {
		if img, err := turbo().decode(b); err == nil {
			return img, nil
		}
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if y, ok := img.(*image.YCbCr); ok {
		if rgb := fancyRGB(y); rgb != nil {
			return rgb, nil
		}
	}
	return img, nil
}

// JPEGEnv names the environment variable that makes Decode use Go's JPEG
// decoder even where libjpeg-turbo loads ("go").
const JPEGEnv = "MOBILENET_JPEG"

// JPEGDecoder names the JPEG decoder Decode uses: "libjpeg-turbo
// (libturbojpeg.so.0)" or "Go image/jpeg (libjpeg's upsampling and colour
// conversion)".
func JPEGDecoder() string {
	if t := turbo(); t != nil && os.Getenv(JPEGEnv) != "go" {
		return "libjpeg-turbo (" + t.lib + ")"
	}
	return "Go image/jpeg (libjpeg's upsampling and colour conversion)"
}

func isJPEG(b []byte) bool { return len(b) > 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff }

// DecodeFile reads a JPEG or PNG image (Decode); the error names the file.
func DecodeFile(path string) (image.Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	img, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable JPEG or PNG image: %w", path, err)
	}
	return img, nil
}

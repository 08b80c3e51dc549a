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
// few levels. Elsewhere, and for JPEGs it refuses (CMYK), Go's decoders
// run. JPEGDecoder says which.
func Decode(b []byte) (image.Image, error) {
	if isJPEG(b) && turbo() != nil {
		if img, err := turbo().decode(b); err == nil {
			return img, nil
		}
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	return img, err
}

// JPEGDecoder names the JPEG decoder Decode uses: "libjpeg-turbo
// (libturbojpeg.so.0)" or "Go image/jpeg".
func JPEGDecoder() string {
	if t := turbo(); t != nil {
		return "libjpeg-turbo (" + t.lib + ")"
	}
	return "Go image/jpeg"
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

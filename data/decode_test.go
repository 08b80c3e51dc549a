package data

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gomobilenet/mobilenet/internal/testenv"
)

// testJPEG encodes a colourful w×h image (4:2:0 chroma, as Go's encoder
// and most cameras write).
func testJPEG(t *testing.T, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{byte(x * 255 / w), byte((x*y + 7*y) % 256), byte(255 - y*255/h), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 75}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rgb returns an image's pixels as RGB bytes, row by row.
func rgb(img image.Image) []byte {
	b := img.Bounds()
	out := make([]byte, 0, 3*b.Dx()*b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			out = append(out, c.R, c.G, c.B)
		}
	}
	return out
}

// TestDecodeAsOpenCV: with libjpeg-turbo, Decode gives exactly the pixels
// OpenCV's cv2.imread gives (odd sizes, 4:2:0 chroma), where Go's
// image/jpeg differs; PNGs and non-images still go through Go.
func TestDecodeAsOpenCV(t *testing.T) {
	testenv.Need(t, "libturbojpeg", turbo() != nil, "libturbojpeg.so.0 not found (apt-get install libturbojpeg0): JPEGs are decoded by Go's image/jpeg")
	py := "/usr/bin/python3"
	haveCV := exec.Command(py, "-c", "import cv2, numpy").Run() == nil
	testenv.Need(t, "python-onnx", haveCV, "python3 with cv2 not found (apt-get install python3-opencv): OpenCV's pixels cannot be compared")
	dir := t.TempDir()
	for _, size := range [][2]int{{32, 32}, {33, 17}, {101, 57}} {
		data := testJPEG(t, size[0], size[1])
		path := filepath.Join(dir, "x.jpg")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ours, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		cv, err := exec.Command(py, "-c", "import cv2, sys; im = cv2.imread(sys.argv[1]); sys.stdout.buffer.write(im[:, :, ::-1].tobytes())", path).Output()
		if err != nil {
			t.Fatalf("cv2: %v", err)
		}
		if got := rgb(ours); !bytes.Equal(got, cv) {
			diff := 0
			for i := range cv {
				if i < len(got) && got[i] != cv[i] {
					diff++
				}
			}
			t.Errorf("%v: %d of %d values differ from OpenCV's", size, diff, len(cv))
		}
		goImg, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(rgb(goImg), cv) {
			t.Logf("%v: Go's image/jpeg gives OpenCV's pixels too here", size)
		}
	}
	if _, err := Decode([]byte("\xff\xd8\xff not a jpeg")); err == nil {
		t.Error("a broken JPEG: no error")
	}
	if !bytes.Contains([]byte(JPEGDecoder()), []byte("libjpeg-turbo")) {
		t.Errorf("JPEGDecoder() = %q", JPEGDecoder())
	}
}

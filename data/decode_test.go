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
	// A failed decode must not spoil the next: its handle is not reused.
	for i := 0; i < 20; i++ {
		if _, err := turbo().decode(testJPEG(t, 8, 8)); err != nil {
			t.Fatalf("decode %d after a broken JPEG: %v", i, err)
		}
	}
	if !bytes.Contains([]byte(JPEGDecoder()), []byte("libjpeg-turbo")) {
		t.Errorf("JPEGDecoder() = %q", JPEGDecoder())
	}
}

// TestGoDecoderNearLibjpeg: Go's fallback (MOBILENET_JPEG=go) comes within
// a level or two of libjpeg-turbo's pixels, and much nearer than Go's own
// colour conversion: chroma is upsampled and converted as libjpeg does,
// and what remains is the inverse DCT.
func TestGoDecoderNearLibjpeg(t *testing.T) {
	testenv.Need(t, "libturbojpeg", turbo() != nil, "libturbojpeg.so.0 not found: nothing to compare the fallback with")
	for _, size := range [][2]int{{32, 32}, {33, 17}, {101, 57}, {1, 1}, {2, 3}} {
		data := testJPEG(t, size[0], size[1])
		ref, ours := bothDecoders(t, data)
		plain, _ := jpeg.Decode(bytes.NewReader(data))
		want, got, std := rgb(ref), rgb(ours), rgb(plain)
		var worst, worstStd, sum, sumStd int
		for i := range want {
			d, ds := absDiff(got[i], want[i]), absDiff(std[i], want[i])
			worst, worstStd = max(worst, d), max(worstStd, ds)
			sum, sumStd = sum+d, sumStd+ds
		}
		t.Logf("%v: largest difference from libjpeg-turbo %d (Go's conversion: %d), mean %.3f (%.3f)", size, worst, worstStd, float64(sum)/float64(len(want)), float64(sumStd)/float64(len(want)))
		if worst > 3 || (len(want) > 30 && sum*2 > sumStd) {
			t.Errorf("%v: the fallback is %d levels (mean %.3f) from libjpeg-turbo; Go's own conversion %d (%.3f)", size, worst, float64(sum)/float64(len(want)), worstStd, float64(sumStd)/float64(len(want)))
		}
	}
}

// bothDecoders decodes a JPEG with libjpeg-turbo and with the Go fallback
// (MOBILENET_JPEG=go, for the rest of the test).
func bothDecoders(t *testing.T, data []byte) (turboImg, goImg image.Image) {
	t.Helper()
	ref, err := turbo().decode(data)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(JPEGEnv, "go")
	ours, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return ref, ours
}

func absDiff(a, b byte) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// TestGoDecoder422: a 4:2:2 JPEG (written by PIL, subsampling=1): the
// fallback's horizontal-only fancy upsampling comes within two levels of
// libjpeg-turbo, as the 4:2:0 one does.
func TestGoDecoder422(t *testing.T) {
	testenv.Need(t, "libturbojpeg", turbo() != nil, "libturbojpeg.so.0 not found: nothing to compare the fallback with")
	py := "/usr/bin/python3"
	if exec.Command(py, "-c", "import PIL").Run() != nil {
		t.Skip("no PIL to write a 4:2:2 JPEG")
	}
	path := filepath.Join(t.TempDir(), "x422.jpg")
	script := `import sys
from PIL import Image
im = Image.new("RGB", (37, 21))
im.putdata([((x * 7) % 256, (x * y) % 256, (255 - 12 * y) % 256) for y in range(21) for x in range(37)])
im.save(sys.argv[1], quality=80, subsampling=1)`
	if out, err := exec.Command(py, "-c", script, path).CombinedOutput(); err != nil {
		t.Fatalf("PIL: %v %s", err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ref, ours := bothDecoders(t, data)
	if y, ok := mustJPEG(t, data).(*image.YCbCr); !ok || y.SubsampleRatio != image.YCbCrSubsampleRatio422 {
		t.Fatalf("PIL wrote %T, not 4:2:2", mustJPEG(t, data))
	}
	want, got := rgb(ref), rgb(ours)
	worst := 0
	for i := range want {
		worst = max(worst, absDiff(got[i], want[i]))
	}
	if worst > 2 {
		t.Errorf("4:2:2: the fallback is %d levels from libjpeg-turbo", worst)
	}
}

func mustJPEG(t *testing.T, b []byte) image.Image {
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

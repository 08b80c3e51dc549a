package data

import (
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPreprocess: a 32×32 image at resolution 32 passes unresampled and
// normalised; grey and CMYK images become RGB; centre cropping keeps the
// centre; larger images are scaled with antialiasing (a fine checkerboard
// averages to grey rather than aliasing).
func TestPreprocess(t *testing.T) {
	p := CIFAR10Preprocess()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	rgba := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for i := 0; i < 1024; i++ {
		rgba.Set(i%32, i/32, color.RGBA{byte(i * 10), byte(i * 5), 200, 255})
	}
	out := make([]float32, 3*1024)
	if err := p.Apply(out, rgba, 32); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1024; i++ {
		want := (float32(byte(i*10))/255 - Mean[0]) / Std[0]
		if math.Abs(float64(out[i]-want)) > 1e-6 {
			t.Fatalf("red[%d] = %v, want %v", i, out[i], want)
		}
	}
	// Grey and CMYK at 32×32 (no resampling): each pixel's RGB as the
	// standard library's colour models give it, normalised per channel.
	grey := image.NewGray(image.Rect(0, 0, 32, 32))
	cmyk := image.NewCMYK(image.Rect(0, 0, 32, 32))
	for i := 0; i < 1024; i++ {
		grey.Pix[i] = byte(i * 7)
		cmyk.Pix[4*i], cmyk.Pix[4*i+1], cmyk.Pix[4*i+2], cmyk.Pix[4*i+3] = byte(i*3), byte(i*5), byte(255-i), byte(i%64)
	}
	for _, c := range []struct {
		name string
		img  image.Image
		rgb  func(i int) [3]byte
	}{
		{"grey", grey, func(i int) [3]byte { v := byte(i * 7); return [3]byte{v, v, v} }},
		{"CMYK", cmyk, func(i int) [3]byte {
			r, g, b := color.CMYKToRGB(byte(i*3), byte(i*5), byte(255-i), byte(i%64))
			return [3]byte{r, g, b}
		}},
	} {
		if err := p.Apply(out, c.img, 32); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 1024; i++ {
			rgb := c.rgb(i)
			for ch := 0; ch < 3; ch++ {
				want := (float32(rgb[ch])/255 - Mean[ch]) / Std[ch]
				if got := out[ch*1024+i]; math.Abs(float64(got-want)) > 1e-6 {
					t.Fatalf("%s pixel %d channel %d = %v, want %v (RGB %v)", c.name, i, ch, got, want, rgb)
				}
			}
		}
	}
	// Centre crop: a 40×20 image, white centre column band (stored at
	// 20×10 for resolution 8, the band at columns 4-15, of which the crop
	// takes 6-13), black elsewhere.
	wide := image.NewRGBA(image.Rect(0, 0, 40, 20))
	for y := 0; y < 20; y++ {
		for x := 8; x < 32; x++ {
			wide.Set(x, y, color.White)
		}
	}
	c := Preprocess{Mean: [3]float32{}, Std: [3]float32{1, 1, 1}, Resize: ResizeCenterCrop}
	small := make([]float32, 3*8*8)
	if err := c.Apply(small, wide, 8); err != nil {
		t.Fatal(err)
	}
	for i, v := range small {
		if v < 0.99 {
			t.Fatalf("centre crop took in black at %d (%v)", i, v)
		}
	}
	// Antialiasing: a 1-pixel checkerboard scaled 64 → 8 is mid-grey.
	board := image.NewGray(image.Rect(0, 0, 64, 64))
	for i := range board.Pix {
		if (i%64+i/64)%2 == 0 {
			board.Pix[i] = 255
		}
	}
	c.Resize = ResizeExact
	if err := c.Apply(small, board, 8); err != nil {
		t.Fatal(err)
	}
	for i, v := range small {
		if math.Abs(float64(v)-0.5) > 0.1 {
			t.Fatalf("checkerboard pixel %d = %v after shrinking, want ≈ 0.5", i, v)
		}
	}
	for _, bad := range []Preprocess{{Std: [3]float32{1, 0, 1}, Resize: ResizeExact}, {Std: [3]float32{1, 1, 1}, Resize: "stretch"}} {
		if bad.Validate() == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if err := p.Apply(out[:5], rgba, 4); err == nil {
		t.Error("wrong destination size: no error")
	}
}

func TestImagePaths(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "cats", "more"), 0o755)
	f, _ := os.Create(filepath.Join(dir, "cats", "b.jpg"))
	jpeg.Encode(f, image.NewRGBA(image.Rect(0, 0, 2, 2)), nil)
	f.Close()
	os.WriteFile(filepath.Join(dir, "cats", "more", "a.PNG"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "cats", "readme.txt"), nil, 0o644)
	got, err := ImagePaths([]string{filepath.Join(dir, "cats")})
	if err != nil || len(got) != 2 || !strings.HasSuffix(got[0], "b.jpg") {
		t.Fatalf("ImagePaths = %v, %v", got, err)
	}
	link := filepath.Join(t.TempDir(), "linked")
	if os.Symlink(filepath.Join(dir, "cats"), link) == nil {
		if got, err := ImagePaths([]string{link}); err != nil || len(got) != 2 || got[0] != filepath.Join(link, "b.jpg") {
			t.Errorf("ImagePaths of a linked folder = %v, %v", got, err)
		}
	}
	if _, err := DecodeFile(filepath.Join(dir, "cats", "b.jpg")); err != nil {
		t.Error(err)
	}
	if _, err := DecodeFile(filepath.Join(dir, "cats", "readme.txt")); err == nil || !strings.Contains(err.Error(), "readme.txt") {
		t.Errorf("decoding a text file: %v", err)
	}
	if _, err := ImagePaths([]string{filepath.Join(dir, "cats", "more", "..", "..", "none")}); err == nil {
		t.Error("absent path: no error")
	}
	empty := t.TempDir()
	if _, err := ImagePaths([]string{empty}); err == nil || !strings.Contains(err.Error(), "no JPEG or PNG") {
		t.Errorf("empty folder: %v", err)
	}
}

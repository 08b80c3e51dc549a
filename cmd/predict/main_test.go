package main

import (
	"bufio"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/internal/testenv"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/train"
)

func writePNG(t *testing.T, path string, img image.Image) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// TestPredictMatchesEvaluator: predict's top-1 for each image is the
// argmax of the evaluator's logits on the same pixels (CIFAR-10
// preprocessing), grey images included; a corrupt file is reported by path
// and skipped, with exit status 1.
func TestPredictMatchesEvaluator(t *testing.T) {
	dir := t.TempDir()
	m, err := model.New(model.CIFAR10(0.25), model.Options{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	fc := m.Store.Var("fc/weight").Value.Data().([]float32) // spread the logits
	r := rand.New(rand.NewPCG(1, 1))
	for i := range fc {
		fc[i] = float32(r.NormFloat64())
	}
	ckpt := filepath.Join(dir, "m.bin")
	if err := train.WriteModel(ckpt, m, m.Config); err != nil {
		t.Fatal(err)
	}
	imgs := filepath.Join(dir, "imgs")
	os.Mkdir(imgs, 0o755)
	const n = 12
	x := make([]float32, n*3*32*32)
	pre := data.CIFAR10Preprocess()
	for i := 0; i < n; i++ {
		var img image.Image
		if i == 3 {
			g := image.NewGray(image.Rect(0, 0, 32, 32))
			for p := range g.Pix {
				g.Pix[p] = byte(r.IntN(256))
			}
			img = g
		} else {
			c := image.NewRGBA(image.Rect(0, 0, 32, 32))
			for p := 0; p < 32*32; p++ {
				c.Set(p%32, p/32, color.RGBA{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), 255})
			}
			img = c
		}
		writePNG(t, filepath.Join(imgs, string(rune('a'+i))+".png"), img)
		if err := pre.Apply(x[i*3*32*32:(i+1)*3*32*32], img, 32); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(imgs, "notes.txt"), []byte("not an image"), 0o644) // ignored in a folder
	os.WriteFile(filepath.Join(imgs, "zz-corrupt.jpg"), []byte("\xff\xd8\xff garbage"), 0o644)
	ev, err := train.NewEvaluator(m, n)
	if err != nil {
		t.Fatal(err)
	}
	logits, err := ev.Logits(x)
	ev.Close()
	if err != nil {
		t.Fatal(err)
	}
	cmd := testenv.Command("--json", "--top", "3", "--batch-size", "5", ckpt, imgs)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err == nil || !strings.Contains(stderr.String(), "zz-corrupt.jpg: not a readable JPEG or PNG image") || strings.Contains(stderr.String(), "goroutine") {
		t.Fatalf("exit %v, stderr %q: want exit 1 naming the corrupt file", err, stderr.String())
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	i := 0
	for sc.Scan() {
		var p Prediction
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if p.Error != "" {
			continue
		}
		row := logits[i*10 : (i+1)*10]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if len(p.Top) != 3 || p.Top[0].Index != best || p.Top[0].Name != data.DefaultClassNames[best] || !(p.Top[0].Prob >= p.Top[1].Prob) {
			t.Errorf("%s: top %+v, the evaluator says class %d", p.Path, p.Top, best)
		}
		i++
	}
	if i != n {
		t.Errorf("%d predictions for %d images", i, n)
	}
}

// TestPredictBadInput: each bad invocation is one clear line, no panic.
func TestPredictBadInput(t *testing.T) {
	dir := t.TempDir()
	m, _ := model.New(model.CIFAR10(0.25), model.Options{Seed: 1})
	ckpt := filepath.Join(dir, "m.bin")
	train.WriteModel(ckpt, m, m.Config)
	old := filepath.Join(dir, "old.bin") // no class names, no preprocessing: an older checkpoint
	h, ts, _ := train.ReadCheckpoint(ckpt)
	h.Classes, h.Input = nil, nil
	train.WriteCheckpoint(old, h, ts)
	empty := t.TempDir()
	img := filepath.Join(dir, "a.png")
	writePNG(t, img, image.NewRGBA(image.Rect(0, 0, 40, 20)))
	for _, c := range []struct {
		args   []string
		want   string
		exit0  bool
		stdout string
	}{
		{[]string{ckpt}, "want a checkpoint and at least one image", false, ""},
		{[]string{ckpt, empty}, "no JPEG or PNG images", false, ""},
		{[]string{ckpt, filepath.Join(dir, "absent.png")}, "no such file", false, ""},
		{[]string{filepath.Join(dir, "absent.bin"), img}, "no such file", false, ""},
		{[]string{"--top", "0", ckpt, img}, "must be positive", false, ""},
		{[]string{old, img}, "records no class names", true, "a.png: "},
	} {
		cmd := testenv.Command(c.args...)
		var stderr, stdout strings.Builder
		cmd.Stderr, cmd.Stdout = &stderr, &stdout
		err := cmd.Run()
		if (err == nil) != c.exit0 || !strings.Contains(stderr.String(), c.want) || strings.Contains(stderr.String(), "goroutine") {
			t.Errorf("%v: exit %v, stderr %q; want %q", c.args, err, stderr.String(), c.want)
		}
		if !strings.Contains(stdout.String(), c.stdout) {
			t.Errorf("%v: stdout %q lacks %q", c.args, stdout.String(), c.stdout)
		}
		if c.exit0 { // an older CIFAR-10 checkpoint: CIFAR-10's names
			named := false
			for _, n := range data.DefaultClassNames {
				named = named || strings.Contains(stdout.String(), n+" ")
			}
			if !named {
				t.Errorf("%v: stdout %q names no CIFAR-10 class", c.args, stdout.String())
			}
		}
	}
}

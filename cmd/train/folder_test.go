package main

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/checkpoint"
	"github.com/gomobilenet/mobilenet/internal/testenv"
	"github.com/gomobilenet/mobilenet/train"
)

// imageFolder writes ROOT/<class>/<n>.png for the classes, n images each,
// of sizes around size×size whose colour tells the class.
func imageFolder(t *testing.T, root string, classes []string, n, size int) {
	t.Helper()
	for k, c := range classes {
		dir := filepath.Join(root, c)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			img := image.NewRGBA(image.Rect(0, 0, size+i%3, size))
			for p := 0; p < len(img.Pix); p += 4 {
				img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = byte(60*k+i%7), byte(200-60*k), byte(p%256), 255
			}
			f, err := os.Create(filepath.Join(dir, string(rune('a'+i/26))+string(rune('a'+i%26))+".png"))
			if err != nil {
				t.Fatal(err)
			}
			png.Encode(f, img)
			f.Close()
		}
	}
}

// TestFolderTrainAndFineTune trains on an image folder (with a corrupt
// file, which is skipped and counted), evaluates it, then fine-tunes the
// checkpoint on a two-class folder with the body frozen.
func TestFolderTrainAndFineTune(t *testing.T) {
	root := t.TempDir()
	imageFolder(t, filepath.Join(root, "train"), []string{"a", "b", "c"}, 24, 20)
	imageFolder(t, filepath.Join(root, "val"), []string{"a", "b", "c"}, 6, 20)
	os.WriteFile(filepath.Join(root, "train", "a", "zz.png"), []byte("\x89PNG broken"), 0o644)
	out := t.TempDir()
	args := []string{"--data", root, "--out", out, "--alpha", "0.25", "--epochs", "2", "--batch-size", "8", "--eval-batch-size", "9"}
	res, err := testenv.Command(args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, res)
	}
	for _, want := range []string{"train: skipped 1 unreadable image(s)", "zz.png", "image folder " + root + ": 3 classes, 72 training and 18 validation images", "done: 2 epochs", "of wall time since this command started"} {
		if !strings.Contains(string(res), want) {
			t.Errorf("output lacks %q:\n%s", want, res)
		}
	}
	raw, _, err := checkpoint.Read(filepath.Join(out, "best.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"class_names":["a","b","c"]`) {
		t.Errorf("checkpoint header lacks the class names: %s", raw[:min(len(raw), 400)])
	}

	two := t.TempDir()
	imageFolder(t, filepath.Join(two, "train"), []string{"x", "y"}, 16, 24)
	imageFolder(t, filepath.Join(two, "test"), []string{"x", "y"}, 4, 24)
	ft := t.TempDir()
	res, err = testenv.Command("--data", two, "--out", ft, "--init", filepath.Join(out, "best.bin"), "--freeze", "body", "--epochs", "1", "--batch-size", "8").CombinedOutput()
	if err != nil {
		t.Fatalf("fine-tune: %v\n%s", err, res)
	}
	if !strings.Contains(string(res), "the classifier is new (3 classes there, 2 here)") {
		t.Errorf("fine-tune output:\n%s", res)
	}
	// Without --epochs and --lr, a fine-tuning run is short and gentle.
	res, err = testenv.Command("--data", two, "--out", t.TempDir(), "--init", filepath.Join(out, "best.bin"), "--batch-size", "8", "--max-time", "1s").CombinedOutput()
	if err != nil || !strings.Contains(string(res), fmt.Sprintf("recipe: %d epochs, batch 8, lr %g ", train.FineTuneEpochs, train.FineTuneLR)) || strings.Contains(string(res), "cutout") {
		t.Errorf("fine-tune defaults (no Cutout): %v\n%s", err, res)
	}
	// --init keeps the checkpoint's network: another width is refused.
	res, err = testenv.Command("--data", two, "--out", t.TempDir(), "--init", filepath.Join(out, "best.bin"), "--alpha", "0.5", "--epochs", "1", "--batch-size", "8").CombinedOutput()
	if want := "--alpha 0.5: the checkpoint " + filepath.Join(out, "best.bin") + " holds a network with 0.25, and --init fine-tunes that network"; err == nil || !strings.Contains(string(res), want) {
		t.Errorf("fine-tune with another --alpha: %v, output %q, want %q", err, res, want)
	}
}

func TestFolderErrors(t *testing.T) {
	noImages := t.TempDir()
	os.MkdirAll(filepath.Join(noImages, "cat"), 0o755)
	os.WriteFile(filepath.Join(noImages, "cat", "readme.txt"), []byte("text"), 0o644)
	emptyClass := t.TempDir()
	imageFolder(t, emptyClass, []string{"a", "b"}, 4, 8)
	os.MkdirAll(filepath.Join(emptyClass, "c"), 0o755)
	allBroken := t.TempDir()
	for _, c := range []string{"a", "b"} {
		os.MkdirAll(filepath.Join(allBroken, c), 0o755)
		for i := 0; i < 10; i++ {
			os.WriteFile(filepath.Join(allBroken, c, string(rune('a'+i))+".jpg"), []byte("\xff\xd8 broken"), 0o644)
		}
	}
	strict := t.TempDir()
	imageFolder(t, strict, []string{"a", "b"}, 10, 8)
	os.WriteFile(filepath.Join(strict, "a", "bad.jpg"), []byte("\xff\xd8 broken"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", noImages}, "no JPEG or PNG images in class folder " + filepath.Join(noImages, "cat")},
		{[]string{"--data", emptyClass}, "no JPEG or PNG images in class folder " + filepath.Join(emptyClass, "c")},
		{[]string{"--data", allBroken}, "no JPEG or PNG images that can be read"},
		{[]string{"--data", strict, "--strict-images"}, "bad.jpg: not a readable JPEG or PNG image"},
		{[]string{"--data", strict, "--limit", "5"}, "--limit applies to CIFAR-10"},
		{[]string{"--freeze", "body"}, "--freeze body: needs --init"},
		{[]string{"--init", "/nonexistent.bin"}, "/nonexistent.bin"},
		{[]string{"--init", "x.bin", "--resume", "y.bin"}, "give one of them"},
		{[]string{"--cutout", "40"}, "--cutout 40: must be at most 32"},
	} {
		out, err := testenv.Command(append(c.args, "--out", t.TempDir())...).CombinedOutput()
		text := string(out)
		if err == nil {
			t.Errorf("%v: exit 0", c.args)
		}
		if strings.Contains(text, "panic") || strings.Contains(text, "goroutine ") {
			t.Errorf("%v: panicked:\n%s", c.args, text)
		}
		if !strings.Contains(text, c.want) {
			t.Errorf("%v: output %q lacks %q", c.args, text, c.want)
		}
	}
}

// TestDefaultCutoutFollowsConfig: the default recipe's Cutout applies to
// CIFAR-10-sized training from scratch with augmentation; the imagenet
// configuration and --no-augment get none unless --cutout asks for it.
func TestDefaultCutoutFollowsConfig(t *testing.T) {
	data := fakeCIFAR(t, 16)
	for _, c := range []struct {
		args []string
		want string // the recipe line's Cutout part; "" = none
	}{
		{nil, ", cutout 16,"},
		{[]string{"--cutout", "8"}, ", cutout 8,"},
		{[]string{"--cutout", "0"}, ""},
		{[]string{"--no-augment"}, ""},
		{[]string{"--config", "imagenet", "--resolution", "32"}, ""},
		{[]string{"--config", "imagenet", "--resolution", "32", "--cutout", "8"}, ", cutout 8,"},
	} {
		args := append([]string{"--alpha", "0.25", "--epochs", "1", "--batch-size", "8", "--limit", "16", "--data", data, "--no-download", "--out", t.TempDir()}, c.args...)
		line, ok := recipeLine(t, args)
		if !ok {
			continue
		}
		if c.want == "" && strings.Contains(line, "cutout") || c.want != "" && !strings.Contains(line, c.want) {
			t.Errorf("%v: recipe line %q, want Cutout %q", c.args, line, c.want)
		}
	}
}

// recipeLine runs the command and returns the recipe line it logs; false
// (after reporting why) when it failed or logged none.
func recipeLine(t *testing.T, args []string) (string, bool) {
	t.Helper()
	res, err := testenv.Command(args...).CombinedOutput()
	if err != nil {
		t.Errorf("%v: %v\n%s", args, err, res)
		return "", false
	}
	_, line, ok := strings.Cut(string(res), "recipe: ")
	if !ok {
		t.Errorf("%v: no recipe line in\n%s", args, res)
		return "", false
	}
	line, _, _ = strings.Cut(line, "\n")
	return line, true
}

// TestDefaultSWATail: the default SWA tail is two fifths of --epochs for the
// cifar10 configuration trained from scratch; --swa-epochs sets it, and the
// imagenet configuration, an EMA and fine-tuning get none unless asked.
func TestDefaultSWATail(t *testing.T) {
	data := fakeCIFAR(t, 16)
	first := t.TempDir()
	for _, c := range []struct {
		args []string
		out  string
		want string // the recipe line's SWA part; "" = none
	}{
		{nil, first, ", SWA 4 epochs at lr 0.02,"},
		{[]string{"--swa-epochs", "1", "--swa-lr", "0.05"}, "", ", SWA 1 epoch at lr 0.05,"},
		{[]string{"--swa-epochs", "0"}, "", ""},
		{[]string{"--config", "imagenet", "--resolution", "32"}, "", ""},
		{[]string{"--ema", "0.99"}, "", ""},
		{[]string{"--init", filepath.Join(first, "last.bin")}, "", ""},
	} {
		out := c.out
		if out == "" {
			out = t.TempDir()
		}
		args := append([]string{"--alpha", "0.25", "--epochs", "10", "--batch-size", "8", "--limit", "16", "--data", data, "--no-download", "--out", out}, c.args...)
		line, ok := recipeLine(t, args)
		if !ok {
			continue
		}
		if c.want == "" && strings.Contains(line, ", SWA ") || c.want != "" && !strings.Contains(line, c.want) {
			t.Errorf("%v: recipe line %q, want SWA %q", c.args, line, c.want)
		}
	}
}

// TestFolderStreamed: --stream always trains an ImageNet-configuration run
// from a folder left on disk, says so in one line with the decode cost,
// and ends as the in-memory run of the same seed does (the same batches,
// bit for bit: the same checkpoint); --stream never loads it; a bad
// --stream is an error.
func TestFolderStreamed(t *testing.T) {
	root := t.TempDir()
	imageFolder(t, filepath.Join(root, "train"), []string{"a", "b"}, 12, 40)
	imageFolder(t, filepath.Join(root, "val"), []string{"a", "b"}, 3, 40)
	run := func(mode string) (string, []train.Tensor) {
		out := t.TempDir()
		res, err := testenv.Command("--data", root, "--out", out, "--config", "imagenet", "--resolution", "32", "--alpha", "0.25", "--epochs", "1", "--batch-size", "8", "--eval-batch-size", "6", "--stream", mode).CombinedOutput()
		if err != nil {
			t.Fatalf("--stream %s: %v\n%s", mode, err, res)
		}
		_, ts, err := train.ReadCheckpoint(filepath.Join(out, "last.bin"))
		if err != nil {
			t.Fatal(err)
		}
		return string(res), ts
	}
	streamed, a := run("always")
	held, b := run("never")
	if !strings.Contains(streamed, "is streamed from disk (--stream always)") || !strings.Contains(streamed, "ms of CPU an image") || strings.Contains(held, "streamed") {
		t.Errorf("the streamed run should say so once, the other not:\n%s\n%s", streamed, held)
	}
	// The same tensors (the data fingerprints differ: a streamed set's
	// covers its files).
	if len(a) != len(b) {
		t.Fatalf("%d and %d tensors", len(a), len(b))
	}
	for i := range a {
		if a[i].Info.Name != b[i].Info.Name || !slices.Equal(a[i].Data, b[i].Data) {
			t.Fatalf("streamed and in-memory runs of one seed differ in %s", a[i].Info.Name)
		}
	}
	if res, err := testenv.Command("--data", root, "--stream", "sometimes").CombinedOutput(); err == nil || !strings.Contains(string(res), `stream "sometimes"`) {
		t.Errorf("--stream sometimes: %v\n%s", err, res)
	}
}

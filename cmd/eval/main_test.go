package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/blas"
	"github.com/gomobilenet/mobilenet/internal/testenv"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/train"
)

func TestBadCheckpoints(t *testing.T) {
	dir := t.TempDir()
	// A valid checkpoint, then damaged and mismatched copies of it.
	write := func(name string, cfg, header model.Config) string {
		m, err := model.New(cfg, model.Options{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := train.WriteModel(p, m, header); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.bin", model.CIFAR10(0.25), model.CIFAR10(0.25))
	b, _ := os.ReadFile(good)
	truncated := filepath.Join(dir, "truncated.bin")
	os.WriteFile(truncated, b[:len(b)/2], 0o644)
	random := filepath.Join(dir, "random.bin")
	os.WriteFile(random, bytes.Repeat([]byte("not a checkpoint "), 100), 0o644)
	other := write("other.bin", model.CIFAR10(0.25), model.CIFAR10(0.5))
	imagenet := write("imagenet.bin", model.ImageNet(0.25), model.ImageNet(0.25))
	// Valid checksums, impossible contents.
	huge := model.CIFAR10(0.25)
	huge.Resolution = 100000
	tooLarge := write("huge.bin", model.CIFAR10(0.25), huge)
	big := model.CIFAR10(0.25)
	big.Resolution = 2048
	noFit := write("big.bin", model.CIFAR10(0.25), big)
	h, ts, err := train.ReadCheckpoint(good)
	if err != nil {
		t.Fatal(err)
	}
	ts[2].Data[0] = float32(math.NaN())
	nan := filepath.Join(dir, "nan.bin")
	if err := train.WriteCheckpoint(nan, h, ts); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{truncated}, "checksum"},
		{[]string{random}, "foreign"},
		{[]string{other}, "parameters"},
		{[]string{imagenet}, "1000 classes"},
		{[]string{filepath.Join(dir, "absent.bin")}, "no such file"},
		{nil, "want one checkpoint"},
		{[]string{"--batch-size", "0", good}, "positive"},
		{[]string{"--threads", "100000", good}, "--threads 100000: must be in [1, 1024]"},
		{[]string{tooLarge}, "resolution 100000: too large"},
		{[]string{noFit}, "does not fit in memory"},
		{[]string{nan}, ts[2].Info.Name + " has a non-finite value"},
		{[]string{"--no-download", "--data", t.TempDir(), good}, "CIFAR-10 not found"},
	} {
		out, err := testenv.Command(c.args...).CombinedOutput()
		if err == nil {
			t.Errorf("%v: exit 0", c.args)
			continue
		}
		text := strings.TrimSpace(string(out))
		lines := strings.Split(text, "\n")
		last := lines[len(lines)-1]
		if strings.Contains(text, "panic") || strings.Contains(text, "goroutine ") {
			t.Errorf("%v: panicked:\n%s", c.args, text)
		}
		if !strings.Contains(last, c.want) || !strings.HasPrefix(last, "eval: ") {
			t.Errorf("%v: last line %q, want an 'eval: ' line saying %q", c.args, last, c.want)
		}
	}
}

// TestComparePrecision: --compare-precision fp32 with --precision bf16
// reports the agreement line (where the CPU has bf16 products; elsewhere
// the one-line error), and a bad value is refused.
func TestComparePrecision(t *testing.T) {
	dir := t.TempDir()
	m, err := model.New(model.CIFAR10(0.25), model.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "m.bin")
	if err := train.WriteModel(ckpt, m, m.Config); err != nil {
		t.Fatal(err)
	}
	data := testenv.FakeCIFAR(t, 20)
	out, err := testenv.Command("--data", data, "--no-download", "--precision", "bf16", "--compare-precision", "fp32", ckpt).CombinedOutput()
	switch {
	case !blas.HaveBF16():
		if err == nil || !strings.Contains(string(out), "--precision bf16: this CPU runs the") {
			t.Errorf("bf16 without bf16 products: %v\n%s", err, out)
		}
	case err != nil:
		t.Fatalf("%v\n%s", err, out)
	case !strings.Contains(string(out), "bf16 against fp32: top-1 agrees on ") || !strings.Contains(string(out), " of 20 images"):
		t.Errorf("no agreement line:\n%s", out)
	}
	if out, err := testenv.Command("--data", data, "--no-download", "--compare-precision", "fp8", ckpt).CombinedOutput(); err == nil || !strings.Contains(string(out), `--compare-precision: precision "fp8": want fp32 or bf16 (or auto)`) {
		t.Errorf("--compare-precision fp8: %v\n%s", err, out)
	}
}

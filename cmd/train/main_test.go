package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// binary builds the command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "train")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestBadInvocations(t *testing.T) {
	bin := binary(t)
	empty := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--alpha", "0"}, "alpha 0"},
		{[]string{"--alpha", "2"}, "alpha 2"},
		{[]string{"--epochs", "-1", "--no-download", "--data", empty}, "epochs -1"},
		{[]string{"--batch-size", "0"}, "batch size 0"},
		{[]string{"--no-download", "--data", empty}, "CIFAR-10 not found"},
		{[]string{"--depthwise", "magic"}, "magic"},
		{[]string{"--blas", "mkl", "--no-download", "--data", empty}, "mkl"},
		{[]string{"--config", "mnist"}, "mnist"},
		{[]string{"--resolution", "8"}, "resolution 8"},
		{[]string{"--bogus"}, "bogus"},
		{[]string{"stray"}, "stray"},
	} {
		cmd := exec.Command(bin, c.args...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("%v: exit 0", c.args)
			continue
		}
		text := string(out)
		if strings.Contains(text, "panic") || strings.Contains(text, "goroutine ") {
			t.Errorf("%v: panicked:\n%s", c.args, text)
		}
		if !strings.Contains(text, c.want) {
			t.Errorf("%v: output %q lacks %q", c.args, text, c.want)
		}
	}
}

func TestSummary(t *testing.T) {
	bin := binary(t)
	out, err := exec.Command(bin, "--summary", "--config", "imagenet", "--alpha", "1").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"block13/pw", "4,231,976", "568,740,352", "568.74 M"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

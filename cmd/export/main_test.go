package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/internal/testenv"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/train"
)

// TestCommand exports a checkpoint and refuses bad invocations with one
// line each.
func TestCommand(t *testing.T) {
	dir := t.TempDir()
	m, err := model.New(model.CIFAR10(0.25), model.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "m.bin")
	if err := train.WriteModel(ckpt, m, m.Config); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "m.onnx")
	text, err := testenv.Command("--summary", ckpt, out).CombinedOutput()
	if err != nil {
		t.Fatalf("export: %v\n%s", err, text)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() < 100000 {
		t.Fatalf("no model written: %v", err)
	}
	if !strings.Contains(string(text), "215642 parameters") {
		t.Errorf("summary lacks the parameter count:\n%s", text)
	}
	bad := filepath.Join(dir, "bad.bin")
	os.WriteFile(bad, []byte("garbage"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{ckpt}, "want a checkpoint and an output path"},
		{[]string{bad, out}, "not a valid checkpoint"},
		{[]string{ckpt, filepath.Join(dir, "no/such/dir/m.onnx")}, "write"},
		{[]string{"--bogus", ckpt, out}, "bogus"},
	} {
		text, err := testenv.Command(c.args...).CombinedOutput()
		if err == nil || !strings.Contains(string(text), c.want) || strings.Contains(string(text), "goroutine") {
			t.Errorf("%v: %v, output %q, want an error saying %q", c.args, err, text, c.want)
		}
	}
}

// TestRecordedPreprocessing: a checkpoint trained on an image folder
// exports its own class names, normalisation and resize as metadata.
func TestRecordedPreprocessing(t *testing.T) {
	dir := t.TempDir()
	cfg := model.ImageNet(0.25)
	cfg.Classes, cfg.Resolution = 2, 64
	m, err := model.New(cfg, model.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	pre := data.Preprocess{Mean: [3]float32{0.125, 0.25, 0.5}, Std: [3]float32{0.5, 0.25, 0.125}, Resize: data.ResizeCenterCrop}
	ckpt := filepath.Join(dir, "m.bin")
	if err := train.WriteCheckpoint(ckpt, train.Header{Config: cfg, Classes: []string{"kestrel", "merlin"}, Input: &pre}, m.Store.Tensors()); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "m.onnx")
	if text, err := testenv.Command(ckpt, out).CombinedOutput(); err != nil {
		t.Fatalf("export: %v\n%s", err, text)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`["kestrel","merlin"]`, "0.125,0.25,0.5", "0.5,0.25,0.125", "center-crop"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("the exported metadata lacks %q", want)
		}
	}
}

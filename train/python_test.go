package train

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/internal/testenv"
	"github.com/gomobilenet/mobilenet/model"
)

// TestPythonReader runs scripts/read_checkpoint.py (the format's documented
// reader) on a checkpoint and compares every tensor's name, shape and mean
// with the model's; it skips where python3 with numpy is not installed.
func TestPythonReader(t *testing.T) {
	py := ""
	for _, c := range []string{"python3", "/usr/bin/python3"} { // a venv's python may lack numpy
		if p, err := exec.LookPath(c); err == nil && exec.Command(p, "-c", "import numpy").Run() == nil {
			py = p
			break
		}
	}
	testenv.Need(t, "python-numpy", py != "", "no python3 with numpy installed")
	cfg := model.CIFAR10(0.25)
	m, err := model.New(cfg, model.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.bin")
	if err := WriteModel(path, m, cfg); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join("..", "scripts", "read_checkpoint.py")
	out, err := exec.Command(py, script, path).Output()
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var got model.Config
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil || got != cfg {
		t.Errorf("configuration line %q, want %+v (%v)", lines[0], cfg, err)
	}
	vars := m.Store.Vars()
	if len(lines)-1 != len(vars) {
		t.Fatalf("python read %d tensors, the model has %d", len(lines)-1, len(vars))
	}
	for i, v := range vars {
		f := strings.Fields(lines[i+1])
		var dims []string
		for _, n := range v.Value.Shape() {
			dims = append(dims, strconv.Itoa(n))
		}
		shape := strings.Join(dims, "x")
		if len(f) != 3 || f[0] != v.Name || f[1] != shape {
			t.Errorf("tensor %d: python says %q, want %s %s", i, lines[i+1], v.Name, shape)
			continue
		}
		var sum float64
		d := v.Value.Data().([]float32)
		for _, x := range d {
			sum += float64(x)
		}
		mean, _ := strconv.ParseFloat(f[2], 64)
		if want := sum / float64(len(d)); abs64(mean-want) > 1e-9*(1+abs64(want)) {
			t.Errorf("%s: python mean %v, Go %v", v.Name, mean, want)
		}
	}

	// A truncated file is refused with a message, not read as garbage.
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, b[:len(b)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	msg, err := exec.Command(py, script, path).CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "checksum") {
		t.Errorf("truncated checkpoint: err %v, output %s", err, msg)
	}
}

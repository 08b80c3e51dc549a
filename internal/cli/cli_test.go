package cli

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestTuneGC(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	for _, c := range []struct {
		env  string
		want int
	}{{"", 25}, {"50", 100}} { // a GOGC the user set is left to the runtime
		t.Setenv("GOGC", c.env)
		debug.SetGCPercent(100)
		TuneGC()
		if got := debug.SetGCPercent(100); got != c.want {
			t.Errorf("GOGC=%q: collector target %d%%, want %d%%", c.env, got, c.want)
		}
	}
}

func TestCPUName(t *testing.T) {
	for _, c := range []struct{ info, want string }{
		{"processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\n\nprocessor\t: 1\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\n", "AMD EPYC (family 25 model 17)"},
		{"model name\t: Intel(R) Xeon(R) Platinum 8488C\n", "Intel(R) Xeon(R) Platinum 8488C"},
		{"", runtime.GOARCH},
	} {
		if got := cpuName(c.info); got != c.want {
			t.Errorf("cpuName(%q) = %q, want %q", c.info, got, c.want)
		}
	}
}

func TestStartCPUProfile(t *testing.T) {
	stop, err := StartCPUProfile("")
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if _, err := StartCPUProfile(filepath.Join(t.TempDir(), "no", "such", "cpu.prof")); err == nil || !strings.Contains(err.Error(), "--cpuprofile") {
		t.Errorf("a folder that is not there: %v", err)
	}
	path := filepath.Join(t.TempDir(), "cpu.prof")
	if stop, err = StartCPUProfile(path); err != nil {
		t.Fatal(err)
	}
	stop()
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Errorf("profile %s: %v, %v", path, fi, err)
	}
}

func TestProgress(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct {
		mode    string
		want    io.Writer
		wantErr bool
	}{
		{"on", f, false},
		{"off", nil, false},
		{"auto", nil, false}, // a regular file is not a terminal
		{"", nil, false},
		{"yes", nil, true},
	} {
		w, err := Progress(c.mode, f)
		if (err != nil) != c.wantErr {
			t.Errorf("Progress(%q): error %v, want error %v", c.mode, err, c.wantErr)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), "--progress") {
			t.Errorf("Progress(%q): error %q does not name the flag", c.mode, err)
		}
		if w != c.want {
			t.Errorf("Progress(%q) = %v, want %v", c.mode, w, c.want)
		}
	}
}

package cli

import (
	"runtime"
	"runtime/debug"
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

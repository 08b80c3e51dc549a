package cli

import (
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

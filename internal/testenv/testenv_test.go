package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNeed runs Need in a child test binary: a missing feature skips, or
// fails when MOBILENET_REQUIRE names it; MOBILENET_COVERAGE gets a line for
// each call.
func TestNeed(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") == "1" {
		Need(t, "have", true, "")
		Ran(t, "seen")
		Need(t, "missing", false, "not on this machine")
		return
	}
	for _, c := range []struct {
		require string
		fail    bool
		status  string
	}{{"", false, "skipped"}, {"other,have", false, "skipped"}, {"have,missing", true, "FAILED"}} {
		cov := filepath.Join(t.TempDir(), "coverage")
		cmd := exec.Command(os.Args[0], "-test.run=^TestNeed$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "TESTENV_CHILD=1", RequireEnv+"="+c.require, CoverageEnv+"="+cov)
		out, err := cmd.CombinedOutput()
		if (err != nil) != c.fail {
			t.Fatalf("MOBILENET_REQUIRE=%q: exit %v, want failure %v\n%s", c.require, err, c.fail, out)
		}
		if !c.fail && !strings.Contains(string(out), "SKIP: TestNeed") {
			t.Errorf("MOBILENET_REQUIRE=%q: the test did not skip:\n%s", c.require, out)
		}
		b, err := os.ReadFile(cov)
		if err != nil {
			t.Fatal(err)
		}
		want := "have\tran\tTestNeed\t\nseen\tran\tTestNeed\t\nmissing\t" + c.status + "\tTestNeed\tnot on this machine\n"
		if string(b) != want {
			t.Errorf("MOBILENET_REQUIRE=%q: coverage file\n%q, want\n%q", c.require, b, want)
		}
	}
}

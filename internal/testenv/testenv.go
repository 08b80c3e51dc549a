// Package testenv holds what the project's tests share about their
// environment: skips that CI can forbid and count, and checks that run
// after a package's tests.
//
// A test that needs something the machine may lack (a kernel tier, a
// system library, a Python module, a data set) calls Need instead of
// t.Skip. Two environment variables, both set by .ci/run, act on it:
//
//   - MOBILENET_REQUIRE, a comma-separated list of features (e.g.
//     "avx512,openblas"), turns a skip of a listed feature into a failure:
//     CI requires every tier the CPU runs and every library it installed,
//     so that one cannot go untested as a silent skip;
//   - MOBILENET_COVERAGE, a file, receives one line per Need call
//     (feature, ran or skipped, test, reason), from which .ci/run prints
//     what ran and what was skipped.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// Environment variables read by Need.
const (
	RequireEnv  = "MOBILENET_REQUIRE"
	CoverageEnv = "MOBILENET_COVERAGE"
)

// Need records that t needs feature. When have is false it skips t with
// why, or fails it when MOBILENET_REQUIRE lists the feature.
func Need(t testing.TB, feature string, have bool, why string) {
	t.Helper()
	if have {
		record(feature, "ran", t.Name(), "")
		return
	}
	if Required(feature) {
		record(feature, "FAILED", t.Name(), why)
		t.Fatalf("%s is required here (%s=%s) but missing: %s", feature, RequireEnv, os.Getenv(RequireEnv), why)
	}
	record(feature, "skipped", t.Name(), why)
	t.Skipf("%s: %s", feature, why)
}

// Ran records that t exercised feature (a kernel tier, say) without
// needing it to run at all.
func Ran(t testing.TB, feature string) { record(feature, "ran", t.Name(), "") }

// Required reports whether MOBILENET_REQUIRE lists feature.
func Required(feature string) bool {
	return slices.Contains(strings.Split(os.Getenv(RequireEnv), ","), feature)
}

// record appends a line to the MOBILENET_COVERAGE file, if set. Packages'
// test binaries run at once: each line is one write to a file opened for
// appending, which Linux keeps whole.
func record(feature, status, test, why string) {
	path := os.Getenv(CoverageEnv)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		return
	}
	defer f.Close()
	line := strings.Join([]string{feature, status, test, strings.ReplaceAll(why, "\n", " ")}, "\t") + "\n"
	if _, err := f.WriteString(line); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
	}
}

// Main runs a package's tests, then the checks, and exits: with the tests'
// code, or 1 when a check reports what a test left wrong. Use it as
// TestMain's body.
func Main(m *testing.M, checks ...func() error) {
	code := m.Run()
	for _, c := range checks {
		if err := c(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: after the tests:", err)
			code = max(code, 1)
		}
	}
	os.Exit(code)
}

// BLASPinned is a check that the BLAS backend named by MOBILENET_BLAS is
// still the one requested after the tests (requested: blas.Requested). A
// test that switches backends and restores Auto instead of the backend it
// found leaves later tests on a timed choice; this names it.
func BLASPinned(requested func() string) func() error {
	return func() error {
		env := os.Getenv("MOBILENET_BLAS")
		if env != "go" && env != "openblas" && env != "auto" {
			return nil // unset, or a bad value that a test sets on purpose
		}
		if got := requested(); got != env {
			return fmt.Errorf("the BLAS backend is %q, not the %q MOBILENET_BLAS pins: a test switched backends and did not restore the one it found (blas.Use(blas.Backend()))", got, env)
		}
		return nil
	}
}

// NoLeakedGoroutines is a check that no goroutine running code whose stack
// names one of frames (e.g. "mobilenet/data.(*Loader)") outlives the tests:
// a test that takes one batch of a loader's epoch and abandons it must
// cancel the epoch's context (t.Context()). Goroutines get two seconds to
// wind down.
func NoLeakedGoroutines(frames ...string) func() error {
	return func() error {
		var leaked []string
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			leaked = leaked[:0]
			buf := make([]byte, 1<<22)
			buf = buf[:runtime.Stack(buf, true)]
			for _, g := range strings.Split(string(buf), "\n\n") {
				for _, f := range frames {
					if strings.Contains(g, f) {
						leaked = append(leaked, g)
						break
					}
				}
			}
			if len(leaked) == 0 {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%d goroutines leaked by the tests, the first:\n%s", len(leaked), leaked[0])
			}
		}
	}
}

// runMainEnv makes a command's test binary run the command (CommandMain).
const runMainEnv = "MOBILENET_TEST_RUN_MAIN"

// CommandMain is TestMain for a command's package: started by Command, the
// test binary runs the command's main instead of the tests, so that the
// tests run the command as a subprocess without building it. Otherwise it
// points MOBILENET_DATA at an empty temporary folder (a test without --data
// must not read or download into the user's cache), runs the tests and the
// checks, and exits.
func CommandMain(m *testing.M, main func(), checks ...func() error) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "mobilenet-data-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		os.Exit(2)
	}
	os.Setenv("MOBILENET_DATA", dir)
	code := 0
	func() {
		defer os.RemoveAll(dir)
		code = m.Run()
	}()
	for _, c := range checks {
		if err := c(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: after the tests:", err)
			code = max(code, 1)
		}
	}
	os.Exit(code)
}

// Command returns the command of the package under test (see CommandMain)
// with args, as exec.Command would.
func Command(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	return cmd
}

// FakeCIFAR writes a CIFAR-10 folder in the binary layout under a
// temporary folder of t and returns its root: n images in each of the five
// training batches and the test batch, labels cycling through 0–9,
// deterministic pixels.
func FakeCIFAR(t testing.TB, n int) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "cifar-10-batches-bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, name := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"} {
		var b []byte
		for i := 0; i < n; i++ {
			b = append(b, byte(i%10))
			for p := 0; p < 3072; p++ {
				b = append(b, byte(p*7+i*13+f))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// Package atomicfile writes files so that a crash leaves the old file or the
// new one, never half of one.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// tempPrefix is the start of the name of Write's temporary file for the
// file named name: ".NAME.tmp-", followed by random digits.
func tempPrefix(name string) string { return "." + name + ".tmp-" }

// Write writes b to path through a temporary file in the same folder
// (".NAME.tmp-*"), synced, made 0644 and renamed over path; the folder is
// synced too. On error the temporary file is removed.
func Write(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPrefix(filepath.Base(path)))
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err = write(f, b); err == nil {
		if err = f.Chmod(0o644); err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// write writes b to f, pausing halfway when PauseEnv asks.
func write(f *os.File, b []byte) error {
	if d := testPause(); d > 0 {
		if _, err := f.Write(b[:len(b)/2]); err != nil {
			return err
		}
		time.Sleep(d)
		b = b[len(b)/2:]
	}
	_, err := f.Write(b)
	return err
}

// PauseEnv names an environment variable for tests of crash safety: a
// duration (e.g. "200ms") that every Write pauses for with half its file
// written, so that a test can kill the process mid-write for certain.
const PauseEnv = "MOBILENET_TEST_WRITE_PAUSE"

func testPause() time.Duration {
	d, _ := time.ParseDuration(os.Getenv(PauseEnv))
	return d
}

// RemoveStale deletes from dir the temporary files that Writes of the files
// named by patterns left behind when their process was killed (a Write that
// returns removes its own). Each pattern is a file name or a filepath.Match
// pattern of names, such as "*.bin"; other files are left alone. It returns
// the first error met, after trying every file.
func RemoveStale(dir string, patterns ...string) error {
	for _, p := range patterns {
		if _, err := filepath.Match(p, ""); err != nil {
			return fmt.Errorf("remove stale temporary files: pattern %q: %w", p, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("remove stale temporary files: %w", err)
	}
	var first error
	for _, e := range entries {
		for _, p := range patterns {
			if ok, _ := filepath.Match(tempPrefix(p)+"*", e.Name()); !ok || e.IsDir() {
				continue
			}
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) && first == nil {
				first = fmt.Errorf("remove stale temporary file: %w", err)
			}
			break
		}
	}
	return first
}

package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.bin")
	for _, content := range []string{"first", "second"} {
		if err := Write(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != content {
			t.Fatalf("read %q, %v; want %q", b, err, content)
		}
	}
	if err := Write(filepath.Join(dir, "no", "such", "f.bin"), nil); err == nil {
		t.Error("write into a missing folder: no error")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d entries left, want only f.bin", len(entries))
	}
}

// TestRemoveStale: the temporary files of the named files (exact names and
// patterns) go, a Write's real file and everything else stay, and a bad
// pattern is an error.
func TestRemoveStale(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run [1]*") // glob characters in the folder's name are only a name
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stale := []string{".last.bin.tmp-123", ".best.bin.tmp-9", ".run.json.tmp-77"}
	kept := []string{"last.bin", "run.json", ".notes.txt.tmp-1", "last.bin.tmp-4", ".run.json"}
	for _, n := range append(append([]string{}, stale...), kept...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveStale(dir, "*.bin", "run.json", "absent.png"); err != nil {
		t.Fatal(err)
	}
	for _, n := range stale {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			t.Errorf("%s left behind", n)
		}
	}
	for _, n := range kept {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s removed: %v", n, err)
		}
	}
	if err := RemoveStale(dir, "[bad"); err == nil {
		t.Error("a malformed pattern: no error")
	}
	if err := RemoveStale(filepath.Join(dir, "absent"), "*.bin"); err == nil {
		t.Error("a missing folder: no error")
	}
}

// TestRemoveStaleMatchesWrite: RemoveStale finds the temporary file Write
// makes (the two share one naming convention).
func TestRemoveStaleMatchesWrite(t *testing.T) {
	dir := t.TempDir()
	f, err := os.CreateTemp(dir, tempPrefix("f.bin"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := RemoveStale(dir, "f.bin"); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("%d entries left, want none", len(entries))
	}
}
